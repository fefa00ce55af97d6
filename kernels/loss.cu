// Training losses: mean L1 (regression) and mean cross entropy (classification).
//
// The forward losses are a single scalar over a batch (tens to thousands of rows): one block of 8
// warps; for cross entropy each warp takes rows w, w + 8, ... and computes the row's softmax terms
// with shuffles (max first, so no exponential overflows; row_terms); the per-warp sums are added in warp
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

// One row's softmax terms, by one warp: the maximum mx, e_y = exp(z[y] - mx) and the sum of the other
// terms, rest = sum_{j != y} exp(z[j] - mx). Keeping rest apart gives a confident correct row its
// loss log1p(rest) and its label gradient -rest / (e_y + rest) to full relative precision, where
// log(sum) and softmax - 1 round to 0 once rest < 2^-24. mx is NaN if any logit is; infinite if the
// largest is (then e_y and rest are not computed).
struct RowTerms {
    float mx, ey, rest;
};

__device__ __forceinline__ RowTerms row_terms(const float* CM_RESTRICT z, int K, int y) {
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
    if (nan) return {CM_NAN, 0.f, 0.f};
    if (isinf(mx)) return {mx, 0.f, 0.f};
    float rest = 0.f;
    for (int j = lane; j < K; j += 32)
        if (j != y) rest += expf(z[j] - mx);
    return {mx, expf(z[y] - mx), warp_sum(rest)};
}

// -log softmax(z)[y]: lse - z[y], with the maximum shift; log1p(rest) when z[y] is the maximum
__device__ __forceinline__ float row_nll(const float* CM_RESTRICT z, int y, const RowTerms& r) {
    if (isnan(r.mx)) return CM_NAN;
    if (isinf(r.mx)) return r.mx - z[y];   // +inf - finite = inf, inf - inf = NaN: as lse - z[y]
    return z[y] == r.mx ? log1pf(r.rest) : logf(r.ey + r.rest) + (r.mx - z[y]);
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
        int y = checked_label(labels, b, K, err);
        int yy = y < 0 ? 0 : y;   // a bad label's row is NaN; the warp still computes a row (uniform)
        float nll = row_nll(z, yy, row_terms(z, K, yy));
        if (lane == 0) acc += y < 0 ? (double)CM_NAN : (double)nll;
    }
    double s = block_sum(acc, scratch);
    if (threadIdx.x == 0) loss[0] = (float)(s / B);
}

// warp per row: dlogits[b, j] = (softmax(z_b)[j] - [j == y_b]) / B, the label's term as -rest / sum
extern "C" __global__ void ce_bwd_f32(float* CM_RESTRICT dlogits, const float* CM_RESTRICT logits,
                                      const int* CM_RESTRICT labels, int B, int K, int* err) {
    int lane = threadIdx.x & 31;
    i64 warp = global_thread() >> 5, warps = grid_threads() >> 5;
    for (i64 b = warp; b < B; b += warps) {
        const float* z = logits + b * K;
        int y = checked_label(labels, (int)b, K, err);
        RowTerms r = row_terms(z, K, y < 0 ? 0 : y);
        float* g = dlogits + b * K;
        if (y < 0 || isnan(r.mx)) {
            for (int j = lane; j < K; j += 32) g[j] = CM_NAN;
        } else if (isinf(r.mx)) {   // as softmax with lse = mx: 0 for finite logits, NaN for the infinite one
            for (int j = lane; j < K; j += 32) g[j] = (expf(z[j] - r.mx) - (j == y ? 1.f : 0.f)) / B;
        } else {
            float inv = 1.f / (r.ey + r.rest);
            for (int j = lane; j < K; j += 32) g[j] = (j == y ? -r.rest : expf(z[j] - r.mx)) * inv / B;
        }
    }
}
