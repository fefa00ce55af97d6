// Multi-head attention without mask, forward and backward, in two forms.
//
// Layout: q [B, Lq, H*DH], k and v [B, Lk, H*DH], out [B, Lq, H*DH]; head h owns columns
// [h*DH, (h+1)*DH). scale = 1/sqrt(DH).
//
// PLAIN (the baseline the paper measures): the scores are materialised.
//   attn_scores      S[b,h,i,j] = scale * q_i . k_j            [B, H, Lq, Lk]
//   attn_softmax     P = softmax_j(S) in place, lse[b,h,i] kept
//   attn_pv          out_i = sum_j P_ij v_j
//   backward: attn_plain_dv (dV = P^T dO), attn_plain_ds (dS = P (dO V^T - D), in place over P),
//             attn_plain_dq (dQ = scale dS K), attn_plain_dk (dK = scale dS^T Q).
// FLASH (never an [Lq, Lk] matrix): one thread per query row keeps q, the running max, the running
//   sum and the output accumulator in registers and streams key/value tiles through shared memory
//   (online softmax); only lse [B, H, Lq] is written. Its backward recomputes P tile by tile: one
//   kernel per key row for dK and dV (no atomics), one per query row for dQ, both deterministic.
// D_i = rowsum(dO_i * O_i) comes from attn_row_dot, shared by both backward forms.
//
// DH is a compile-time constant (a template parameter instantiated below) so that per-row vectors
// stay in registers; the host picks the instantiation by name.

#include "common.cuh"

#define ATT_TILE 64

// ---------------------------------------------------------------------------------------------
// PLAIN forward

// One thread per (i, j) score; q row and k row read from global (they are short: DH floats).
template <int DH>
__device__ void attn_scores_impl(float* __restrict__ S, const float* __restrict__ q, const float* __restrict__ k,
                                 int H, int Lq, int Lk, float scale) {
    int bh = blockIdx.z, b = bh / H, h = bh % H;
    int W = H * DH;
    __shared__ float qs[16][DH + 1];
    __shared__ float ks[16][DH + 1];
    int ty = threadIdx.y, tx = threadIdx.x;
    int i = blockIdx.y * 16 + ty, j = blockIdx.x * 16 + tx;
    // stage a 16-row tile of q and of k
    for (int c = tx; c < DH; c += 16) {
        int qi = blockIdx.y * 16 + ty, kj = blockIdx.x * 16 + ty;
        qs[ty][c] = qi < Lq ? q[((long)b * Lq + qi) * W + h * DH + c] : 0.f;
        ks[ty][c] = kj < Lk ? k[((long)b * Lk + kj) * W + h * DH + c] : 0.f;
    }
    __syncthreads();
    if (i < Lq && j < Lk) {
        float s = 0.f;
#pragma unroll
        for (int c = 0; c < DH; c++) s += qs[ty][c] * ks[tx][c];
        S[((long)bh * Lq + i) * Lk + j] = s * scale;
    }
}

// One warp per row: max, exp, sum by shuffles; P overwrites S; lse kept for the flash-style backward.
__device__ void attn_softmax_impl(float* __restrict__ P, float* __restrict__ lse, long rows, int Lk) {
    long row = (long)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (row >= rows) return;
    float* p = P + row * Lk;
    float m = -CM_INF;
    for (int j = lane; j < Lk; j += 32) m = fmaxf(m, p[j]);
    for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
    float s = 0.f;
    for (int j = lane; j < Lk; j += 32) s += __expf(p[j] - m);
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    float inv = 1.f / s;
    for (int j = lane; j < Lk; j += 32) p[j] = __expf(p[j] - m) * inv;
    if (lane == 0) lse[row] = m + logf(s);
}

// out_i[c] = sum_j P_ij v_j[c]: a block per (16 query rows, b, h); P tile and V tile in shared memory.
template <int DH>
__device__ void attn_pv_impl(float* __restrict__ out, const float* __restrict__ P, const float* __restrict__ v,
                             int H, int Lq, int Lk) {
    int bh = blockIdx.z, b = bh / H, h = bh % H;
    int W = H * DH;
    __shared__ float ps[16][ATT_TILE + 1];
    __shared__ float vs[ATT_TILE][DH + 1];
    int ty = threadIdx.y, tx = threadIdx.x; // 16 x 16 threads; tx walks the DH columns
    int i = blockIdx.y * 16 + ty;
    float acc[(DH + 15) / 16];
#pragma unroll
    for (int r = 0; r < (DH + 15) / 16; r++) acc[r] = 0.f;
    for (int j0 = 0; j0 < Lk; j0 += ATT_TILE) {
        for (int jj = tx; jj < ATT_TILE; jj += 16)
            ps[ty][jj] = (i < Lq && j0 + jj < Lk) ? P[((long)bh * Lq + i) * Lk + j0 + jj] : 0.f;
        for (int e = ty * 16 + tx; e < ATT_TILE * DH; e += 256) {
            int jj = e / DH, c = e % DH;
            vs[jj][c] = j0 + jj < Lk ? v[((long)b * Lk + j0 + jj) * W + h * DH + c] : 0.f;
        }
        __syncthreads();
#pragma unroll
        for (int r = 0; r < (DH + 15) / 16; r++) {
            int c = tx + 16 * r;
            if (c < DH) {
                float a = acc[r];
                for (int jj = 0; jj < ATT_TILE; jj++) a += ps[ty][jj] * vs[jj][c];
                acc[r] = a;
            }
        }
        __syncthreads();
    }
    if (i < Lq) {
#pragma unroll
        for (int r = 0; r < (DH + 15) / 16; r++) {
            int c = tx + 16 * r;
            if (c < DH) out[((long)b * Lq + i) * W + h * DH + c] = acc[r];
        }
    }
}

// ---------------------------------------------------------------------------------------------
// shared by both backward forms: D[b,h,i] = sum_c dO[b,i,h,c] * O[b,i,h,c]

template <int DH>
__device__ void attn_row_dot_impl(float* __restrict__ D, const float* __restrict__ dout, const float* __restrict__ out,
                                  int H, int Lq, long rows) {
    long r = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rows) return;
    long bh = r / Lq;
    int i = r % Lq, b = bh / H, h = bh % H;
    const float* g = dout + ((long)b * Lq + i) * H * DH + h * DH;
    const float* o = out + ((long)b * Lq + i) * H * DH + h * DH;
    float s = 0.f;
#pragma unroll
    for (int c = 0; c < DH; c++) s += g[c] * o[c];
    D[r] = s;
}

// ---------------------------------------------------------------------------------------------
// PLAIN backward

// dS_ij = P_ij (dO_i . v_j - D_i), written over P (P is not needed afterwards except for dV,
// which runs first). One thread per (i, j).
template <int DH>
__device__ void attn_plain_ds_impl(float* __restrict__ PdS, const float* __restrict__ dout, const float* __restrict__ v,
                                   const float* __restrict__ D, int H, int Lq, int Lk) {
    int bh = blockIdx.z, b = bh / H, h = bh % H;
    int W = H * DH;
    __shared__ float gs[16][DH + 1];
    __shared__ float vs[16][DH + 1];
    int ty = threadIdx.y, tx = threadIdx.x;
    int i = blockIdx.y * 16 + ty, j = blockIdx.x * 16 + tx;
    for (int c = tx; c < DH; c += 16) {
        int gi = blockIdx.y * 16 + ty, vj = blockIdx.x * 16 + ty;
        gs[ty][c] = gi < Lq ? dout[((long)b * Lq + gi) * W + h * DH + c] : 0.f;
        vs[ty][c] = vj < Lk ? v[((long)b * Lk + vj) * W + h * DH + c] : 0.f;
    }
    __syncthreads();
    if (i < Lq && j < Lk) {
        float dp = 0.f;
#pragma unroll
        for (int c = 0; c < DH; c++) dp += gs[ty][c] * vs[tx][c];
        long idx = ((long)bh * Lq + i) * Lk + j;
        PdS[idx] = PdS[idx] * (dp - D[(long)bh * Lq + i]);
    }
}

// dX_r[c] = alpha * sum_s M[r, s] Y_s[c] where M is [Lr, Ls] (transposed when TRANS, read as [Ls, Lr]).
// Used for dV = P^T dO (TRANS), dQ = scale dS K, dK = scale dS^T Q (TRANS).
template <int DH, bool TRANS>
__device__ void attn_matmul_impl(float* __restrict__ dX, const float* __restrict__ Mx, const float* __restrict__ Y,
                                 int H, int Lr, int Ls, float alpha) {
    int bh = blockIdx.z, b = bh / H, h = bh % H;
    int W = H * DH;
    __shared__ float ms[16][ATT_TILE + 1];
    __shared__ float ys[ATT_TILE][DH + 1];
    int ty = threadIdx.y, tx = threadIdx.x;
    int r = blockIdx.y * 16 + ty;
    float acc[(DH + 15) / 16];
#pragma unroll
    for (int q = 0; q < (DH + 15) / 16; q++) acc[q] = 0.f;
    // with TRANS, M is stored [Ls rows, Lr cols] for this (b, h)
    for (int s0 = 0; s0 < Ls; s0 += ATT_TILE) {
        for (int ss = tx; ss < ATT_TILE; ss += 16) {
            float val = 0.f;
            if (r < Lr && s0 + ss < Ls)
                val = TRANS ? Mx[((long)bh * Ls + s0 + ss) * Lr + r] : Mx[((long)bh * Lr + r) * Ls + s0 + ss];
            ms[ty][ss] = val;
        }
        for (int e = ty * 16 + tx; e < ATT_TILE * DH; e += 256) {
            int ss = e / DH, c = e % DH;
            ys[ss][c] = s0 + ss < Ls ? Y[((long)b * Ls + s0 + ss) * W + h * DH + c] : 0.f;
        }
        __syncthreads();
#pragma unroll
        for (int q = 0; q < (DH + 15) / 16; q++) {
            int c = tx + 16 * q;
            if (c < DH) {
                float a = acc[q];
                for (int ss = 0; ss < ATT_TILE; ss++) a += ms[ty][ss] * ys[ss][c];
                acc[q] = a;
            }
        }
        __syncthreads();
    }
    if (r < Lr) {
#pragma unroll
        for (int q = 0; q < (DH + 15) / 16; q++) {
            int c = tx + 16 * q;
            if (c < DH) dX[((long)b * Lr + r) * W + h * DH + c] = alpha * acc[q];
        }
    }
}

// ---------------------------------------------------------------------------------------------
// FLASH forward: a block of ATT_TILE threads per (query tile, b, h); thread = query row.

template <int DH>
__device__ void attn_flash_fwd_impl(float* __restrict__ out, float* __restrict__ lse, const float* __restrict__ q,
                                    const float* __restrict__ k, const float* __restrict__ v, int H, int Lq, int Lk,
                                    float scale) {
    int bh = blockIdx.y, b = bh / H, h = bh % H;
    int W = H * DH;
    int i = blockIdx.x * ATT_TILE + threadIdx.x;
    __shared__ float ks[ATT_TILE][DH];
    __shared__ float vs[ATT_TILE][DH];
    float qr[DH], acc[DH];
    bool active = i < Lq;
#pragma unroll
    for (int c = 0; c < DH; c++) {
        qr[c] = active ? q[((long)b * Lq + i) * W + h * DH + c] * scale : 0.f;
        acc[c] = 0.f;
    }
    float m = -CM_INF, l = 0.f;
    for (int j0 = 0; j0 < Lk; j0 += ATT_TILE) {
        for (int e = threadIdx.x; e < ATT_TILE * DH; e += ATT_TILE) {
            int jj = e / DH, c = e % DH;
            bool in = j0 + jj < Lk;
            ks[jj][c] = in ? k[((long)b * Lk + j0 + jj) * W + h * DH + c] : 0.f;
            vs[jj][c] = in ? v[((long)b * Lk + j0 + jj) * W + h * DH + c] : 0.f;
        }
        __syncthreads();
        int n = min(ATT_TILE, Lk - j0);
        for (int jj = 0; jj < n; jj++) {
            float s = 0.f;
#pragma unroll
            for (int c = 0; c < DH; c++) s += qr[c] * ks[jj][c];
            float mNew = fmaxf(m, s);
            float corr = __expf(m - mNew); // 0 on the first key (m = -inf)
            float p = __expf(s - mNew);
            l = l * corr + p;
#pragma unroll
            for (int c = 0; c < DH; c++) acc[c] = acc[c] * corr + p * vs[jj][c];
            m = mNew;
        }
        __syncthreads();
    }
    if (active) {
        float inv = 1.f / l;
#pragma unroll
        for (int c = 0; c < DH; c++) out[((long)b * Lq + i) * W + h * DH + c] = acc[c] * inv;
        lse[(long)bh * Lq + i] = m + logf(l);
    }
}

// FLASH backward, key side: thread = key row j, accumulates dK_j and dV_j over all query tiles.
template <int DH>
__device__ void attn_flash_dkdv_impl(float* __restrict__ dk, float* __restrict__ dv, const float* __restrict__ q,
                                     const float* __restrict__ k, const float* __restrict__ v,
                                     const float* __restrict__ dout, const float* __restrict__ lse,
                                     const float* __restrict__ D, int H, int Lq, int Lk, float scale) {
    int bh = blockIdx.y, b = bh / H, h = bh % H;
    int W = H * DH;
    int j = blockIdx.x * ATT_TILE + threadIdx.x;
    __shared__ float qs[ATT_TILE][DH];
    __shared__ float gs[ATT_TILE][DH];
    __shared__ float ls[ATT_TILE], ds[ATT_TILE];
    float kr[DH], vr[DH], dkr[DH], dvr[DH];
    bool active = j < Lk;
#pragma unroll
    for (int c = 0; c < DH; c++) {
        kr[c] = active ? k[((long)b * Lk + j) * W + h * DH + c] : 0.f;
        vr[c] = active ? v[((long)b * Lk + j) * W + h * DH + c] : 0.f;
        dkr[c] = 0.f;
        dvr[c] = 0.f;
    }
    for (int i0 = 0; i0 < Lq; i0 += ATT_TILE) {
        for (int e = threadIdx.x; e < ATT_TILE * DH; e += ATT_TILE) {
            int ii = e / DH, c = e % DH;
            bool in = i0 + ii < Lq;
            qs[ii][c] = in ? q[((long)b * Lq + i0 + ii) * W + h * DH + c] : 0.f;
            gs[ii][c] = in ? dout[((long)b * Lq + i0 + ii) * W + h * DH + c] : 0.f;
        }
        if (i0 + threadIdx.x < Lq) {
            ls[threadIdx.x] = lse[(long)bh * Lq + i0 + threadIdx.x];
            ds[threadIdx.x] = D[(long)bh * Lq + i0 + threadIdx.x];
        }
        __syncthreads();
        int n = min(ATT_TILE, Lq - i0);
        for (int ii = 0; ii < n; ii++) {
            float s = 0.f, dp = 0.f;
#pragma unroll
            for (int c = 0; c < DH; c++) {
                s += qs[ii][c] * kr[c];
                dp += gs[ii][c] * vr[c];
            }
            float p = __expf(s * scale - ls[ii]);
            float dsv = p * (dp - ds[ii]);
#pragma unroll
            for (int c = 0; c < DH; c++) {
                dvr[c] += p * gs[ii][c];
                dkr[c] += dsv * qs[ii][c];
            }
        }
        __syncthreads();
    }
    if (active) {
#pragma unroll
        for (int c = 0; c < DH; c++) {
            dk[((long)b * Lk + j) * W + h * DH + c] = dkr[c] * scale;
            dv[((long)b * Lk + j) * W + h * DH + c] = dvr[c];
        }
    }
}

// FLASH backward, query side: thread = query row i, dQ_i = scale sum_j dS_ij k_j.
template <int DH>
__device__ void attn_flash_dq_impl(float* __restrict__ dq, const float* __restrict__ q, const float* __restrict__ k,
                                   const float* __restrict__ v, const float* __restrict__ dout,
                                   const float* __restrict__ lse, const float* __restrict__ D, int H, int Lq, int Lk,
                                   float scale) {
    int bh = blockIdx.y, b = bh / H, h = bh % H;
    int W = H * DH;
    int i = blockIdx.x * ATT_TILE + threadIdx.x;
    __shared__ float ks[ATT_TILE][DH];
    __shared__ float vs[ATT_TILE][DH];
    float qr[DH], gr[DH], dqr[DH];
    bool active = i < Lq;
#pragma unroll
    for (int c = 0; c < DH; c++) {
        qr[c] = active ? q[((long)b * Lq + i) * W + h * DH + c] : 0.f;
        gr[c] = active ? dout[((long)b * Lq + i) * W + h * DH + c] : 0.f;
        dqr[c] = 0.f;
    }
    float li = active ? lse[(long)bh * Lq + i] : 0.f, di = active ? D[(long)bh * Lq + i] : 0.f;
    for (int j0 = 0; j0 < Lk; j0 += ATT_TILE) {
        for (int e = threadIdx.x; e < ATT_TILE * DH; e += ATT_TILE) {
            int jj = e / DH, c = e % DH;
            bool in = j0 + jj < Lk;
            ks[jj][c] = in ? k[((long)b * Lk + j0 + jj) * W + h * DH + c] : 0.f;
            vs[jj][c] = in ? v[((long)b * Lk + j0 + jj) * W + h * DH + c] : 0.f;
        }
        __syncthreads();
        int n = min(ATT_TILE, Lk - j0);
        for (int jj = 0; jj < n; jj++) {
            float s = 0.f, dp = 0.f;
#pragma unroll
            for (int c = 0; c < DH; c++) {
                s += qr[c] * ks[jj][c];
                dp += gr[c] * vs[jj][c];
            }
            float dsv = __expf(s * scale - li) * (dp - di);
#pragma unroll
            for (int c = 0; c < DH; c++) dqr[c] += dsv * ks[jj][c];
        }
        __syncthreads();
    }
    if (active) {
#pragma unroll
        for (int c = 0; c < DH; c++) dq[((long)b * Lq + i) * W + h * DH + c] = dqr[c] * scale;
    }
}

// ---------------------------------------------------------------------------------------------
// extern "C" entry points, one set per head width (the host picks by DH).

#define ATT_INSTANTIATE(DH)                                                                                   \
    extern "C" __global__ void attn_scores_##DH(float* S, const float* q, const float* k, int H, int Lq,        \
                                                int Lk, float scale) {                                        \
        attn_scores_impl<DH>(S, q, k, H, Lq, Lk, scale);                                                      \
    }                                                                                                         \
    extern "C" __global__ void attn_pv_##DH(float* out, const float* P, const float* v, int H, int Lq, int Lk) { \
        attn_pv_impl<DH>(out, P, v, H, Lq, Lk);                                                               \
    }                                                                                                         \
    extern "C" __global__ void attn_row_dot_##DH(float* D, const float* dout, const float* out, int H, int Lq,   \
                                                 long rows) {                                                 \
        attn_row_dot_impl<DH>(D, dout, out, H, Lq, rows);                                                     \
    }                                                                                                         \
    extern "C" __global__ void attn_plain_ds_##DH(float* PdS, const float* dout, const float* v, const float* D, \
                                                  int H, int Lq, int Lk) {                                    \
        attn_plain_ds_impl<DH>(PdS, dout, v, D, H, Lq, Lk);                                                   \
    }                                                                                                         \
    extern "C" __global__ void attn_matmul_##DH(float* dX, const float* M, const float* Y, int H, int Lr,       \
                                                int Ls, float alpha) {                                        \
        attn_matmul_impl<DH, false>(dX, M, Y, H, Lr, Ls, alpha);                                              \
    }                                                                                                         \
    extern "C" __global__ void attn_matmul_t_##DH(float* dX, const float* M, const float* Y, int H, int Lr,     \
                                                  int Ls, float alpha) {                                      \
        attn_matmul_impl<DH, true>(dX, M, Y, H, Lr, Ls, alpha);                                               \
    }                                                                                                         \
    extern "C" __global__ void __launch_bounds__(ATT_TILE) attn_flash_fwd_##DH(                               \
        float* out, float* lse, const float* q, const float* k, const float* v, int H, int Lq, int Lk,         \
        float scale) {                                                                                        \
        attn_flash_fwd_impl<DH>(out, lse, q, k, v, H, Lq, Lk, scale);                                         \
    }                                                                                                         \
    extern "C" __global__ void __launch_bounds__(ATT_TILE) attn_flash_dkdv_##DH(                              \
        float* dk, float* dv, const float* q, const float* k, const float* v, const float* dout,              \
        const float* lse, const float* D, int H, int Lq, int Lk, float scale) {                                \
        attn_flash_dkdv_impl<DH>(dk, dv, q, k, v, dout, lse, D, H, Lq, Lk, scale);                            \
    }                                                                                                         \
    extern "C" __global__ void __launch_bounds__(ATT_TILE) attn_flash_dq_##DH(                                \
        float* dq, const float* q, const float* k, const float* v, const float* dout, const float* lse,        \
        const float* D, int H, int Lq, int Lk, float scale) {                                                 \
        attn_flash_dq_impl<DH>(dq, q, k, v, dout, lse, D, H, Lq, Lk, scale);                                  \
    }

ATT_INSTANTIATE(4)
ATT_INSTANTIATE(8)
ATT_INSTANTIATE(16)
ATT_INSTANTIATE(32)
ATT_INSTANTIATE(64)

extern "C" __global__ void attn_softmax(float* P, float* lse, long rows, int Lk) {
    attn_softmax_impl(P, lse, rows, Lk);
}
