// The time-invariant coupled SSM as a global convolution (MODEL.md, "Global convolution kernel"):
// materialising the kernels K [M, M, D, L] from (A, delta, B, C), the causal convolution
// y = sum_k K^{m,k} * u^k + Dskip u^m, and their backward passes.
//
// Notation for one channel d: Abar[m,n] = exp(delta[m,d] A[m,d,n]), G[n] = mean_m Abar[m,n],
// alpha[m,n] = C[m,n] Abar[m,n] / M, beta[k,n] = delta[k,d] B[k,n], W[(m,k),n] = alpha[m,n] beta[k,n].
// K[(m,k), l] = sum_n W[(m,k),n] G[n]^(l-1) for l >= 1; K[(m,m), 0] = sum_n C[m,n] beta[m,n].
//
// Kernel materialisation (gck_*). Forward: a block owns one channel and a tile of 1024 lags, each
// thread 8 consecutive lags for every (m,k) pair of its block; it walks n, starting each 8-lag run
// from G^(l-1) rebuilt from log2 G (kept in double, split into integer and fraction so the start is
// exact to a few ulp) and stepping by one multiplication per lag: error stays a few ulp at any l,
// where a single chain over 16384 lags would drift by ~1e-3. Results go through shared memory so the
// stores along l are coalesced. Backward needs, per (d, n, pair), dW = sum_l dK G^(l-1) and
// Q = sum_l dK (l-1) G^(l-2) (then dG = sum_pairs Q W): threads are (n, segment of 64 lags) with dK
// staged in shared memory; segments restart from the exact power like the forward. Partial sums
// per (lag block, d) are reduced deterministically by gck_bwd_chain (one block per channel, which
// also applies the chain rule to A, delta and per-channel parts of B and C) and gck_bwd_reduce
// (the sum over channels of the B and C parts). No atomics: results are reproducible.
//
// Direct convolution (gcd_*), for short and medium L: a block owns 32 channels (one per lane) and
// 64 outputs along time (4 warps x 16 consecutive outputs per thread); it streams 64-step input tiles
// and 127-lag kernel windows through shared memory, and each thread slides a 31-value register
// window of K over its 16 outputs, so a 16x16 block of FMAs costs 31 + 16 shared loads. The lower
// triangle of the diagonal tile is skipped per warp. Tiles are paired (i with last - i) so every
// block does the same work. du is the same kernel run backwards in time with the pair transposed;
// dK (a correlation summed over the batch) has its own kernel of the same shape, with the batch
// optionally split over blocks and the parts summed by gc_sum_parts.
//
// FFT convolution (gcf_*), for long L: the host runs cuFFT; these kernels transpose [.., L, D] into
// zero-padded rows [.., D, nfft] (and back, adding the skip term and the 1/nfft scale) and do the
// pointwise products: Y = sum_k Kf[m,k] U[k]; in the backward DU = sum_m conj(Kf[m,k]) DY[m] and
// DK = sum_b DY[m,b] conj(U[k,b]) in one pass, each written over an input it no longer needs.
//
// All float tensors are contiguous row-major; indices that can pass 2^31 are long.

#define GC_LANES 32

// Dynamic shared memory of every kernel here (8-byte aligned; kernels carve it up themselves).
extern __shared__ double gc_smem_d[];

// G^e for e >= 0 from log2 G in double. The fraction of e log2 G goes through exp2f (a few ulp),
// the integer part through ldexpf (exact); NaN stays NaN, underflow gives 0.
__device__ __forceinline__ float gc_pow(double log2g, int e) {
    if (e == 0) return 1.f;
    double x = log2g * (double)e;
    if (x != x) return __int_as_float(0x7fffffff);
    x = fmin(fmax(x, -1000.0), 1000.0);
    double whole = floor(x);
    return ldexpf(exp2f((float)(x - whole)), (int)whole);
}

// ---------------------------------------------------------------------------------------------
// Kernel materialisation, forward

#define GCK_S 8
#define GCK_THREADS 128
#define GCK_TILE (GCK_S * GCK_THREADS)
#define GCK_STAGE (GCK_TILE + GCK_TILE / 32) // one pad word per 32 so strided stores miss bank conflicts

// K [M, M, D, L]; A [M, D, N]; delta [M, D]; B, C [M, N].
// grid (ceil(L / GCK_TILE), D, ceil(M*M / P)); block GCK_THREADS;
// shared max(N*12 + P*N*4 + P*4 + 8, P*GCK_STAGE*4) bytes.
template <int P>
__device__ void gck_fwd_impl(float* __restrict__ K, const float* __restrict__ A, const float* __restrict__ delta,
                             const float* __restrict__ B, const float* __restrict__ C, int M, int D, int N, int L) {
    double* log2G = gc_smem_d;                // [N]
    float* Gs = (float*)(log2G + N);          // [N]
    float* Ws = Gs + N;                       // [P][N]
    float* direct = Ws + P * N;               // [P]
    float* stage = (float*)gc_smem_d;         // [P][GCK_STAGE], reused after the main loop
    const int d = blockIdx.y, tile0 = blockIdx.x * GCK_TILE, pair0 = blockIdx.z * P, MM = M * M;
    const double invM = 1.0 / M;

    for (int n = threadIdx.x; n < N; n += blockDim.x) {
        double g = 0;
        for (int m = 0; m < M; m++) g += exp((double)delta[m * D + d] * (double)A[((long)m * D + d) * N + n]);
        g *= invM;
        log2G[n] = log2(g);
        Gs[n] = (float)g;
    }
    for (int i = threadIdx.x; i < P * N; i += blockDim.x) {
        int pp = i / N, n = i % N, pair = pair0 + pp;
        float w = 0.f;
        if (pair < MM) {
            int m = pair / M, k = pair % M;
            double abar = exp((double)delta[m * D + d] * (double)A[((long)m * D + d) * N + n]);
            w = (float)((double)C[m * N + n] * abar * invM * (double)delta[k * D + d] * (double)B[k * N + n]);
        }
        Ws[i] = w;
    }
    if (threadIdx.x < P) {
        int pair = pair0 + threadIdx.x;
        double s = 0;
        if (pair < MM && pair / M == pair % M) {
            int m = pair / M;
            for (int n = 0; n < N; n++) s += (double)C[m * N + n] * (double)delta[m * D + d] * (double)B[m * N + n];
        }
        direct[threadIdx.x] = (float)s;
    }
    __syncthreads();

    const int ls = tile0 + threadIdx.x * GCK_S;
    float acc[P][GCK_S];
#pragma unroll
    for (int pp = 0; pp < P; pp++)
#pragma unroll
        for (int i = 0; i < GCK_S; i++) acc[pp][i] = 0.f;
    if (ls < L) {
        const int e = ls > 0 ? ls - 1 : 0;
        for (int n = 0; n < N; n++) {
            const float g = Gs[n];
            // lag 0 is the direct term: the power for lag 1 is G^0 again, so the first step is x1
            const float g0 = ls == 0 ? 1.f : g;
            float p = gc_pow(log2G[n], e);
            float w[P];
#pragma unroll
            for (int pp = 0; pp < P; pp++) w[pp] = Ws[pp * N + n];
#pragma unroll
            for (int i = 0; i < GCK_S; i++) {
#pragma unroll
                for (int pp = 0; pp < P; pp++) acc[pp][i] = fmaf(w[pp], p, acc[pp][i]);
                p *= i == 0 ? g0 : g;
            }
        }
        if (ls == 0) {
#pragma unroll
            for (int pp = 0; pp < P; pp++) acc[pp][0] = direct[pp];
        }
    }
    __syncthreads(); // the setup arrays are dead; the stage buffer overlays them
#pragma unroll
    for (int pp = 0; pp < P; pp++)
#pragma unroll
        for (int i = 0; i < GCK_S; i++) {
            int j = threadIdx.x * GCK_S + i;
            stage[pp * GCK_STAGE + j + (j >> 5)] = acc[pp][i];
        }
    __syncthreads();
    for (int idx = threadIdx.x; idx < P * GCK_TILE; idx += blockDim.x) {
        int pp = idx / GCK_TILE, j = idx % GCK_TILE, pair = pair0 + pp, l = tile0 + j;
        if (pair < MM && l < L) K[((long)pair * D + d) * L + l] = stage[pp * GCK_STAGE + j + (j >> 5)];
    }
}

// ---------------------------------------------------------------------------------------------
// Kernel materialisation, backward

#define GCB_THREADS 256
#define GCB_CHUNK 512 // lags of dK staged at a time
#define GCB_SEG 64    // lags per exact power restart

// part [D][T][2][M*M][N]: for lag block t, dW (slot 0) and Q (slot 1) summed over its lags >= 1.
// grid (T, D, ceil(M*M / P)); block GCB_THREADS; requires N <= GCB_THREADS.
// shared (((3N+1)/2 + 1) & ~1) * 8 + P*GCB_CHUNK*4 bytes.
template <int P>
__device__ void gck_bwd_partial_impl(float* __restrict__ part, const float* __restrict__ dK,
                                     const float* __restrict__ A, const float* __restrict__ delta, int M, int D,
                                     int N, int L, int lagsPerBlock) {
    double* log2G = gc_smem_d;                      // [N]
    float* Gs = (float*)(log2G + N);                // [N]
    float* dks = (float*)(log2G + (((3 * N + 1) / 2 + 1) & ~1)); // [P][GCB_CHUNK], 16-byte aligned for float4
    const int t = blockIdx.x, T = gridDim.x, d = blockIdx.y, pair0 = blockIdx.z * P, MM = M * M;
    const int lagBeg = t * lagsPerBlock, lagEnd = min(L, lagBeg + lagsPerBlock);
    for (int n = threadIdx.x; n < N; n += blockDim.x) {
        double g = 0;
        for (int m = 0; m < M; m++) g += exp((double)delta[m * D + d] * (double)A[((long)m * D + d) * N + n]);
        g /= M;
        log2G[n] = log2(g);
        Gs[n] = (float)g;
    }
    const int groups = blockDim.x / N, n = threadIdx.x % N, c = threadIdx.x / N;
    const bool active = c < groups;
    float dw[P], q[P];
#pragma unroll
    for (int pp = 0; pp < P; pp++) dw[pp] = q[pp] = 0.f;

    for (int chunk = lagBeg; chunk < lagEnd; chunk += GCB_CHUNK) {
        const int len = min(GCB_CHUNK, lagEnd - chunk);
        __syncthreads(); // readers of the previous chunk are done (and log2G is ready)
        for (int i = threadIdx.x; i < P * GCB_CHUNK; i += blockDim.x) {
            int pp = i / GCB_CHUNK, j = i % GCB_CHUNK, pair = pair0 + pp;
            dks[i] = pair < MM && j < len ? dK[((long)pair * D + d) * L + chunk + j] : 0.f;
        }
        __syncthreads();
        if (!active) continue;
        const float g = Gs[n];
        for (int seg = c; seg * GCB_SEG < len; seg += groups) {
            const int j0 = seg * GCB_SEG, l0 = chunk + j0, cnt = min(GCB_SEG, len - j0);
            float r = gc_pow(log2G[n], max(l0 - 2, 0)); // G^(l-2), kept at 1 through lags 0..2
            for (int jj = 0; jj < cnt; jj += 4) {
                float4 v[P];
#pragma unroll
                for (int pp = 0; pp < P; pp++) v[pp] = *(const float4*)&dks[pp * GCB_CHUNK + j0 + jj];
#pragma unroll
                for (int u = 0; u < 4; u++) {
                    const int l = l0 + jj + u;
                    if (jj + u < cnt) {
                        // l >= 2: p = G^(l-1) = r G and Q gets (l-1) G^(l-2); l == 1: p = 1; l == 0: nothing
                        const bool ge2 = l >= 2;
                        const float p = ge2 ? r * g : (l == 1 ? 1.f : 0.f);
                        const float cr = ge2 ? (float)(l - 1) * r : 0.f;
#pragma unroll
                        for (int pp = 0; pp < P; pp++) {
                            const float dk = u == 0 ? v[pp].x : u == 1 ? v[pp].y : u == 2 ? v[pp].z : v[pp].w;
                            dw[pp] = fmaf(dk, p, dw[pp]);
                            q[pp] = fmaf(dk, cr, q[pp]);
                        }
                        if (ge2) r = p;
                    }
                }
            }
        }
    }
    __syncthreads();
    float* red = dks; // [groups][2P][N], at most 2P * GCB_THREADS <= P * GCB_CHUNK floats
    if (active) {
#pragma unroll
        for (int pp = 0; pp < P; pp++) {
            red[(c * 2 * P + pp) * N + n] = dw[pp];
            red[(c * 2 * P + P + pp) * N + n] = q[pp];
        }
    }
    __syncthreads();
    for (int i = threadIdx.x; i < 2 * P * N; i += blockDim.x) {
        int comp = i / N, nn = i % N, slot = comp / P, pair = pair0 + comp % P;
        float s = 0.f;
        for (int cc = 0; cc < groups; cc++) s += red[(cc * 2 * P + comp) * N + nn];
        if (pair < MM) part[((((long)d * T + t) * 2 + slot) * MM + pair) * N + nn] = s;
    }
}

// Chain rule for one channel per block (thread n): sums the T partials, then
// dA [M, D, N] and dDelta [M, D] directly, and bcPart [D][2][M][N] (slot 0: dB, slot 1: dC) for
// gck_bwd_reduce. Block: a power of two >= N, at most 256; shared 5 * M * blockDim * 8 bytes.
extern "C" __global__ void gck_bwd_chain(float* __restrict__ dA, float* __restrict__ dDelta,
                                         float* __restrict__ bcPart, const float* __restrict__ part,
                                         const float* __restrict__ dK, const float* __restrict__ A,
                                         const float* __restrict__ delta, const float* __restrict__ B,
                                         const float* __restrict__ C, int M, int D, int N, int L, int T) {
    const int nt = blockDim.x, n = threadIdx.x, d = blockIdx.x, MM = M * M;
    double* abar = gc_smem_d;       // [M][nt], column n private to thread n
    double* beta = abar + M * nt;   // [M][nt]
    double* dalpha = beta + M * nt; // [M][nt]
    double* dbeta = dalpha + M * nt;// [M][nt]
    double* ddel = dbeta + M * nt;  // [M][nt], reduced over n below
    const double invM = 1.0 / M;
    if (n < N) {
        for (int m = 0; m < M; m++) {
            abar[m * nt + n] = exp((double)delta[m * D + d] * (double)A[((long)m * D + d) * N + n]);
            beta[m * nt + n] = (double)delta[m * D + d] * (double)B[m * N + n];
            dalpha[m * nt + n] = 0;
            // lag 0: K[m,m,0] = sum_n C beta
            dbeta[m * nt + n] = (double)dK[((long)(m * M + m) * D + d) * L] * (double)C[m * N + n];
        }
        double dG = 0;
        for (int pair = 0; pair < MM; pair++) {
            const int m = pair / M, k = pair % M;
            double dw = 0, qv = 0;
            for (int t = 0; t < T; t++) {
                dw += part[((((long)d * T + t) * 2 + 0) * MM + pair) * N + n];
                qv += part[((((long)d * T + t) * 2 + 1) * MM + pair) * N + n];
            }
            const double alpha = (double)C[m * N + n] * abar[m * nt + n] * invM, bk = beta[k * nt + n];
            dalpha[m * nt + n] += dw * bk;
            dbeta[k * nt + n] += dw * alpha;
            dG += qv * alpha * bk;
        }
        for (int m = 0; m < M; m++) {
            const double ab = abar[m * nt + n], dl = delta[m * D + d];
            const double dK0 = dK[((long)(m * M + m) * D + d) * L];
            const double dAbar = dalpha[m * nt + n] * (double)C[m * N + n] * invM + dG * invM;
            dA[((long)m * D + d) * N + n] = (float)(dAbar * ab * dl);
            ddel[m * nt + n] = dAbar * ab * (double)A[((long)m * D + d) * N + n] + dbeta[m * nt + n] * (double)B[m * N + n];
            bcPart[(((long)d * 2 + 0) * M + m) * N + n] = (float)(dbeta[m * nt + n] * dl);
            bcPart[(((long)d * 2 + 1) * M + m) * N + n] = (float)(dalpha[m * nt + n] * ab * invM + dK0 * beta[m * nt + n]);
        }
    } else {
        for (int m = 0; m < M; m++) ddel[m * nt + n] = 0;
    }
    for (int s = nt / 2; s > 0; s >>= 1) {
        __syncthreads();
        if (n < s)
            for (int m = 0; m < M; m++) ddel[m * nt + n] += ddel[m * nt + n + s];
    }
    if (n == 0)
        for (int m = 0; m < M; m++) dDelta[m * D + d] = (float)ddel[m * nt];
}

// dB, dC [M, N] = sum over channels of bcPart [D][2][M][N]; one thread per output.
extern "C" __global__ void gck_bwd_reduce(float* __restrict__ dB, float* __restrict__ dC,
                                          const float* __restrict__ bcPart, int M, int D, int N) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x, MN = M * N;
    if (i >= 2 * MN) return;
    const int slot = i / MN, mn = i % MN;
    double s = 0;
    for (int d = 0; d < D; d++) s += bcPart[((long)d * 2 + slot) * MN + mn];
    (slot == 0 ? dB : dC)[mn] = (float)s;
}

// ---------------------------------------------------------------------------------------------
// Direct causal convolution

#define GCD_R 16                 // consecutive outputs (or lags) per thread
#define GCD_TY 4                 // warps per block, one row of GCD_R outputs each
#define GCD_T (GCD_R * GCD_TY)   // outputs per tile
#define GCD_KPAD 33              // kernel window rows padded: transposed stores miss bank conflicts

// Logical time runs forwards (REV false) or backwards (REV true, for du), physical index phys(t).
// out[o, b, phys(t), d] = Dskip[o, d] in[o, b, phys(t), d]
//                         + sum_i sum_{s <= t} K[o*pairO + i*pairI, d, t - s] in[i, b, phys(s), d].
// in, out [M, Bt, L, D]; K [M, M, D, L]; Dskip [M, D].
// grid (ceil(D/32), ceil(tiles/2), Bt * ceil(M/MO)); block (32, GCD_TY);
// shared (MO * 2*GCD_T * GCD_KPAD + GCD_T * 32) * 4 bytes.
template <int MO, bool REV>
__device__ void gcd_conv_impl(float* __restrict__ out, const float* __restrict__ in, const float* __restrict__ K,
                              const float* __restrict__ Dskip, int M, int Bt, int L, int D, int pairO, int pairI) {
    float* gc_smem_f = (float*)gc_smem_d;
    float* ks = gc_smem_f;                        // [MO][2T][KPAD]: K window, lag = lagBase + row
    float* us = ks + MO * 2 * GCD_T * GCD_KPAD;   // [T][32]
    const int lane = threadIdx.x, ty = threadIdx.y, tid = ty * 32 + lane;
    const int d0 = blockIdx.x * GC_LANES, d = d0 + lane;
    const int groups = (M + MO - 1) / MO, b = blockIdx.z / groups, o0 = (blockIdx.z % groups) * MO;
    const int tiles = (L + GCD_T - 1) / GCD_T;
    const long plane = (long)Bt * L * D;         // one modality of in/out
    for (int pass = 0; pass < 2; pass++) {
        const int tile = pass == 0 ? blockIdx.y : tiles - 1 - blockIdx.y;
        if (pass == 1 && tile == (int)blockIdx.y) break;
        float acc[MO][GCD_R];
#pragma unroll
        for (int o = 0; o < MO; o++)
#pragma unroll
            for (int r = 0; r < GCD_R; r++) acc[o][r] = 0.f;
        for (int i = 0; i < M; i++) {
            for (int js = 0; js <= tile; js++) {
                __syncthreads();
                for (int q = ty; q < GCD_T; q += GCD_TY) {
                    int s = js * GCD_T + q;
                    int ps = REV ? L - 1 - s : s;
                    us[q * 32 + lane] = s < L && d < D ? in[i * plane + ((long)b * L + ps) * D + d] : 0.f;
                }
                const int lagBase = (tile - js) * GCD_T - (GCD_T - 1);
#pragma unroll
                for (int o = 0; o < MO; o++) {
                    const int oo = o0 + o;
                    const long krow = (long)(oo * pairO + i * pairI) * D;
                    for (int c = 0; c < GC_LANES; c++) {
                        // rows 0..2T-2 are lags lagBase..; row 2T-1 is never read
                        const int row = tid, lag = lagBase + row;
                        float v = 0.f;
                        if (oo < M && d0 + c < D && lag >= 0 && lag < L) v = K[(krow + d0 + c) * L + lag];
                        ks[(o * 2 * GCD_T + row) * GCD_KPAD + c] = v;
                    }
                }
                __syncthreads();
                // output t = tile*T + ty*R + r, input s = js*T + q: row = ty*R + r - q + T - 1
#pragma unroll 1
                for (int qb = 0; qb < GCD_T / GCD_R; qb++) {
                    if (js == tile && qb > ty) break; // every lag in this block would be negative
                    float uv[GCD_R];
#pragma unroll
                    for (int qq = 0; qq < GCD_R; qq++) uv[qq] = us[(qb * GCD_R + qq) * 32 + lane];
                    const int w0 = ty * GCD_R + GCD_T - 1 - qb * GCD_R - (GCD_R - 1);
#pragma unroll
                    for (int o = 0; o < MO; o++) {
                        float kv[2 * GCD_R - 1];
#pragma unroll
                        for (int j = 0; j < 2 * GCD_R - 1; j++) kv[j] = ks[(o * 2 * GCD_T + w0 + j) * GCD_KPAD + lane];
#pragma unroll
                        for (int qq = 0; qq < GCD_R; qq++)
#pragma unroll
                            for (int r = 0; r < GCD_R; r++)
                                acc[o][r] = fmaf(kv[r - qq + GCD_R - 1], uv[qq], acc[o][r]);
                    }
                }
            }
        }
        if (d < D) {
#pragma unroll
            for (int o = 0; o < MO; o++) {
                const int oo = o0 + o;
                if (oo >= M) continue;
                const float skip = Dskip[oo * D + d];
#pragma unroll
                for (int r = 0; r < GCD_R; r++) {
                    const int t = tile * GCD_T + ty * GCD_R + r;
                    if (t < L) {
                        const long idx = oo * plane + ((long)b * L + (REV ? L - 1 - t : t)) * D + d;
                        out[idx] = acc[o][r] + skip * in[idx];
                    }
                }
            }
        }
    }
}

// Direct dK as a correlation over time and batch:
// dK[m, k, d, lag] = sum_{b in group} sum_{t >= lag} dy[m, b, t, d] u[k, b, t - lag, d].
// With groups > 1 (grid.z = M * ceil(M/KG) * groups) each group of batch rows writes its own copy
// out[g] of [M, M, D, L], summed by gc_sum_parts; otherwise out is dK.
// grid (ceil(D/32), ceil(tiles/2), M * ceil(M/KG) * groups); block (32, GCD_TY);
// shared (KG * 2*GCD_T * 32 + GCD_T * 32) * 4 bytes (also holds the transposed result).
template <int KG>
__device__ void gcd_corr_impl(float* __restrict__ out, const float* __restrict__ dy, const float* __restrict__ u,
                              int M, int Bt, int L, int D, int bGroups) {
    float* gc_smem_f = (float*)gc_smem_d;
    float* uw = gc_smem_f;                    // [KG][2T][32]: u at s = sBase + row
    float* ys = uw + KG * 2 * GCD_T * 32;     // [T][32]
    const int lane = threadIdx.x, ty = threadIdx.y, tid = ty * 32 + lane;
    const int d0 = blockIdx.x * GC_LANES, d = d0 + lane;
    const int kGroups = (M + KG - 1) / KG;
    int z = blockIdx.z;
    const int g = z % bGroups;
    z /= bGroups;
    const int k0 = (z % kGroups) * KG, m = z / kGroups;
    const int bPer = (Bt + bGroups - 1) / bGroups, bBeg = g * bPer, bEnd = min(Bt, bBeg + bPer);
    const int tiles = (L + GCD_T - 1) / GCD_T;
    const long plane = (long)Bt * L * D;
    float* dst = out + (long)g * M * M * D * L;
    for (int pass = 0; pass < 2; pass++) {
        const int lt = pass == 0 ? blockIdx.y : tiles - 1 - blockIdx.y;
        if (pass == 1 && lt == (int)blockIdx.y) break;
        const int lag0 = lt * GCD_T;
        float acc[KG][GCD_R];
#pragma unroll
        for (int k = 0; k < KG; k++)
#pragma unroll
            for (int r = 0; r < GCD_R; r++) acc[k][r] = 0.f;
        for (int b = bBeg; b < bEnd; b++) {
            for (int tt = lt; tt < tiles; tt++) {
                __syncthreads();
                const int sBase = (tt - lt) * GCD_T - (GCD_T - 1);
                for (int q = ty; q < GCD_T; q += GCD_TY) {
                    const int t = tt * GCD_T + q;
                    ys[q * 32 + lane] = t < L && d < D ? dy[m * plane + ((long)b * L + t) * D + d] : 0.f;
                }
#pragma unroll
                for (int k = 0; k < KG; k++) {
                    const int kk = k0 + k;
                    for (int row = ty; row < 2 * GCD_T; row += GCD_TY) {
                        const int s = sBase + row;
                        uw[(k * 2 * GCD_T + row) * 32 + lane] =
                            kk < M && d < D && s >= 0 && s < L ? u[kk * plane + ((long)b * L + s) * D + d] : 0.f;
                    }
                }
                __syncthreads();
                // lag = lag0 + ty*R + r, t = tt*T + q: s - sBase = q - ty*R - r + T - 1
#pragma unroll 1
                for (int qb = 0; qb < GCD_T / GCD_R; qb++) {
                    if (tt == lt && qb < ty) continue; // every s in this block would be negative
                    float yv[GCD_R];
#pragma unroll
                    for (int qq = 0; qq < GCD_R; qq++) yv[qq] = ys[(qb * GCD_R + qq) * 32 + lane];
                    const int w0 = qb * GCD_R - ty * GCD_R + GCD_T - GCD_R;
#pragma unroll
                    for (int k = 0; k < KG; k++) {
                        float kv[2 * GCD_R - 1];
#pragma unroll
                        for (int j = 0; j < 2 * GCD_R - 1; j++) kv[j] = uw[(k * 2 * GCD_T + w0 + j) * 32 + lane];
#pragma unroll
                        for (int qq = 0; qq < GCD_R; qq++)
#pragma unroll
                            for (int r = 0; r < GCD_R; r++)
                                acc[k][r] = fmaf(kv[qq - r + GCD_R - 1], yv[qq], acc[k][r]);
                    }
                }
            }
        }
        // transpose through shared memory so the stores run along lags
        __syncthreads();
        float* tr = gc_smem_f; // [KG][T][33]
#pragma unroll
        for (int k = 0; k < KG; k++)
#pragma unroll
            for (int r = 0; r < GCD_R; r++) tr[(k * GCD_T + ty * GCD_R + r) * 33 + lane] = acc[k][r];
        __syncthreads();
        for (int idx = tid; idx < KG * 32 * GCD_T; idx += 32 * GCD_TY) {
            const int li = idx % GCD_T, c = (idx / GCD_T) % 32, k = idx / (GCD_T * 32), kk = k0 + k;
            const int lag = lag0 + li;
            if (kk < M && d0 + c < D && lag < L)
                dst[((long)(m * M + kk) * D + d0 + c) * L + lag] = tr[(k * GCD_T + li) * 33 + c];
        }
    }
}

// out[i] = sum_g parts[g * n + i]
extern "C" __global__ void gc_sum_parts(float* __restrict__ out, const float* __restrict__ parts, int groups, long n) {
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
        float s = 0.f;
        for (int g = 0; g < groups; g++) s += parts[g * n + i];
        out[i] = s;
    }
}

// dDskip [M, D] = sum over rows (b, t) of dy * u, in two deterministic stages.
// Stage 1: grid (ceil(D/32), M, chunks), block (32, 8); part [chunks][M][D].
extern "C" __global__ void gc_dskip_partial(float* __restrict__ part, const float* __restrict__ dy,
                                            const float* __restrict__ u, int M, int rows, int D, int rowsPerChunk) {
    __shared__ double red[8][32];
    const int lane = threadIdx.x, ty = threadIdx.y, d = blockIdx.x * 32 + lane, m = blockIdx.y, ch = blockIdx.z;
    const int rBeg = ch * rowsPerChunk, rEnd = min(rows, rBeg + rowsPerChunk);
    double s = 0;
    if (d < D)
        for (int r = rBeg + ty; r < rEnd; r += 8) {
            const long idx = ((long)m * rows + r) * D + d;
            s += (double)dy[idx] * (double)u[idx];
        }
    red[ty][lane] = s;
    __syncthreads();
    if (ty == 0 && d < D) {
        for (int j = 1; j < 8; j++) s += red[j][lane];
        part[((long)ch * M + m) * D + d] = (float)s;
    }
}

// Stage 2: dDskip[i] = sum over chunks of part[chunk][i], i < M*D.
extern "C" __global__ void gc_dskip_reduce(float* __restrict__ dDskip, const float* __restrict__ part, int chunks,
                                           int MD) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= MD) return;
    double s = 0;
    for (int c = 0; c < chunks; c++) s += part[(long)c * MD + i];
    dDskip[i] = (float)s;
}

// ---------------------------------------------------------------------------------------------
// FFT convolution: layout changes and pointwise products (the transforms are cuFFT's)

// out[(mb*D + d)*pitch + l] = l < L ? in[(mb*L + l)*D + d] : 0, l < nfft.
// in [MB, L, D]; grid (ceil(nfft/32), ceil(D/32), MB); block (32, 8).
extern "C" __global__ void gcf_pad_transpose(float* __restrict__ out, const float* __restrict__ in, int L, int D,
                                             int nfft, int pitch) {
    __shared__ float tile[32][33];
    const int l0 = blockIdx.x * 32, d0 = blockIdx.y * 32, mb = blockIdx.z;
    const int tx = threadIdx.x, ty = threadIdx.y;
    for (int j = ty; j < 32; j += 8) {
        const int l = l0 + j, d = d0 + tx;
        tile[j][tx] = l < L && d < D ? in[((long)mb * L + l) * D + d] : 0.f;
    }
    __syncthreads();
    for (int j = ty; j < 32; j += 8) {
        const int d = d0 + j, l = l0 + tx;
        if (d < D && l < nfft) out[((long)mb * D + d) * pitch + l] = tile[tx][j];
    }
}

// out[r*pitch + l] = l < L ? in[r*L + l] : 0 for l < nfft; grid (rows, ceil(nfft/256)), block 256.
extern "C" __global__ void gcf_pad_rows(float* __restrict__ out, const float* __restrict__ in, int L, int nfft,
                                        int pitch) {
    const int l = blockIdx.y * blockDim.x + threadIdx.x;
    const long r = blockIdx.x;
    if (l < nfft) out[r * pitch + l] = l < L ? in[r * L + l] : 0.f;
}

// out[(mb*L + l)*D + d] = scale * x[(mb*D + d)*pitch + l] + Dskip[m, d] * skipIn[(mb*L + l)*D + d], l < L.
// x holds rows [MB*D][pitch]; grid (ceil(L/32), ceil(D/32), M*Bt); block (32, 8).
extern "C" __global__ void gcf_unpad_transpose(float* __restrict__ out, const float* __restrict__ x,
                                               const float* __restrict__ skipIn, const float* __restrict__ Dskip,
                                               int Bt, int L, int D, int pitch, float scale) {
    __shared__ float tile[32][33];
    const int l0 = blockIdx.x * 32, d0 = blockIdx.y * 32, mb = blockIdx.z, m = mb / Bt;
    const int tx = threadIdx.x, ty = threadIdx.y;
    for (int j = ty; j < 32; j += 8) {
        const int d = d0 + j, l = l0 + tx;
        tile[j][tx] = d < D && l < L ? x[((long)mb * D + d) * pitch + l] : 0.f;
    }
    __syncthreads();
    for (int j = ty; j < 32; j += 8) {
        const int l = l0 + j, d = d0 + tx;
        if (l < L && d < D) {
            const long idx = ((long)mb * L + l) * D + d;
            out[idx] = scale * tile[tx][j] + Dskip[m * D + d] * skipIn[idx];
        }
    }
}

// out[r*L + l] = scale * x[r*pitch + l]; grid (rows, ceil(L/256)), block 256.
extern "C" __global__ void gcf_unpad_rows(float* __restrict__ out, const float* __restrict__ x, int L, int pitch,
                                          float scale) {
    const int l = blockIdx.y * blockDim.x + threadIdx.x;
    const long r = blockIdx.x;
    if (l < L) out[r * L + l] = scale * x[r * pitch + l];
}

__device__ __forceinline__ float2 gc_cmul(float2 a, float2 b) {
    return make_float2(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x);
}

// a * conj(b)
__device__ __forceinline__ float2 gc_cmulc(float2 a, float2 b) {
    return make_float2(a.x * b.x + a.y * b.y, a.y * b.x - a.x * b.y);
}

// X [M][Bt][D][F] (complex) holds U on entry and Y = sum_k Kf[m,k] U[k] on exit; Kf [M*M][D][F].
// One thread per (d, f) and batch slice blockIdx.y (bPer samples), so each Kf value is read once
// per slice; the slices keep the GPU full where D * F alone would not.
template <int M>
__device__ void gcf_mul_fwd_impl(float2* __restrict__ X, const float2* __restrict__ Kf, int Bt, int D, int F, int bPer) {
    const long i = (long)blockIdx.x * blockDim.x + threadIdx.x, DF = (long)D * F;
    if (i >= DF) return;
    const int bBeg = blockIdx.y * bPer, bEnd = min(Bt, bBeg + bPer);
    float2 kf[M][M];
#pragma unroll
    for (int m = 0; m < M; m++)
#pragma unroll
        for (int k = 0; k < M; k++) kf[m][k] = Kf[(m * M + k) * DF + i];
    for (int b = bBeg; b < bEnd; b++) {
        float2 uk[M];
#pragma unroll
        for (int k = 0; k < M; k++) uk[k] = X[((long)k * Bt + b) * DF + i];
#pragma unroll
        for (int m = 0; m < M; m++) {
            float2 s = make_float2(0.f, 0.f);
#pragma unroll
            for (int k = 0; k < M; k++) {
                float2 p = gc_cmul(kf[m][k], uk[k]);
                s.x += p.x;
                s.y += p.y;
            }
            X[((long)m * Bt + b) * DF + i] = s;
        }
    }
}

// X holds DY on entry and DU = sum_m conj(Kf[m,k]) DY[m] on exit; U [M][Bt][D][F] is read;
// dK[g] [M*M][D][F] gets DK[m,k] = sum_b DY[m,b] conj(U[k,b]) over batch slice g = blockIdx.y. With one
// slice dK may be Kf itself (each thread reads its Kf values before it writes them), else the host
// sums the slices.
template <int M>
__device__ void gcf_mul_bwd_impl(float2* __restrict__ X, const float2* __restrict__ U, const float2* Kf, float2* dK,
                                 int Bt, int D, int F, int bPer) {
    const long i = (long)blockIdx.x * blockDim.x + threadIdx.x, DF = (long)D * F;
    if (i >= DF) return;
    const int bBeg = blockIdx.y * bPer, bEnd = min(Bt, bBeg + bPer);
    float2 kf[M][M], dk[M][M];
#pragma unroll
    for (int m = 0; m < M; m++)
#pragma unroll
        for (int k = 0; k < M; k++) {
            kf[m][k] = Kf[(m * M + k) * DF + i];
            dk[m][k] = make_float2(0.f, 0.f);
        }
    for (int b = bBeg; b < bEnd; b++) {
        float2 dy[M], uk[M];
#pragma unroll
        for (int m = 0; m < M; m++) {
            dy[m] = X[((long)m * Bt + b) * DF + i];
            uk[m] = U[((long)m * Bt + b) * DF + i];
        }
#pragma unroll
        for (int k = 0; k < M; k++) {
            float2 s = make_float2(0.f, 0.f);
#pragma unroll
            for (int m = 0; m < M; m++) {
                float2 p = gc_cmulc(dy[m], kf[m][k]);
                s.x += p.x;
                s.y += p.y;
            }
            X[((long)k * Bt + b) * DF + i] = s;
        }
#pragma unroll
        for (int m = 0; m < M; m++)
#pragma unroll
            for (int k = 0; k < M; k++) {
                float2 p = gc_cmulc(dy[m], uk[k]);
                dk[m][k].x += p.x;
                dk[m][k].y += p.y;
            }
    }
#pragma unroll
    for (int m = 0; m < M; m++)
#pragma unroll
        for (int k = 0; k < M; k++) dK[((long)blockIdx.y * M * M + m * M + k) * DF + i] = dk[m][k];
}

// ---------------------------------------------------------------------------------------------
// extern "C" entry points. Kernel materialisation: P (pairs per block) 1, 4 or 9. Direct
// convolution: MO / KG (modalities per block) 1 to 4. FFT products: M 1 to 4.

#define GCK_INSTANTIATE(P)                                                                                  \
    extern "C" __global__ void __launch_bounds__(GCK_THREADS) gck_fwd_p##P(                                 \
        float* K, const float* A, const float* delta, const float* B, const float* C, int M, int D, int N,  \
        int L) {                                                                                            \
        gck_fwd_impl<P>(K, A, delta, B, C, M, D, N, L);                                                     \
    }                                                                                                       \
    extern "C" __global__ void __launch_bounds__(GCB_THREADS) gck_bwd_partial_p##P(                         \
        float* part, const float* dK, const float* A, const float* delta, int M, int D, int N, int L,       \
        int lagsPerBlock) {                                                                                 \
        gck_bwd_partial_impl<P>(part, dK, A, delta, M, D, N, L, lagsPerBlock);                              \
    }
GCK_INSTANTIATE(1)
GCK_INSTANTIATE(4)
GCK_INSTANTIATE(9)

#define GCD_INSTANTIATE(G)                                                                                  \
    extern "C" __global__ void __launch_bounds__(32 * GCD_TY) gcd_conv_fwd_m##G(                            \
        float* out, const float* in, const float* K, const float* Dskip, int M, int Bt, int L, int D,       \
        int pairO, int pairI) {                                                                             \
        gcd_conv_impl<G, false>(out, in, K, Dskip, M, Bt, L, D, pairO, pairI);                              \
    }                                                                                                       \
    extern "C" __global__ void __launch_bounds__(32 * GCD_TY) gcd_conv_rev_m##G(                            \
        float* out, const float* in, const float* K, const float* Dskip, int M, int Bt, int L, int D,       \
        int pairO, int pairI) {                                                                             \
        gcd_conv_impl<G, true>(out, in, K, Dskip, M, Bt, L, D, pairO, pairI);                               \
    }                                                                                                       \
    extern "C" __global__ void __launch_bounds__(32 * GCD_TY) gcd_corr_m##G(                                \
        float* out, const float* dy, const float* u, int M, int Bt, int L, int D, int bGroups) {            \
        gcd_corr_impl<G>(out, dy, u, M, Bt, L, D, bGroups);                                                 \
    }                                                                                                       \
    extern "C" __global__ void gcf_mul_fwd_m##G(float2* X, const float2* Kf, int Bt, int D, int F,          \
                                                int bPer) {                                                 \
        gcf_mul_fwd_impl<G>(X, Kf, Bt, D, F, bPer);                                                         \
    }                                                                                                       \
    extern "C" __global__ void gcf_mul_bwd_m##G(float2* X, const float2* U, const float2* Kf, float2* dK,   \
                                                int Bt, int D, int F, int bPer) {                           \
        gcf_mul_bwd_impl<G>(X, U, Kf, dK, Bt, D, F, bPer);                                                  \
    }
GCD_INSTANTIATE(1)
GCD_INSTANTIATE(2)
GCD_INSTANTIATE(3)
GCD_INSTANTIATE(4)

// ---------------------------------------------------------------------------------------------
// Ceiling probe for the benchmark's roofline: 8 independent FMA chains per thread, so the FP32
// pipes, not latency, bound it. FLOPs = threads * iters * 8 * 2.
extern "C" __global__ void gc_fma_probe(float* __restrict__ out, int iters, float a, float b) {
    float x[8];
#pragma unroll
    for (int j = 0; j < 8; j++) x[j] = threadIdx.x * 1e-3f + j;
    for (int i = 0; i < iters; i++)
#pragma unroll
        for (int j = 0; j < 8; j++) x[j] = fmaf(x[j], a, b);
    float s = 0.f;
#pragma unroll
    for (int j = 0; j < 8; j++) s += x[j];
    out[(long)blockIdx.x * blockDim.x + threadIdx.x] = s;
}
