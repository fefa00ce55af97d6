// Shared helpers of the kernels. NVRTC compiles every kernels/*.cu on its own with this header
// passed by name, so it must stay free of host code and of system includes.
//
// Conventions of every kernel in this folder:
// - extern "C" entry points (unmangled names looked up from Java), float32 data, int32 indices;
//   element counts are long long so that tensors past 2^31 elements index correctly.
// - Grid-stride loops: the host sizes the grid to fill the GPU, not to the data, and every output
//   element is written by exactly one thread whatever the grid.
// - Reductions are two-pass with a fixed partition (partials, then one block adding them in order),
//   never atomics on floats, so results are deterministic run to run.
// - Bad indices found on the device (a label outside [0, K), ...) are reported through err[4]:
//   the first error wins (code, a, b, c) and the host turns it into an exception at the next
//   synchronisation.
#pragma once

#define CM_RESTRICT __restrict__
#define FULL_MASK 0xffffffffu

typedef long long i64;

// NVRTC has no <math.h> macros: infinities and NaN by bit pattern.
#define CM_INF __int_as_float(0x7f800000)
#define CM_NAN __int_as_float(0x7fc00000)

// Error codes written to err[0] (the host decodes them: CudaBackend.DeviceError).
#define ERR_LENGTH_RANGE 1
#define ERR_LABEL_RANGE 2
#define ERR_ARGMAX_RANGE 3
// 4: a length outside [0, L] given to the coupled scan (coupled_scan_common.cuh, CS_ERR_LENGTH)

__device__ __forceinline__ void report_error(int* err, int code, int a, int b, int c) {
    if (err != nullptr && atomicCAS(err, 0, code) == 0) {
        err[1] = a;
        err[2] = b;
        err[3] = c;
    }
}

__device__ __forceinline__ i64 global_thread() {
    return (i64)blockIdx.x * blockDim.x + threadIdx.x;
}

__device__ __forceinline__ i64 grid_threads() {
    return (i64)gridDim.x * blockDim.x;
}

// q = a / b and r = a % b for a >= 0, b > 0: in 32 bits when a fits (a 64-bit division costs
// several times the 32-bit one, and index arithmetic is most of a pointwise kernel's instructions).
__device__ __forceinline__ void divmod(i64 a, int b, i64& q, int& r) {
    if (a <= 0x7fffffffLL) {
        unsigned int ua = (unsigned int)a, ub = (unsigned int)b, uq = ua / ub;
        q = uq;
        r = (int)(ua - uq * ub);
    } else {
        q = a / b;
        r = (int)(a - q * b);
    }
}

// True when every pointer given is 16-byte aligned (float4 loads and stores are legal).
__device__ __forceinline__ bool aligned16(const void* a, const void* b = nullptr, const void* c = nullptr,
                                          const void* d = nullptr) {
    unsigned long long bits = (unsigned long long)a | (unsigned long long)b | (unsigned long long)c
                              | (unsigned long long)d;
    return (bits & 15ull) == 0;
}

// Logistic function, written so that exp never overflows.
__device__ __forceinline__ float sigmoidf_(float x) {
    if (x >= 0.f) return 1.f / (1.f + expf(-x));
    float e = expf(x);
    return e / (1.f + e);
}

// log(1 + exp(x)); x itself above 20, as the CPU reference.
__device__ __forceinline__ float softplusf_(float x) {
    return x > 20.f ? x : log1pf(expf(x));
}

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
    return v;
}

__device__ __forceinline__ double warp_sum(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(FULL_MASK, v, o));
    return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the result.
// `scratch` holds 32 values of T in shared memory.
template <typename T>
__device__ T block_sum(T v, T* scratch) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();  // scratch may still be read by a previous call
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    T r = lane < warps ? scratch[lane] : (T)0;
    return warp_sum(r);
}

// Column partial sums, the first pass of every sum over rows (sumRows, norm and conv parameter
// gradients): partials [chunks, cols] -> out[c] = sum over chunks in chunk order (second pass).
// One thread per column; the chunk count is small (a few hundred at most).
__device__ __forceinline__ void finish_column_sums(float* CM_RESTRICT out, const float* CM_RESTRICT partials,
                                                   int chunks, int cols) {
    for (i64 c = global_thread(); c < cols; c += grid_threads()) {
        float s = 0.f;
        for (int k = 0; k < chunks; k++) s += partials[(i64)k * cols + c];
        out[c] = s;
    }
}

// First pass of a sum over rows: block (32, 8) owns 32 columns (blockIdx.x) of one chunk of rows
// (blockIdx.y); its 8 row lanes stride the chunk, then lane sums are added in lane order. Reads of
// one row are 128 contiguous bytes per warp. value(r, c) gives the term of row r, column c.
// partials [gridDim.y, cols] at `partials`.
template <typename F>
__device__ __forceinline__ void column_partials(float* CM_RESTRICT partials, i64 rows, int cols, i64 rows_per_chunk,
                                                F value) {
    __shared__ float tile[8][33];
    int tx = threadIdx.x, ty = threadIdx.y;
    int c = blockIdx.x * 32 + tx;
    i64 r0 = (i64)blockIdx.y * rows_per_chunk;
    i64 r1 = r0 + rows_per_chunk < rows ? r0 + rows_per_chunk : rows;
    float acc = 0.f;
    if (c < cols)
        for (i64 r = r0 + ty; r < r1; r += 8) acc += value(r, c);
    tile[ty][tx] = acc;
    __syncthreads();
    if (ty == 0 && c < cols) {
        float s = 0.f;
        for (int k = 0; k < 8; k++) s += tile[k][tx];
        partials[(i64)blockIdx.y * cols + c] = s;
    }
}
