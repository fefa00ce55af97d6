// One Adam / AdamW step per element (see CpuAdam for the formula), float4 when aligned.
// The bias corrections c1 = 1 - beta1^step, c2 = 1 - beta2^step and the complements 1 - beta1,
// 1 - beta2 come from the host in float64 rounded once: 1.f - 0.999f in float32 is off by 1.3e-5.
#include "common.cuh"

struct AdamArgs {
    float lr, b1, b2, one_minus_b1, one_minus_b2, eps, wd, c1, c2, scale;
    int decoupled;
};

__device__ __forceinline__ void adam_one(float& w, float g, float& m, float& v, const AdamArgs& a) {
    g *= a.scale;
    if (!a.decoupled) g += a.wd * w;
    m = a.b1 * m + a.one_minus_b1 * g;
    v = a.b2 * v + a.one_minus_b2 * g * g;
    if (a.decoupled) w -= a.lr * a.wd * w;
    w -= a.lr * (m / a.c1) / (sqrtf(v / a.c2) + a.eps);
}

extern "C" __global__ void adam_f32(float* param, const float* grad, float* m, float* v, i64 n, float lr, float b1,
                                    float b2, float one_minus_b1, float one_minus_b2, float eps, float wd, int decoupled,
                                    float c1, float c2, float scale) {
    AdamArgs a{lr, b1, b2, one_minus_b1, one_minus_b2, eps, wd, c1, c2, scale, decoupled};
    i64 start = global_thread(), step = grid_threads();
    i64 done = 0;
    if (aligned16(param, grad, m, v)) {
        i64 n4 = n >> 2;
        float4* w4 = reinterpret_cast<float4*>(param);
        const float4* g4 = reinterpret_cast<const float4*>(grad);
        float4* m4 = reinterpret_cast<float4*>(m);
        float4* v4 = reinterpret_cast<float4*>(v);
        for (i64 i = start; i < n4; i += step) {
            float4 w = w4[i], g = g4[i], mm = m4[i], vv = v4[i];
            adam_one(w.x, g.x, mm.x, vv.x, a);
            adam_one(w.y, g.y, mm.y, vv.y, a);
            adam_one(w.z, g.z, mm.z, vv.z, a);
            adam_one(w.w, g.w, mm.w, vv.w, a);
            w4[i] = w;
            m4[i] = mm;
            v4[i] = vv;
        }
        done = n4 << 2;
    }
    for (i64 i = done + start; i < n; i += step) {
        float w = param[i], mm = m[i], vv = v[i];
        adam_one(w, grad[i], mm, vv, a);
        param[i] = w;
        m[i] = mm;
        v[i] = vv;
    }
}
