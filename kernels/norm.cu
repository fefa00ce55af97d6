// LayerNorm and RMSNorm over the last dimension: one warp per row (rows are d_model wide, 128 in the
// paper); gamma/beta gradients are column sums done as per-block partials in shared memory, finished
// by elementwise.cu's sum_rows_final.
#include "common.cuh"

extern "C" __global__ void norm_fwd(float* out, float* mean, float* rstd, const float* x, const float* gamma,
                                    const float* beta, long rows, int n, float eps, int rms) {
    long row = (long)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (row >= rows) return;
    const float* xr = x + row * n;
    float m = 0.f;
    if (!rms) {
        for (int j = lane; j < n; j += 32) m += xr[j];
        m = warp_sum(m) / n;
    }
    float v = 0.f;
    for (int j = lane; j < n; j += 32) { float d = xr[j] - m; v += d * d; }
    v = warp_sum(v) / n;
    float inv = rsqrtf(v + eps);
    for (int j = lane; j < n; j += 32)
        out[row * n + j] = (xr[j] - m) * inv * gamma[j] + (beta != nullptr ? beta[j] : 0.f);
    if (lane == 0) {
        if (mean != nullptr) mean[row] = m;
        rstd[row] = inv;
    }
}

// dx per row; dgamma/dbeta partial sums of this block's rows into partial[block][n] and [block][n] + n*blocks
extern "C" __global__ void norm_bwd(float* dx, float* partial, const float* dout, const float* x, const float* mean,
                                    const float* rstd, const float* gamma, long rows, int n, int rms, int hasBeta) {
    extern __shared__ float sh[]; // dgamma[n], dbeta[n]
    for (int j = threadIdx.x; j < 2 * n; j += blockDim.x) sh[j] = 0.f;
    __syncthreads();
    int warps = blockDim.x / 32, lane = threadIdx.x % 32;
    long rowsPerBlock = (rows + gridDim.x - 1) / gridDim.x;
    long r0 = blockIdx.x * rowsPerBlock, r1 = min(rows, r0 + rowsPerBlock);
    for (long row = r0 + threadIdx.x / 32; row < r1; row += warps) {
        const float* xr = x + row * n;
        const float* gr = dout + row * n;
        float m = rms ? 0.f : mean[row], inv = rstd[row];
        float sumDy = 0.f, sumDyXhat = 0.f;
        for (int j = lane; j < n; j += 32) {
            float xhat = (xr[j] - m) * inv, dxhat = gr[j] * gamma[j];
            sumDy += dxhat;
            sumDyXhat += dxhat * xhat;
            atomicAdd(&sh[j], gr[j] * xhat);
            if (hasBeta) atomicAdd(&sh[n + j], gr[j]);
        }
        sumDy = warp_sum(sumDy);
        sumDyXhat = warp_sum(sumDyXhat);
        for (int j = lane; j < n; j += 32) {
            float xhat = (xr[j] - m) * inv, dxhat = gr[j] * gamma[j];
            dx[row * n + j] = rms ? inv * (dxhat - xhat * sumDyXhat / n)
                                  : inv * (dxhat - sumDy / n - xhat * sumDyXhat / n);
        }
    }
    __syncthreads();
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
        partial[(long)blockIdx.x * n + j] = sh[j];
        partial[(long)gridDim.x * n + (long)blockIdx.x * n + j] = sh[n + j];
    }
}
