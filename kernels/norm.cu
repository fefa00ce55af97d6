// LayerNorm and RMSNorm over the last dimension of x [rows, n], forward and backward.
//
// One warp per row: rows are short (d_model, 128 to 1024 floats), so a warp's lanes stride the row
// with coalesced loads, reduce with shuffles (no shared memory, no block barrier) and write the row;
// a block holds 8 rows and the grid strides over the rows. Statistics use two passes over the
// row (mean, then the centred variance), which the L1 cache serves, as the CPU reference does.
//
// Backward: dx needs per-row sums only (warp per row again). The parameter gradients are sums over
// rows: a column reduction in two passes (column_partials in common.cuh, then *_params_finish),
// deterministic, with blockIdx.z choosing the quantity (0: dgamma, 1: dbeta). The host runs the
// parameter pass before the dx pass so that dx may alias dout.
#include "common.cuh"

#define NORM_WARPS 8

__device__ __forceinline__ int warp_row() {
    return blockIdx.x * NORM_WARPS + (threadIdx.x >> 5);
}

__device__ __forceinline__ int warp_rows_step() {
    return gridDim.x * NORM_WARPS;
}

// out = (x - mean) rstd gamma + beta; mean (may be null) and rstd [rows]; beta may be null
extern "C" __global__ void layernorm_fwd_f32(float* out, float* mean, float* CM_RESTRICT rstd, const float* x,
                                             const float* CM_RESTRICT gamma, const float* CM_RESTRICT beta, i64 rows,
                                             int n, float eps) {
    int lane = threadIdx.x & 31;
    for (i64 r = warp_row(); r < rows; r += warp_rows_step()) {
        const float* xr = x + r * n;
        float s = 0.f;
        for (int j = lane; j < n; j += 32) s += xr[j];
        float m = warp_sum(s) / n;
        float v = 0.f;
        for (int j = lane; j < n; j += 32) {
            float d = xr[j] - m;
            v += d * d;
        }
        float inv = 1.f / sqrtf(warp_sum(v) / n + eps);
        float* orow = out + r * n;
        for (int j = lane; j < n; j += 32) {
            float y = (xr[j] - m) * inv * gamma[j];
            orow[j] = beta != nullptr ? y + beta[j] : y;
        }
        if (lane == 0) {
            if (mean != nullptr) mean[r] = m;
            rstd[r] = inv;
        }
    }
}

// dx = rstd (g - mean_j g - xhat mean_j(g xhat)), g = dout gamma, xhat = (x - mean) rstd
extern "C" __global__ void layernorm_bwd_dx_f32(float* dx, const float* dout, const float* x,
                                                const float* CM_RESTRICT mean, const float* CM_RESTRICT rstd,
                                                const float* CM_RESTRICT gamma, i64 rows, int n) {
    int lane = threadIdx.x & 31;
    for (i64 r = warp_row(); r < rows; r += warp_rows_step()) {
        const float* xr = x + r * n;
        const float* dr = dout + r * n;
        float m = mean[r], inv = rstd[r];
        float sg = 0.f, sgx = 0.f;
        for (int j = lane; j < n; j += 32) {
            float g = dr[j] * gamma[j];
            sg += g;
            sgx += g * (xr[j] - m) * inv;
        }
        float meanG = warp_sum(sg) / n, meanGx = warp_sum(sgx) / n;
        float* gr = dx + r * n;
        for (int j = lane; j < n; j += 32) {
            float xhat = (xr[j] - m) * inv;
            gr[j] = inv * (dr[j] * gamma[j] - meanG - xhat * meanGx);
        }
    }
}

// grid (ceil(n / 32), chunks, 1 or 2), block (32, 8); partials [2, chunks, n]: dout xhat, dout
extern "C" __global__ void layernorm_bwd_params_partial_f32(float* CM_RESTRICT partials, const float* CM_RESTRICT dout,
                                                            const float* CM_RESTRICT x, const float* CM_RESTRICT mean,
                                                            const float* CM_RESTRICT rstd, i64 rows, int n,
                                                            i64 rows_per_chunk) {
    float* p = partials + (i64)blockIdx.z * gridDim.y * n;
    if (blockIdx.z == 0)
        column_partials(p, rows, n, rows_per_chunk,
                        [=](i64 r, int c) { return dout[r * n + c] * (x[r * n + c] - mean[r]) * rstd[r]; });
    else
        column_partials(p, rows, n, rows_per_chunk, [=](i64 r, int c) { return dout[r * n + c]; });
}

// out = x rstd gamma, rstd = 1/sqrt(mean_j x^2 + eps)
extern "C" __global__ void rmsnorm_fwd_f32(float* out, float* CM_RESTRICT rstd, const float* x,
                                           const float* CM_RESTRICT gamma, i64 rows, int n, float eps) {
    int lane = threadIdx.x & 31;
    for (i64 r = warp_row(); r < rows; r += warp_rows_step()) {
        const float* xr = x + r * n;
        float s = 0.f;
        for (int j = lane; j < n; j += 32) s += xr[j] * xr[j];
        float inv = 1.f / sqrtf(warp_sum(s) / n + eps);
        float* orow = out + r * n;
        for (int j = lane; j < n; j += 32) orow[j] = xr[j] * inv * gamma[j];
        if (lane == 0) rstd[r] = inv;
    }
}

// dx = rstd (g - x rstd^2 mean_j(g x)), g = dout gamma
extern "C" __global__ void rmsnorm_bwd_dx_f32(float* dx, const float* dout, const float* x,
                                              const float* CM_RESTRICT rstd, const float* CM_RESTRICT gamma, i64 rows,
                                              int n) {
    int lane = threadIdx.x & 31;
    for (i64 r = warp_row(); r < rows; r += warp_rows_step()) {
        const float* xr = x + r * n;
        const float* dr = dout + r * n;
        float inv = rstd[r];
        float s = 0.f;
        for (int j = lane; j < n; j += 32) s += dr[j] * gamma[j] * xr[j];
        float c = inv * inv * warp_sum(s) / n;
        float* gr = dx + r * n;
        for (int j = lane; j < n; j += 32) gr[j] = inv * (dr[j] * gamma[j] - xr[j] * c);
    }
}

// grid (ceil(n / 32), chunks, 1), block (32, 8); partials [chunks, n]: dout x rstd
extern "C" __global__ void rmsnorm_bwd_params_partial_f32(float* CM_RESTRICT partials, const float* CM_RESTRICT dout,
                                                          const float* CM_RESTRICT x, const float* CM_RESTRICT rstd,
                                                          i64 rows, int n, i64 rows_per_chunk) {
    column_partials(partials, rows, n, rows_per_chunk,
                    [=](i64 r, int c) { return dout[r * n + c] * x[r * n + c] * rstd[r]; });
}

// out[c] = sum over chunks of partials [chunks, n]
extern "C" __global__ void norm_params_finish_f32(float* CM_RESTRICT out, const float* CM_RESTRICT partials, int chunks,
                                                  int n) {
    finish_column_sums(out, partials, chunks, n);
}
