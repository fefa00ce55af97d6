// Pointwise kernels, bias and row sums, reductions to a scalar.
//
// Pointwise kernels are bandwidth-bound: each runs a grid-stride loop over float4 (16-byte) loads
// and stores when all its pointers are 16-byte aligned (the check is uniform across the grid, so
// the branch costs nothing), with a scalar tail; otherwise a scalar loop. Outputs may alias inputs
// (no __restrict__ on those), since each element is read before it is written by one thread.
//
// fill_u32           out[i] = bits (float or int32 bit pattern)
// copy_block_u32     strided 2-D copy of 4-byte elements
// axpby_f32          out = alpha a + beta b; a zero coefficient drops its operand (never read)
// mul_f32            out = a b
// activation_fwd_f32 out = f(x);  activation_bwd_f32  dx = dout f'(x)   (act = Activation ordinal)
// add_bias_f32       x[r, c] += bias[c]
// sum_rows_partial_f32 / sum_rows_finish_f32      out[c] = sum_r x[r, c] (two passes, see common.cuh)
// reduce_partial_f32 / reduce_finish_f32          sum of squares or count of non-finite values, in
//                                                 float64 partials (mode 0 / 1)
#include "common.cuh"

// Activation ordinals (io.cmamba.tensor.Activation)
#define ACT_SILU 0
#define ACT_SOFTPLUS 1
#define ACT_RELU 2
#define ACT_GELU 3
#define ACT_SIGMOID 4
#define ACT_NEG_EXP 5

#define GELU_C 0.7978845608028654f
#define GELU_A 0.044715f

__device__ __forceinline__ float act_fwd(int act, float x) {
    switch (act) {
        case ACT_SILU: return x * sigmoidf_(x);
        case ACT_SOFTPLUS: return softplusf_(x);
        case ACT_RELU: return x > 0.f ? x : 0.f;
        case ACT_GELU: return 0.5f * x * (1.f + tanhf(GELU_C * (x + GELU_A * x * x * x)));
        case ACT_SIGMOID: return sigmoidf_(x);
        default: return -expf(x);
    }
}

__device__ __forceinline__ float act_grad(int act, float x) {
    switch (act) {
        // 1 - sigmoid(x) is sigmoid(-x), computed directly: the subtraction loses every digit for large x
        case ACT_SILU: return sigmoidf_(x) * (1.f + x * sigmoidf_(-x));
        case ACT_SOFTPLUS: return sigmoidf_(x);
        case ACT_RELU: return x > 0.f ? 1.f : 0.f;
        case ACT_GELU: {
            float t = tanhf(GELU_C * (x + GELU_A * x * x * x));
            return 0.5f * (1.f + t) + 0.5f * x * (1.f - t * t) * GELU_C * (1.f + 3.f * GELU_A * x * x);
        }
        case ACT_SIGMOID: return sigmoidf_(x) * sigmoidf_(-x);
        default: return -expf(x);
    }
}

// out[i] = f(a[i], b[i]) over n elements, float4 when aligned. b may be null when f ignores it.
template <typename F>
__device__ __forceinline__ void map2(float* out, const float* a, const float* b, i64 n, F f) {
    i64 start = global_thread(), step = grid_threads();
    if (aligned16(out, a, b)) {
        i64 n4 = n >> 2;
        float4* o4 = reinterpret_cast<float4*>(out);
        const float4* a4 = reinterpret_cast<const float4*>(a);
        const float4* b4 = reinterpret_cast<const float4*>(b);
        for (i64 i = start; i < n4; i += step) {
            float4 x = a4[i];
            float4 y = b != nullptr ? b4[i] : make_float4(0.f, 0.f, 0.f, 0.f);
            o4[i] = make_float4(f(x.x, y.x), f(x.y, y.y), f(x.z, y.z), f(x.w, y.w));
        }
        for (i64 i = (n4 << 2) + start; i < n; i += step) out[i] = f(a[i], b != nullptr ? b[i] : 0.f);
    } else {
        for (i64 i = start; i < n; i += step) out[i] = f(a[i], b != nullptr ? b[i] : 0.f);
    }
}

extern "C" __global__ void fill_u32(unsigned int* out, i64 n, unsigned int bits) {
    i64 start = global_thread(), step = grid_threads();
    if (aligned16(out)) {
        i64 n4 = n >> 2;
        uint4 v = make_uint4(bits, bits, bits, bits);
        uint4* o4 = reinterpret_cast<uint4*>(out);
        for (i64 i = start; i < n4; i += step) o4[i] = v;
        for (i64 i = (n4 << 2) + start; i < n; i += step) out[i] = bits;
    } else {
        for (i64 i = start; i < n; i += step) out[i] = bits;
    }
}

// out[r * out_stride + c] = src[r * src_stride + c] for r < rows, c < cols (pointers already at the
// block's first element). Vectorised when cols, both strides and both pointers allow 16-byte moves.
extern "C" __global__ void copy_block_u32(unsigned int* out, i64 out_stride, const unsigned int* src, i64 src_stride,
                                          int rows, int cols) {
    i64 start = global_thread(), step = grid_threads();
    if (aligned16(out, src) && ((cols | out_stride | src_stride) & 3) == 0) {
        int c4 = cols >> 2;
        i64 total = (i64)rows * c4;
        for (i64 i = start; i < total; i += step) {
            i64 r;
            int c;
            divmod(i, c4, r, c);
            reinterpret_cast<uint4*>(out + r * out_stride)[c] = reinterpret_cast<const uint4*>(src + r * src_stride)[c];
        }
    } else {
        i64 total = (i64)rows * cols;
        for (i64 i = start; i < total; i += step) {
            i64 r;
            int c;
            divmod(i, cols, r, c);
            out[r * out_stride + c] = src[r * src_stride + c];
        }
    }
}

extern "C" __global__ void axpby_f32(float* out, i64 n, float alpha, const float* a, float beta, const float* b) {
    // a zero coefficient drops its operand: BLAS semantics, so a scaled copy into a fresh (NaN) out works
    if (alpha == 0.f && beta == 0.f) {
        for (i64 i = global_thread(); i < n; i += grid_threads()) out[i] = 0.f;
    } else if (beta == 0.f) map2(out, a, nullptr, n, [=](float x, float) { return alpha * x; });
    else if (alpha == 0.f) map2(out, b, nullptr, n, [=](float y, float) { return beta * y; });
    else map2(out, a, b, n, [=](float x, float y) { return alpha * x + beta * y; });
}

extern "C" __global__ void mul_f32(float* out, i64 n, const float* a, const float* b) {
    map2(out, a, b, n, [](float x, float y) { return x * y; });
}

extern "C" __global__ void activation_fwd_f32(float* out, i64 n, const float* x, int act) {
    map2(out, x, nullptr, n, [=](float v, float) { return act_fwd(act, v); });
}

extern "C" __global__ void activation_bwd_f32(float* dx, i64 n, const float* dout, const float* x, int act) {
    map2(dx, dout, x, n, [=](float g, float v) { return g * act_grad(act, v); });
}

extern "C" __global__ void add_bias_f32(float* x, i64 rows, int cols, const float* CM_RESTRICT bias) {
    i64 start = global_thread(), step = grid_threads();
    if (aligned16(x, bias) && (cols & 3) == 0) {
        int c4 = cols >> 2;
        i64 total = rows * c4;
        float4* x4 = reinterpret_cast<float4*>(x);
        const float4* b4 = reinterpret_cast<const float4*>(bias);
        for (i64 i = start; i < total; i += step) {
            i64 r;
            int c;
            divmod(i, c4, r, c);
            float4 v = x4[i], b = b4[c];
            x4[i] = make_float4(v.x + b.x, v.y + b.y, v.z + b.z, v.w + b.w);
        }
    } else {
        i64 total = rows * cols;
        for (i64 i = start; i < total; i += step) {
            i64 r;
            int c;
            divmod(i, cols, r, c);
            x[i] += bias[c];
        }
    }
}

// grid (ceil(cols / 32), chunks), block (32, 8); partials [chunks, cols]
extern "C" __global__ void sum_rows_partial_f32(float* CM_RESTRICT partials, const float* CM_RESTRICT x, i64 rows,
                                                int cols, i64 rows_per_chunk) {
    column_partials(partials, rows, cols, rows_per_chunk, [=](i64 r, int c) { return x[r * cols + c]; });
}

extern "C" __global__ void sum_rows_finish_f32(float* CM_RESTRICT out, const float* CM_RESTRICT partials, int chunks,
                                               int cols) {
    finish_column_sums(out, partials, chunks, cols);
}

// mode 0: sum of x^2; mode 1: count of NaN or infinite x. One float64 partial per block.
extern "C" __global__ void reduce_partial_f32(double* CM_RESTRICT partials, const float* CM_RESTRICT x, i64 n,
                                              int mode) {
    __shared__ double scratch[32];
    double acc = 0.0;
    for (i64 i = global_thread(); i < n; i += grid_threads()) {
        float v = x[i];
        acc += mode == 0 ? (double)v * (double)v : (isfinite(v) ? 0.0 : 1.0);
    }
    double s = block_sum(acc, scratch);
    if (threadIdx.x == 0) partials[blockIdx.x] = s;
}

// One block: out[0] = sum of the partials, rounded to float32.
extern "C" __global__ void reduce_finish_f32(float* CM_RESTRICT out, const double* CM_RESTRICT partials, int count) {
    __shared__ double scratch[32];
    double acc = 0.0;
    for (int i = threadIdx.x; i < count; i += blockDim.x) acc += partials[i];
    double s = block_sum(acc, scratch);
    if (threadIdx.x == 0) out[0] = (float)s;
}
