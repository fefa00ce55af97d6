// Length-aware adaptive average pooling, max-pool over time with argmax, softmax-weighted fusion.
#include "common.cuh"

__device__ __forceinline__ int win_start(int i, int len, int lout) { return (int)(((long)i * len) / lout); }
__device__ __forceinline__ int win_end(int i, int len, int lout) { return (int)(((long)(i + 1) * len + lout - 1) / lout); }

extern "C" __global__ void length_pool_fwd(float* out, const float* x, const int* lengths, int B, int Lin, int Lout, int F) {
    long n = (long)B * Lout * F;
    GRID_STRIDE(idx, n) {
        int f = idx % F;
        long bi = idx / F;
        int i = bi % Lout;
        int b = bi / Lout;
        int len = min(max(lengths[b], 0), Lin);
        int s = win_start(i, len, Lout), e = win_end(i, len, Lout);
        float acc = 0.f;
        for (int t = s; t < e; t++) acc += x[((long)b * Lin + t) * F + f];
        out[idx] = e > s ? acc / (e - s) : 0.f;
    }
}

// dx[b, t, f] = sum over output windows i containing t of dout[b, i, f] / |window i|
extern "C" __global__ void length_pool_bwd(float* dx, const float* dout, const int* lengths, int B, int Lin, int Lout, int F) {
    long n = (long)B * Lin * F;
    GRID_STRIDE(idx, n) {
        int f = idx % F;
        long bt = idx / F;
        int t = bt % Lin;
        int b = bt / Lin;
        int len = min(max(lengths[b], 0), Lin);
        float acc = 0.f;
        if (t < len) {
            // windows overlap by at most one step, so only indices near t * Lout / len can hold t
            int guess = (int)(((long)t * Lout) / len);
            for (int i = max(0, guess - 2); i <= min(Lout - 1, guess + 2); i++) {
                int s = win_start(i, len, Lout), e = win_end(i, len, Lout);
                if (t >= s && t < e) acc += dout[((long)b * Lout + i) * F + f] / (e - s);
            }
        }
        dx[idx] = acc;
    }
}

extern "C" __global__ void maxpool_time_fwd(float* out, int* argmax, const float* x, int B, int L, int D) {
    long n = (long)B * D;
    GRID_STRIDE(idx, n) {
        int d = idx % D;
        long b = idx / D;
        float best = -CM_INF;
        int arg = 0;
        for (int t = 0; t < L; t++) {
            float v = x[(b * L + t) * D + d];
            if (v > best || (isnan(v) && !isnan(best))) { best = v; arg = t; }
        }
        out[idx] = best;
        argmax[idx] = arg;
    }
}

extern "C" __global__ void maxpool_time_bwd(float* dx, const float* dout, const int* argmax, int B, int L, int D) {
    long n = (long)B * L * D;
    GRID_STRIDE(idx, n) {
        int d = idx % D;
        long bt = idx / D;
        int t = bt % L;
        long b = bt / L;
        dx[idx] = argmax[b * D + d] == t ? dout[b * D + d] : 0.f;
    }
}

__device__ void softmax_small(const float* w, int M, float* p) {
    float mx = -CM_INF, s = 0.f;
    for (int m = 0; m < M; m++) mx = fmaxf(mx, w[m]);
    for (int m = 0; m < M; m++) s += p[m] = __expf(w[m] - mx);
    for (int m = 0; m < M; m++) p[m] /= s;
}

extern "C" __global__ void softmax_fusion_fwd(float* out, const float* x, const float* w, int M, long n) {
    float p[8];
    softmax_small(w, M, p);
    GRID_STRIDE(i, n) {
        float s = 0.f;
        for (int m = 0; m < M; m++) s += p[m] * x[m * n + i];
        out[i] = s;
    }
}

// dx = p[m] dout; dp[m] = sum_i dout x[m] as per-block partials [block][M]
extern "C" __global__ void softmax_fusion_bwd(float* dx, float* partial, const float* dout, const float* x,
                                              const float* w, int M, long n) {
    __shared__ float scratch[32];
    float p[8], dp[8];
    softmax_small(w, M, p);
    for (int m = 0; m < M; m++) dp[m] = 0.f;
    GRID_STRIDE(i, n) {
        float g = dout[i];
        for (int m = 0; m < M; m++) {
            dx[m * n + i] = p[m] * g;
            dp[m] += g * x[m * n + i];
        }
    }
    for (int m = 0; m < M; m++) {
        float t = block_sum(dp[m], scratch);
        if (threadIdx.x == 0) partial[(long)blockIdx.x * M + m] = t;
    }
}

// dw[m] = p[m] (dp[m] - sum_k p[k] dp[k]) from the partials of softmax_fusion_bwd
extern "C" __global__ void softmax_fusion_dw(float* dw, const float* partial, const float* w, int M, int blocks) {
    if (threadIdx.x != 0 || blockIdx.x != 0) return;
    float p[8], dp[8], dot = 0.f;
    softmax_small(w, M, p);
    for (int m = 0; m < M; m++) {
        dp[m] = 0.f;
        for (int k = 0; k < blocks; k++) dp[m] += partial[(long)k * M + m];
        dot += p[m] * dp[m];
    }
    for (int m = 0; m < M; m++) dw[m] = p[m] * (dp[m] - dot);
}
