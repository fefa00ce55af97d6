// Depthwise causal conv1d, x [B, L, D], w [D, K] (K <= 8), zero left padding.
#include "common.cuh"

extern "C" __global__ void conv1d_fwd(float* out, const float* x, const float* w, const float* bias, int B, int L,
                                      int D, int K) {
    long n = (long)B * L * D;
    GRID_STRIDE(i, n) {
        int c = i % D;
        long bt = i / D;
        int t = bt % L;
        long b = bt / L;
        float s = bias[c];
        for (int j = 0; j < K; j++) {
            int ts = t - K + 1 + j;
            if (ts >= 0) s += w[c * K + j] * x[(b * L + ts) * D + c];
        }
        out[i] = s;
    }
}

extern "C" __global__ void conv1d_bwd_dx(float* dx, const float* dout, const float* w, int B, int L, int D, int K) {
    long n = (long)B * L * D;
    GRID_STRIDE(i, n) {
        int c = i % D;
        long bt = i / D;
        int s = bt % L;
        long b = bt / L;
        float acc = 0.f;
        for (int j = 0; j < K; j++) {
            int t = s + K - 1 - j;
            if (t < L) acc += w[c * K + j] * dout[(b * L + t) * D + c];
        }
        dx[i] = acc;
    }
}

// dw, dbias partials: block (x: 32 channels, y: 8 lanes) over a chunk of (b, t) rows ->
// partial[chunk][D*K + D] (weights then bias), summed by sum_rows_final.
extern "C" __global__ void conv1d_bwd_dw(float* partial, const float* dout, const float* x, int B, int L, int D, int K,
                                         long rowsPerChunk) {
    __shared__ float acc[8][32][9];
    int c = blockIdx.x * 32 + threadIdx.x;
    long rows = (long)B * L, r0 = blockIdx.y * rowsPerChunk, r1 = min(rows, r0 + rowsPerChunk);
    float dw[8], db = 0.f;
#pragma unroll
    for (int j = 0; j < 8; j++) dw[j] = 0.f;
    if (c < D)
        for (long r = r0 + threadIdx.y; r < r1; r += 8) {
            int t = r % L;
            float g = dout[r * D + c];
            db += g;
#pragma unroll
            for (int j = 0; j < 8; j++) {
                int ts = t - K + 1 + j;
                if (j < K && ts >= 0) dw[j] += g * x[(r - t + ts) * D + c];
            }
        }
#pragma unroll
    for (int j = 0; j < 8; j++) acc[threadIdx.y][threadIdx.x][j] = dw[j];
    acc[threadIdx.y][threadIdx.x][8] = db;
    __syncthreads();
    if (threadIdx.y == 0 && c < D) {
        int width = D * K + D;
        for (int j = 0; j <= K; j++) {
            int slot = j < K ? j : 8;
            float s = 0.f;
            for (int y = 0; y < 8; y++) s += acc[y][threadIdx.x][slot];
            partial[(long)blockIdx.y * width + (j < K ? c * K + j : D * K + c)] = s;
        }
    }
}
