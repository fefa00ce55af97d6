// Training losses: mean L1 (regression) and mean cross entropy (classification).
//
// The forward losses are a single scalar over a batch (tens to thousands of rows): one block of 8
// warps; for cross entropy each warp takes rows w, w + 8, ... and computes the row's log-sum-exp
// with shuffles (max first, so no exponential overflows); the per-warp sums are added in warp
// order: deterministic. Backward: one thread per element (L1) or one warp per row (cross entropy).
// A label outside [0, K) is reported through err and poisons its row with NaN.
#include "common.cuh"

#define LOSS_THREADS 256

extern "C" __global__ void l1_fwd_f32(float* CM_RESTRICT loss, const float* CM_RESTRICT pred,
                                      const float* CM_RESTRICT target, int n) {
    __shared__ double scratch[32];
    double acc = 0.0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) acc += fabsf(pred[i] - target[i]);
    double s = block_sum(acc, scratch);
    if (threadIdx.x == 0) loss[0] = (float)(s / n);
}

// sign(pred - target) / n with sign(0) = 0; a NaN difference stays NaN
extern "C" __global__ void l1_bwd_f32(float* CM_RESTRICT dpred, const float* CM_RESTRICT pred,
                                      const float* CM_RESTRICT target, int n) {
    for (i64 i = global_thread(); i < n; i += grid_threads()) {
        float d = pred[i] - target[i];
        float s = d > 0.f ? 1.f : (d < 0.f ? -1.f : d);
        dpred[i] = s / n;
    }
}

// log sum_j exp(z[j]) of one row, by one warp; the maximum itself when it is infinite or NaN
__device__ __forceinline__ float row_lse(const float* CM_RESTRICT z, int K) {
    int lane = threadIdx.x & 31;
    float mx = -CM_INF;
    bool nan = false;
    for (int j = lane; j < K; j += 32) {
        float v = z[j];
        nan |= isnan(v);
        mx = fmaxf(mx, v);
    }
    mx = warp_max(mx);
    nan = __any_sync(FULL_MASK, nan);
    if (nan) return CM_NAN;
    if (isinf(mx)) return mx;
    float s = 0.f;
    for (int j = lane; j < K; j += 32) s += expf(z[j] - mx);
    return mx + logf(warp_sum(s));
}

// The label of row b, or -1 after reporting it
__device__ __forceinline__ int checked_label(const int* CM_RESTRICT labels, int b, int K, int* err) {
    int y = labels[b];
    if (y < 0 || y >= K) {
        if ((threadIdx.x & 31) == 0) report_error(err, ERR_LABEL_RANGE, b, y, K);
        return -1;
    }
    return y;
}

// one block of LOSS_THREADS: loss[0] = mean_b (lse(z_b) - z_b[y_b])
extern "C" __global__ void ce_fwd_f32(float* CM_RESTRICT loss, const float* CM_RESTRICT logits,
                                      const int* CM_RESTRICT labels, int B, int K, int* err) {
    __shared__ double scratch[32];
    int warp = threadIdx.x >> 5, warps = blockDim.x >> 5, lane = threadIdx.x & 31;
    double acc = 0.0;
    for (int b = warp; b < B; b += warps) {
        const float* z = logits + (i64)b * K;
        float lse = row_lse(z, K);
        int y = checked_label(labels, b, K, err);
        if (lane == 0) acc += y < 0 ? (double)CM_NAN : (double)lse - (double)z[y];
    }
    double s = block_sum(acc, scratch);
    if (threadIdx.x == 0) loss[0] = (float)(s / B);
}

// warp per row: dlogits[b, j] = (softmax(z_b)[j] - [j == y_b]) / B
extern "C" __global__ void ce_bwd_f32(float* CM_RESTRICT dlogits, const float* CM_RESTRICT logits,
                                      const int* CM_RESTRICT labels, int B, int K, int* err) {
    int lane = threadIdx.x & 31;
    i64 warp = global_thread() >> 5, warps = grid_threads() >> 5;
    for (i64 b = warp; b < B; b += warps) {
        const float* z = logits + b * K;
        float lse = row_lse(z, K);
        int y = checked_label(labels, (int)b, K, err);
        float* g = dlogits + b * K;
        for (int j = lane; j < K; j += 32)
            g[j] = y < 0 ? CM_NAN : (expf(z[j] - lse) - (j == y ? 1.f : 0.f)) / B;
    }
}
