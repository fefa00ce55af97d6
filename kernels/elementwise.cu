// Pointwise ops, copies, bias, row sums and reductions. One thread per element with grid-stride
// loops; reductions are two-pass (per-block partials, then one block) so they are deterministic.
#include "common.cuh"

extern "C" __global__ void fill_u32(unsigned* out, long n, unsigned bits) {
    GRID_STRIDE(i, n) out[i] = bits;
}

// 2-D strided copy of 4-byte elements (float or int: copied as bits)
extern "C" __global__ void copy_block(unsigned* out, long outOff, long outStride, const unsigned* src, long srcOff,
                                      long srcStride, int rows, int cols) {
    long n = (long)rows * cols;
    GRID_STRIDE(i, n) {
        long r = i / cols, c = i % cols;
        out[outOff + r * outStride + c] = src[srcOff + r * srcStride + c];
    }
}

// out = a x + b y; a coefficient of 0 ignores its operand entirely (as BLAS does), so NaN there does not spread
extern "C" __global__ void axpby(float* out, float a, const float* x, float b, const float* y, long n) {
    GRID_STRIDE(i, n) {
        float v = 0.f;
        if (a != 0.f) v = a * x[i];
        if (b != 0.f) v += b * y[i];
        out[i] = v;
    }
}

extern "C" __global__ void mul(float* out, const float* x, const float* y, long n) {
    GRID_STRIDE(i, n) out[i] = x[i] * y[i];
}

// kinds follow io.cmamba.tensor.Activation: 0 SILU, 1 SOFTPLUS, 2 RELU, 3 GELU (tanh), 4 SIGMOID, 5 NEG_EXP
#define GELU_C 0.7978845608028654f
__device__ float act(int kind, float x) {
    switch (kind) {
        case 0: return x * sigmoidf_(x);
        case 1: return softplusf_(x);
        case 2: return x > 0.f ? x : 0.f;
        case 3: return 0.5f * x * (1.f + tanhf(GELU_C * (x + 0.044715f * x * x * x)));
        case 4: return sigmoidf_(x);
        default: return -expf(x);
    }
}

__device__ float act_grad(int kind, float x) {
    switch (kind) {
        case 0: { float s = sigmoidf_(x); return s * (1.f + x * (1.f - s)); }
        case 1: return sigmoidf_(x);
        case 2: return x > 0.f ? 1.f : 0.f;
        case 3: {
            float t = tanhf(GELU_C * (x + 0.044715f * x * x * x));
            return 0.5f * (1.f + t) + 0.5f * x * (1.f - t * t) * GELU_C * (1.f + 3.f * 0.044715f * x * x);
        }
        case 4: { float s = sigmoidf_(x); return s * (1.f - s); }
        default: return -expf(x);
    }
}

extern "C" __global__ void act_fwd(int kind, float* out, const float* x, long n) {
    GRID_STRIDE(i, n) out[i] = act(kind, x[i]);
}

extern "C" __global__ void act_bwd(int kind, float* dx, const float* dout, const float* x, long n) {
    GRID_STRIDE(i, n) dx[i] = dout[i] * act_grad(kind, x[i]);
}

extern "C" __global__ void add_bias(float* x, const float* bias, long rows, int cols) {
    long n = rows * cols;
    GRID_STRIDE(i, n) x[i] += bias[i % cols];
}

// Column sums, pass 1: block (x: 32 columns, y: 8 row lanes) over a chunk of rows -> partial[chunk][col]
extern "C" __global__ void sum_rows_partial(float* partial, const float* x, long rows, int cols, long rowsPerChunk) {
    __shared__ float acc[8][33];
    int c = blockIdx.x * 32 + threadIdx.x;
    long r0 = blockIdx.y * rowsPerChunk, r1 = min(rows, r0 + rowsPerChunk);
    float s = 0.f;
    if (c < cols)
        for (long r = r0 + threadIdx.y; r < r1; r += 8) s += x[r * cols + c];
    acc[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && c < cols) {
        float t = 0.f;
        for (int k = 0; k < 8; k++) t += acc[k][threadIdx.x];
        partial[(long)blockIdx.y * cols + c] = t;
    }
}

// Pass 2: out[col] = sum over chunks of partial[chunk][col]
extern "C" __global__ void sum_rows_final(float* out, const float* partial, int chunks, int cols) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= cols) return;
    float s = 0.f;
    for (int k = 0; k < chunks; k++) s += partial[(long)k * cols + c];
    out[c] = s;
}

// sum of squares (mode 0) or count of non-finite values (mode 1): per-block partials in double
extern "C" __global__ void reduce_partial(double* partial, const float* x, long n, int mode) {
    __shared__ double warpSums[32];
    double s = 0.0;
    GRID_STRIDE(i, n) {
        float v = x[i];
        s += mode == 0 ? (double)v * v : (isfinite(v) ? 0.0 : 1.0);
    }
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    if (threadIdx.x % 32 == 0) warpSums[threadIdx.x / 32] = s;
    __syncthreads();
    if (threadIdx.x == 0) {
        double t = 0.0;
        for (int w = 0; w < (blockDim.x + 31) / 32; w++) t += warpSums[w];
        partial[blockIdx.x] = t;
    }
}

extern "C" __global__ void reduce_final(float* out, const double* partial, int blocks) {
    if (threadIdx.x != 0 || blockIdx.x != 0) return;
    double t = 0.0;
    for (int k = 0; k < blocks; k++) t += partial[k];
    out[0] = (float)t;
}
