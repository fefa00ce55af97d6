// L1 and cross-entropy losses (mean over the batch) and their gradients. The forward reductions run
// in one block (batches are at most tens of thousands of samples); bad labels set an error flag.
#include "common.cuh"

extern "C" __global__ void l1_fwd(float* loss, const float* pred, const float* target, int B) {
    __shared__ float scratch[32];
    float s = 0.f;
    for (int i = threadIdx.x; i < B; i += blockDim.x) s += fabsf(pred[i] - target[i]);
    s = block_sum(s, scratch);
    if (threadIdx.x == 0) loss[0] = s / B;
}

extern "C" __global__ void l1_bwd(float* dpred, const float* pred, const float* target, int B) {
    GRID_STRIDE(i, (long)B) {
        float d = pred[i] - target[i];
        dpred[i] = (d > 0.f ? 1.f : (d < 0.f ? -1.f : 0.f)) / B;
    }
}

// badLabel[0] receives 1 + the first sample whose label is outside [0, K)
extern "C" __global__ void ce_fwd(float* loss, int* badLabel, const float* logits, const int* labels, int B, int K) {
    __shared__ float scratch[32];
    float s = 0.f;
    for (int b = threadIdx.x; b < B; b += blockDim.x) {
        int y = labels[b];
        if (y < 0 || y >= K) { atomicCAS(badLabel, 0, b + 1); continue; }
        const float* row = logits + (long)b * K;
        float mx = -CM_INF, sum = 0.f;
        for (int k = 0; k < K; k++) mx = fmaxf(mx, row[k]);
        for (int k = 0; k < K; k++) sum += __expf(row[k] - mx);
        s += mx + logf(sum) - row[y];
    }
    s = block_sum(s, scratch);
    if (threadIdx.x == 0) loss[0] = s / B;
}

extern "C" __global__ void ce_bwd(float* dlogits, int* badLabel, const float* logits, const int* labels, int B, int K) {
    GRID_STRIDE(b, (long)B) {
        int y = labels[b];
        const float* row = logits + b * K;
        float* out = dlogits + b * K;
        if (y < 0 || y >= K) {
            atomicCAS(badLabel, 0, (int)b + 1);
            for (int k = 0; k < K; k++) out[k] = 0.f;
            continue;
        }
        float mx = -CM_INF, sum = 0.f;
        for (int k = 0; k < K; k++) mx = fmaxf(mx, row[k]);
        for (int k = 0; k < K; k++) sum += __expf(row[k] - mx);
        float lse = mx + logf(sum);
        for (int k = 0; k < K; k++) out[k] = (__expf(row[k] - lse) - (k == y ? 1.f : 0.f)) / B;
    }
}
