// The coupled selective scan (MODEL.md), forward and backward, all M modalities in one launch.
//
// Strategy. A block is NP x DB threads: threadIdx.x = state n (NP = N rounded up to a power of two),
// threadIdx.y = one of DB channels d; grid = (ceil(D / DB), B). Each thread keeps the aggregated
// state s[b, d, n] in a register and walks time sequentially: per step it forms every chain's
// Abar = exp(delta A), h^m = Abar s_{t-1} + delta B u, the partial products C h, and the next
// s = mean_m(Abar) s + mean_m(delta B u). Sums over n (y = C.h, and in the backward du and ddelta)
// are warp shuffles (segments of NP lanes when NP <= 32, plus shared memory across warps above).
// The (b, d, n) parallelism (B D N threads) fills the GPU at the paper's setting (B 1024, D 256, N 64:
// 16.8 M threads) and at long L with small batch (B 8, D 1536, N 16: 197 K threads).
//
// Memory: the forward reads u, delta, z, B, C once and writes out; it stores only the state at the
// start of every CHUNK steps ([B, D, N, ceil(L / CHUNK)]) for the backward, never [B, L, D, N].
// The backward walks the chunks in reverse: it recomputes the chunk's states s_{t-1} from the stored
// start into registers, then runs the reverse scan g_{t-1} = G_t g_t + sum_m Abar^m_t dh_dir^m_t
// through it. dB and dC (sums over d) are reduced over the block's DB channels in shared memory and
// then added with one atomic per block; dA and dDskip (sums over b and t) accumulate in registers
// and are added once per thread. Per-sample lengths: from t = len on the state is frozen, outputs
// are 0 and no gradient flows (len is uniform within a block, so skipping a step never splits a
// block at a barrier).
#include "common.cuh"

#define MAXM 8
#define CHUNK 16

// Sums count values over the NP threads (threadIdx.x) of each channel row; every thread gets them.
// red: shared scratch of DB * (NP / 32) * count floats when NP > 32.
template <int NP>
__device__ __forceinline__ void reduce_over_n(float* v, int count, float* red) {
    if (NP == 1) return;
    const int width = NP < 32 ? NP : 32;
#pragma unroll
    for (int k = 0; k < 2 * MAXM; k++) {
        if (k >= count) break;
        float x = v[k];
        for (int o = width / 2; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o, width);
        v[k] = x;
    }
    if (NP > 32) {
        const int warps = NP / 32;
        int w = threadIdx.x / 32, lane = threadIdx.x % 32;
        float* row = red + threadIdx.y * warps * count;
        __syncthreads();
        if (lane == 0)
            for (int k = 0; k < count; k++) row[w * count + k] = v[k];
        __syncthreads();
        for (int k = 0; k < count; k++) {
            float s = 0.f;
            for (int j = 0; j < warps; j++) s += row[j * count + k];
            v[k] = s;
        }
    }
}

__device__ __forceinline__ int sample_length(const int* lengths, int b, int L) {
    return lengths == nullptr ? L : min(max(lengths[b], 0), L);
}

template <int NP>
__device__ void scan_fwd_impl(float* out, float* finalState, float* chunkStates, const float* u, const float* deltaPre,
                              const float* z, const float* A, const float* Bm, const float* Cm, const float* Dskip,
                              const int* lengths, const float* init, int M, int Bt, int L, int D, int N) {
    __shared__ float red[2 * MAXM * 8 * 8];
    const int DB = blockDim.y;
    int n = threadIdx.x, d = blockIdx.x * DB + threadIdx.y, b = blockIdx.y;
    bool on = n < N && d < D;
    int dd = d < D ? d : D - 1, nn = n < N ? n : N - 1; // clamped indices keep idle threads' loads in bounds
    int nChunks = (L + CHUNK - 1) / CHUNK;
    float a[MAXM];
#pragma unroll
    for (int m = 0; m < MAXM; m++) a[m] = m < M ? A[((long)m * D + dd) * N + nn] : 0.f;
    long sIdx = ((long)b * D + dd) * N + nn;
    float s = (init != nullptr && on) ? init[sIdx] : 0.f;
    int len = sample_length(lengths, b, L);
    for (int t = 0; t < L; t++) {
        if (t % CHUNK == 0 && chunkStates != nullptr && on) chunkStates[sIdx * nChunks + t / CHUNK] = s;
        if (t >= len) {
            if (n == 0 && d < D)
                for (int m = 0; m < M; m++) out[(((long)m * Bt + b) * L + t) * D + d] = 0.f;
            continue;
        }
        float y[2 * MAXM], g = 0.f, v = 0.f;
#pragma unroll
        for (int m = 0; m < MAXM; m++) {
            y[m] = 0.f;
            if (m >= M) continue;
            long xi = (((long)m * Bt + b) * L + t) * D + dd;
            long bi = (((long)m * Bt + b) * L + t) * N + nn;
            float delta = softplusf_(deltaPre[xi]), bu = delta * Bm[bi] * u[xi];
            float abar = __expf(delta * a[m]);
            y[m] = on ? Cm[bi] * (abar * s + bu) : 0.f;
            g += abar;
            v += bu;
        }
        reduce_over_n<NP>(y, M, red);
        if (n == 0 && d < D)
            for (int m = 0; m < M; m++) {
                long xi = (((long)m * Bt + b) * L + t) * D + d;
                float zz = z[xi];
                out[xi] = (y[m] + Dskip[m * D + d] * u[xi]) * zz * sigmoidf_(zz);
            }
        s = g / M * s + v / M;
    }
    if (finalState != nullptr && on) finalState[sIdx] = s;
}

template <int NP>
__device__ void scan_bwd_impl(float* du, float* dDeltaPre, float* dz, float* dA, float* dB, float* dC, float* dDskip,
                              float* dInit, const float* dout, const float* dFinal, const float* chunkStates,
                              const float* u, const float* deltaPre, const float* z, const float* A, const float* Bm,
                              const float* Cm, const float* Dskip, const int* lengths, int M, int Bt, int L, int D, int N) {
    __shared__ float red[2 * MAXM * 8 * 8];
    __shared__ float bc[2][256]; // dB and dC partials of one (m, t): [DB][NP] flattened
    const int DB = blockDim.y;
    int n = threadIdx.x, d = blockIdx.x * DB + threadIdx.y, b = blockIdx.y;
    bool on = n < N && d < D;
    int dd = d < D ? d : D - 1, nn = n < N ? n : N - 1;
    int nChunks = (L + CHUNK - 1) / CHUNK;
    int tid = threadIdx.y * NP + threadIdx.x;
    float a[MAXM], dAacc[MAXM], dDacc[MAXM];
#pragma unroll
    for (int m = 0; m < MAXM; m++) {
        a[m] = m < M ? A[((long)m * D + dd) * N + nn] : 0.f;
        dAacc[m] = 0.f;
        dDacc[m] = 0.f;
    }
    long sIdx = ((long)b * D + dd) * N + nn;
    float g = (dFinal != nullptr && on) ? dFinal[sIdx] : 0.f;
    int len = sample_length(lengths, b, L);
    for (int c = nChunks - 1; c >= 0; c--) {
        int t0 = c * CHUNK;
        // recompute s_{t-1} for the chunk's steps
        float sPrev[CHUNK];
        float s = on ? chunkStates[sIdx * nChunks + c] : 0.f;
        for (int k = 0; k < CHUNK; k++) {
            int t = t0 + k;
            sPrev[k] = s;
            if (t < len) {
                float gg = 0.f, vv = 0.f;
                for (int m = 0; m < M; m++) {
                    long xi = (((long)m * Bt + b) * L + t) * D + dd;
                    long bi = (((long)m * Bt + b) * L + t) * N + nn;
                    float delta = softplusf_(deltaPre[xi]);
                    gg += __expf(delta * a[m]);
                    vv += delta * Bm[bi] * u[xi];
                }
                s = gg / M * s + vv / M;
            }
        }
        // reverse through the chunk (not unrolled: the body is large and compile time would explode)
        for (int k = CHUNK - 1; k >= 0; k--) {
            int t = t0 + k;
            if (t >= L) continue;
            if (t >= len) {
                if (n == 0 && d < D)
                    for (int m = 0; m < M; m++) {
                        long xi = (((long)m * Bt + b) * L + t) * D + d;
                        du[xi] = 0.f;
                        dDeltaPre[xi] = 0.f;
                        dz[xi] = 0.f;
                    }
                continue;
            }
            float sp = sPrev[k];
            float vals[2 * MAXM];
            // pass 1: y^m = sum_n C h (needed for dz)
#pragma unroll
            for (int m = 0; m < MAXM; m++) {
                vals[m] = 0.f;
                if (m >= M) continue;
                long xi = (((long)m * Bt + b) * L + t) * D + dd;
                long bi = (((long)m * Bt + b) * L + t) * N + nn;
                float delta = softplusf_(deltaPre[xi]);
                float h = __expf(delta * a[m]) * sp + delta * Bm[bi] * u[xi];
                vals[m] = on ? Cm[bi] * h : 0.f;
            }
            reduce_over_n<NP>(vals, M, red);
            float dy[MAXM], gNext = 0.f, gSum = 0.f;
            float parts[2 * MAXM];
#pragma unroll
            for (int m = 0; m < MAXM; m++) {
                parts[2 * m] = parts[2 * m + 1] = 0.f;
                dy[m] = 0.f;
                if (m >= M) continue;
                long xi = (((long)m * Bt + b) * L + t) * D + dd;
                long bi = (((long)m * Bt + b) * L + t) * N + nn;
                float pre = deltaPre[xi], delta = softplusf_(pre), uu = u[xi], zz = z[xi], go = dout[xi];
                float sz = sigmoidf_(zz);
                float bv = Bm[bi], cv = Cm[bi];
                float abar = __expf(delta * a[m]);
                float h = abar * sp + delta * bv * uu;
                float dym = go * zz * sz;
                dy[m] = dym;
                float dhDir = dym * cv;
                float H = dhDir + g / M;
                float dAbar = H * sp, dBbar = H * uu;
                if (on) {
                    parts[2 * m] = H * delta * bv;                                   // -> du
                    parts[2 * m + 1] = dAbar * abar * a[m] + dBbar * bv;             // -> ddelta
                    dAacc[m] += dAbar * abar * delta;
                    gNext += abar * dhDir;
                }
                gSum += abar;
                // dB, dC: sum over the block's channels, then one atomic per (m, t, n)
                bc[0][tid] = on ? dBbar * delta : 0.f;
                bc[1][tid] = on ? dym * h : 0.f;
                __syncthreads();
                if (threadIdx.y == 0 && n < N) {
                    float sb = 0.f, sc = 0.f;
                    for (int j = 0; j < DB; j++) {
                        sb += bc[0][j * NP + n];
                        sc += bc[1][j * NP + n];
                    }
                    atomicAdd(&dB[bi], sb);
                    atomicAdd(&dC[bi], sc);
                }
                __syncthreads();
                if (n == 0 && d < D) {
                    float y = vals[m] + Dskip[m * D + d] * uu;
                    dz[xi] = go * y * sz * (1.f + zz * (1.f - sz));
                    dDacc[m] += dym * uu;
                }
            }
            reduce_over_n<NP>(parts, 2 * M, red);
            if (n == 0 && d < D)
                for (int m = 0; m < M; m++) {
                    long xi = (((long)m * Bt + b) * L + t) * D + d;
                    du[xi] = dy[m] * Dskip[m * D + d] + parts[2 * m];
                    dDeltaPre[xi] = parts[2 * m + 1] * sigmoidf_(deltaPre[xi]);
                }
            g = gSum / M * g + gNext;
        }
    }
    if (on) {
        for (int m = 0; m < M; m++) atomicAdd(&dA[((long)m * D + d) * N + n], dAacc[m]);
        if (dInit != nullptr) dInit[sIdx] = g;
        if (n == 0)
            for (int m = 0; m < M; m++) atomicAdd(&dDskip[m * D + d], dDacc[m]);
    }
}

#define SCAN_INSTANTIATE(NP) SCAN_INSTANTIATE_(NP)
#define SCAN_INSTANTIATE_(NP)                                                                                        \
    extern "C" __global__ void coupled_scan_fwd_##NP(                                                               \
        float* out, float* finalState, float* chunkStates, const float* u, const float* deltaPre, const float* z,    \
        const float* A, const float* Bm, const float* Cm, const float* Dskip, const int* lengths, const float* init, \
        int M, int Bt, int L, int D, int N) {                                                                       \
        scan_fwd_impl<NP>(out, finalState, chunkStates, u, deltaPre, z, A, Bm, Cm, Dskip, lengths, init, M, Bt, L, D, N); \
    }                                                                                                               \
    extern "C" __global__ void coupled_scan_bwd_##NP(                                                               \
        float* du, float* dDeltaPre, float* dz, float* dA, float* dB, float* dC, float* dDskip, float* dInit,       \
        const float* dout, const float* dFinal, const float* chunkStates, const float* u, const float* deltaPre,    \
        const float* z, const float* A, const float* Bm, const float* Cm, const float* Dskip, const int* lengths,   \
        int M, int Bt, int L, int D, int N) {                                                                       \
        scan_bwd_impl<NP>(du, dDeltaPre, dz, dA, dB, dC, dDskip, dInit, dout, dFinal, chunkStates, u, deltaPre, z, \
                          A, Bm, Cm, Dskip, lengths, M, Bt, L, D, N);                                               \
    }

// The host compiles one instantiation per module (-DSCAN_NP=n), so a start compiles only the state
// width it uses; without the define (an offline syntax check) every width is built.
#ifdef SCAN_NP
SCAN_INSTANTIATE(SCAN_NP)
#else
SCAN_INSTANTIATE(1)
SCAN_INSTANTIATE(2)
SCAN_INSTANTIATE(4)
SCAN_INSTANTIATE(8)
SCAN_INSTANTIATE(16)
SCAN_INSTANTIATE(32)
SCAN_INSTANTIATE(64)
SCAN_INSTANTIATE(128)
SCAN_INSTANTIATE(256)
#endif
