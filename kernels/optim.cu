// Adam with bias-corrected moments: L2 decay (added to the gradient) or decoupled decay (AdamW).
#include "common.cuh"

extern "C" __global__ void adam_step(float* param, const float* grad, float* m, float* v, long n, float lr, float beta1,
                                     float beta2, float eps, float wd, int decoupled, float c1, float c2, float gradScale) {
    GRID_STRIDE(i, n) {
        float w = param[i];
        float g = gradScale * grad[i];
        if (!decoupled) g += wd * w;
        float mi = beta1 * m[i] + (1.f - beta1) * g;
        float vi = beta2 * v[i] + (1.f - beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        if (decoupled) w -= lr * wd * w;
        param[i] = w - lr * (mi / c1) / (sqrtf(vi / c2) + eps);
    }
}
