// Pooling along time and the softmax fusion of the modalities' pooled vectors.
//
// length_pool: adaptive average pooling that sees only each sample's first len = lengths[b] steps;
//   window i covers [floor(i len / Lout), ceil((i + 1) len / Lout)). Forward: one thread per output
//   (b, i, f), f fastest (coalesced). Backward: one thread per input (b, t, f) gathers the windows
//   holding t (i from floor(t Lout / len), while start(i) <= t), so nothing is accumulated with
//   atomics and every dx element, padding included, is written once.
// max_pool_time: 32 channels x 16 time slices per block, merged in shared memory; the first maximum
//   wins, a NaN wins over everything (the first NaN, as the CPU reference, so a NaN shows in the
//   output). Backward: one thread per dx element.
// softmax_fusion: p = softmax(w) over the M modalities, recomputed by each thread (M is a few);
//   backward fuses dx = p[m] dout with the dot products g[m] = sum dout x[m] (partials per block,
//   then one block forms dw = p (g - sum_k p_k g_k)).
#include "common.cuh"

__device__ __forceinline__ int window_start(int i, int len, int lout) {
    return (int)((i64)i * len / lout);
}

__device__ __forceinline__ int window_end(int i, int len, int lout) {
    return (int)(((i64)(i + 1) * len + lout - 1) / lout);
}

// A valid length, or -1 after reporting the bad one.
__device__ __forceinline__ int checked_length(const int* lengths, int b, int lin, int* err) {
    int len = lengths[b];
    if (len < 0 || len > lin) {
        report_error(err, ERR_LENGTH_RANGE, b, len, lin);
        return -1;
    }
    return len;
}

extern "C" __global__ void length_pool_fwd_f32(float* CM_RESTRICT out, const float* CM_RESTRICT x,
                                               const int* CM_RESTRICT lengths, int B, int lin, int F, int lout,
                                               int* err) {
    i64 total = (i64)B * lout * F;
    for (i64 idx = global_thread(); idx < total; idx += grid_threads()) {
        i64 bi, bq;
        int f, i;
        divmod(idx, F, bi, f);
        divmod(bi, lout, bq, i);
        int b = (int)bq;
        int len = checked_length(lengths, b, lin, err);
        float v = 0.f;
        if (len > 0) {
            int t0 = window_start(i, len, lout), t1 = window_end(i, len, lout);
            const float* src = x + (i64)b * lin * F + f;
            for (int t = t0; t < t1; t++) v += src[(i64)t * F];
            v *= 1.f / (t1 - t0);
        } else if (len < 0) {
            v = CM_NAN;  // NaN: the error is reported at the next synchronisation
        }
        out[idx] = v;
    }
}

extern "C" __global__ void length_pool_bwd_f32(float* CM_RESTRICT dx, const float* CM_RESTRICT dout,
                                               const int* CM_RESTRICT lengths, int B, int lin, int F, int lout,
                                               int* err) {
    i64 total = (i64)B * lin * F;
    for (i64 idx = global_thread(); idx < total; idx += grid_threads()) {
        i64 bt, bq;
        int f, t;
        divmod(idx, F, bt, f);
        divmod(bt, lin, bq, t);
        int b = (int)bq;
        int len = checked_length(lengths, b, lin, err);
        float g = 0.f;
        if (len < 0) {
            g = CM_NAN;
        } else if (t < len) {
            const float* src = dout + (i64)b * lout * F + f;
            // windows ending after t start at floor(t lout / len); they hold t while they start at or before it
            for (int i = (int)((i64)t * lout / len); i < lout; i++) {
                int t0 = window_start(i, len, lout);
                if (t0 > t) break;
                int t1 = window_end(i, len, lout);
                if (t < t1) g += src[(i64)i * F] * (1.f / (t1 - t0));
            }
        }
        dx[idx] = g;
    }
}

// Is candidate (v, at) the pooled value over (best, bat)? A NaN beats every number and the earlier
// NaN beats a later one; among numbers the larger wins and, on a tie, the earlier time.
__device__ __forceinline__ bool max_pool_takes(float v, int at, float best, int bat) {
    bool vn = isnan(v), bn = isnan(best);
    if (vn || bn) return vn && (!bn || at < bat);
    return v > best || (v == best && at < bat);
}

// Block (MP_COLS channels, MP_SLICES time slices), grid (channel tiles, B): thread (c, s) scans
// t = s, s + MP_SLICES, ... of its channel (coalesced across c), then the slices are merged in
// shared memory. (One thread per (b, d) walking all of t used 1/16 of the SMs at batch 8.)
#define MP_COLS 32
#define MP_SLICES 16
extern "C" __global__ void __launch_bounds__(MP_COLS * MP_SLICES)
max_pool_time_fwd_f32(float* CM_RESTRICT out, int* CM_RESTRICT argmax, const float* CM_RESTRICT x, int B, int L, int D) {
    __shared__ float sbest[MP_SLICES][MP_COLS];
    __shared__ int sat[MP_SLICES][MP_COLS];
    const int c = threadIdx.x, sl = threadIdx.y, d = blockIdx.x * MP_COLS + c, b = blockIdx.y;
    float best = CM_NAN;
    int at = -1;
    if (d < D) {
        const float* src = x + (i64)b * L * D + d;
        for (int t = sl; t < L; t += MP_SLICES) {
            float v = src[(i64)t * D];
            if (at < 0 || max_pool_takes(v, t, best, at)) {
                best = v;
                at = t;
            }
            if (isnan(best)) break;   // nothing later in this slice can win
        }
    }
    sbest[sl][c] = best;
    sat[sl][c] = at;
    __syncthreads();
    if (sl == 0 && d < D) {
        for (int k = 1; k < MP_SLICES; k++) {
            int ak = sat[k][c];
            if (ak >= 0 && (at < 0 || max_pool_takes(sbest[k][c], ak, best, at))) {
                best = sbest[k][c];
                at = ak;
            }
        }
        out[(i64)b * D + d] = best;
        argmax[(i64)b * D + d] = at;
    }
}

extern "C" __global__ void max_pool_time_bwd_f32(float* CM_RESTRICT dx, const float* CM_RESTRICT dout,
                                                 const int* CM_RESTRICT argmax, int B, int L, int D, int* err) {
    i64 total = (i64)B * L * D;
    for (i64 idx = global_thread(); idx < total; idx += grid_threads()) {
        i64 bt, bq;
        int d, t;
        divmod(idx, D, bt, d);
        divmod(bt, L, bq, t);
        int b = (int)bq;
        i64 k = (i64)b * D + d;
        int at = argmax[k];
        float g = 0.f;
        if (at < 0 || at >= L) {
            if (t == 0) report_error(err, ERR_ARGMAX_RANGE, (int)k, at, L);
            g = CM_NAN;
        } else if (at == t) {
            g = dout[k];
        }
        dx[idx] = g;
    }
}

// softmax(w)[m], shifted by the maximum
__device__ __forceinline__ float softmax_weight(const float* CM_RESTRICT w, int M, int m) {
    float mx = w[0];
    for (int k = 1; k < M; k++) mx = fmaxf(mx, w[k]);
    float s = 0.f;
    for (int k = 0; k < M; k++) s += expf(w[k] - mx);
    return expf(w[m] - mx) / s;
}

// out[i] = sum_m p[m] x[m, i], i < n = B * D
extern "C" __global__ void softmax_fusion_fwd_f32(float* CM_RESTRICT out, const float* CM_RESTRICT x,
                                                  const float* CM_RESTRICT w, int M, i64 n) {
    for (i64 i = global_thread(); i < n; i += grid_threads()) {
        float acc = 0.f;
        for (int m = 0; m < M; m++) acc += softmax_weight(w, M, m) * x[(i64)m * n + i];
        out[i] = acc;
    }
}

// grid (G, M), block 256: dx[m, i] = p[m] dout[i]; partials[m, blockIdx.x] = sum over the block's i of dout x[m]
extern "C" __global__ void softmax_fusion_bwd_partial_f32(float* CM_RESTRICT dx, float* CM_RESTRICT partials,
                                                          const float* CM_RESTRICT dout, const float* CM_RESTRICT x,
                                                          const float* CM_RESTRICT w, int M, i64 n) {
    __shared__ float scratch[32];
    int m = blockIdx.y;
    float p = softmax_weight(w, M, m);
    float acc = 0.f;
    for (i64 i = global_thread(); i < n; i += grid_threads()) {
        float g = dout[i];
        acc += g * x[(i64)m * n + i];
        dx[(i64)m * n + i] = p * g;
    }
    float s = block_sum(acc, scratch);
    if (threadIdx.x == 0) partials[(i64)m * gridDim.x + blockIdx.x] = s;
}

// one block of >= M threads (M <= 1024): g[m] = sum of partials[m, :]; dw[m] = p[m] (g[m] - sum_k p[k] g[k])
extern "C" __global__ void softmax_fusion_bwd_finish_f32(float* CM_RESTRICT dw, const float* CM_RESTRICT partials,
                                                         const float* CM_RESTRICT w, int M, int G) {
    __shared__ float g[1024];
    int m = threadIdx.x;
    if (m < M) {
        float s = 0.f;
        for (int k = 0; k < G; k++) s += partials[(i64)m * G + k];
        g[m] = s;
    }
    __syncthreads();
    if (m < M) {
        float mean = 0.f;
        for (int k = 0; k < M; k++) mean += softmax_weight(w, M, k) * g[k];
        dw[m] = softmax_weight(w, M, m) * (g[m] - mean);
    }
}
