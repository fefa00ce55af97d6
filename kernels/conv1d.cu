// Depthwise causal convolution along time, x and out [B, L, D], w [D, K], bias [D]:
//   out[b, t, d] = bias[d] + sum_j w[d, j] x[b, t - K + 1 + j, d]
// where steps before t = 0 are zero, or, when streaming a sequence in pieces, read from history
// [B, K - 1, D]: the previous piece's last K - 1 steps (history[b, K - 1 + s, d] is step s < 0).
// One thread per output element with d fastest, so a warp reads 32 consecutive channels of one
// step (coalesced); the K taps re-read neighbouring steps, which L1/L2 serve (K is 4). Taps are
// added in j order after the bias, as the CPU reference does.
//
// Backward: dx[b, s, d] = sum_j w[d, j] dout[b, s + K - 1 - j, d] (terms past L absent), one
// thread per element. dw and dbias are sums over the B*L rows: a column reduction over d in two
// passes (column_partials), blockIdx.z = tap j for dw[:, j], z = K for dbias.
#include "common.cuh"

extern "C" __global__ void conv1d_fwd_f32(float* CM_RESTRICT out, const float* CM_RESTRICT x,
                                          const float* CM_RESTRICT w, const float* CM_RESTRICT bias,
                                          const float* CM_RESTRICT history, int B, int L, int D, int K) {
    i64 total = (i64)B * L * D;
    for (i64 i = global_thread(); i < total; i += grid_threads()) {
        i64 bt, b;
        int d, t;
        divmod(i, D, bt, d);
        divmod(bt, L, b, t);
        float acc = bias[d];
        // steps before t = 0 come from history [B, K-1, D] (streaming), or are zero without it
        int j0 = K - 1 - t > 0 ? K - 1 - t : 0;
        if (history != nullptr)
            for (int j = 0; j < j0; j++) acc += w[(i64)d * K + j] * history[(b * (K - 1) + t + j) * D + d];
        for (int j = j0; j < K; j++) acc += w[(i64)d * K + j] * x[i + (i64)(j - K + 1) * D];
        out[i] = acc;
    }
}

extern "C" __global__ void conv1d_bwd_dx_f32(float* CM_RESTRICT dx, const float* CM_RESTRICT dout,
                                             const float* CM_RESTRICT w, int B, int L, int D, int K) {
    i64 total = (i64)B * L * D;
    for (i64 i = global_thread(); i < total; i += grid_threads()) {
        i64 bt, b;
        int d, s;
        divmod(i, D, bt, d);
        divmod(bt, L, b, s);
        float acc = 0.f;
        for (int j = 0; j < K; j++) {
            int t = s + K - 1 - j;
            if (t < L) acc += w[(i64)d * K + j] * dout[i + (i64)(K - 1 - j) * D];
        }
        dx[i] = acc;
    }
}

// grid (ceil(D / 32), chunks, K + 1), block (32, 8); partials [K + 1, chunks, D]
extern "C" __global__ void conv1d_bwd_params_partial_f32(float* CM_RESTRICT partials, const float* CM_RESTRICT dout,
                                                         const float* CM_RESTRICT x, int B, int L, int D, int K,
                                                         i64 rows_per_chunk) {
    int j = blockIdx.z;
    float* p = partials + (i64)j * gridDim.y * D;
    i64 rows = (i64)B * L;
    if (j == K) {
        column_partials(p, rows, D, rows_per_chunk, [=](i64 r, int c) { return dout[r * D + c]; });
    } else {
        int back = K - 1 - j;  // tap j reads step t - back
        column_partials(p, rows, D, rows_per_chunk, [=](i64 r, int c) {
            i64 b;
            int t;
            divmod(r, L, b, t);
            return t >= back ? dout[r * D + c] * x[(r - back) * D + c] : 0.f;
        });
    }
}

// dw[d, j] = sum over chunks of partials[j, chunk, d]; dbias[d] = the same for j = K
extern "C" __global__ void conv1d_params_finish_f32(float* CM_RESTRICT dw, float* CM_RESTRICT dbias,
                                                    const float* CM_RESTRICT partials, int chunks, int D, int K) {
    i64 total = (i64)D * (K + 1);
    for (i64 i = global_thread(); i < total; i += grid_threads()) {
        int j = (int)(i / D), d = (int)(i % D);
        const float* p = partials + (i64)j * chunks * D + d;
        float s = 0.f;
        for (int k = 0; k < chunks; k++) s += p[(i64)k * D];
        if (j == K) dbias[d] = s;
        else dw[(i64)d * K + j] = s;
    }
}
