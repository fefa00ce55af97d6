// Coupled selective scan, forward (MODEL.md "One coupled layer"), all M modalities in one launch.
//
//   delta = softplus(delta_pre), Abar^m = exp(delta^m A^m), Bbar^m = delta^m B^m
//   s_t = G_t s_{t-1} + V_t,  G_t = mean_m Abar^m_t,  V_t = mean_m Bbar^m_t u^m_t
//   y^m_t = C^m_t . (Abar^m_t s_{t-1} + Bbar^m_t u^m_t) + Dskip^m u^m_t,   out = y * silu(z)
//
// Strategy. One block per (channel tile, sample); threads (c, k) keep NS states of channel c in
// registers (layout in coupled_scan_common.cuh) and walk the time axis sequentially: the coupled
// recurrence is one scalar linear recurrence per (b, d, n), so B*D*N/NS threads run independent
// chains and no scan across threads is needed (B*D >= 12288 in every setting this serves). The
// time axis is cut into chunks of T steps; chunk i+1 is copied into shared memory (cp.async,
// double buffered) while chunk i is computed:
//   1. transform: once per (m, t, d), softplus and the products delta*u, Dskip*u, silu(z), and once
//      per (m, t) the dot product C.B (so that y = C.(Abar s) + (delta u)(C.B) + Dskip u needs one
//      multiply-add per state less);
//   2. recurrence: per step and state, M exponentials (ex2.approx of delta * A * log2 e, A
//      pre-scaled in registers), the partial y of the thread's NS states, then s from s_{t-1};
//   3. epilogue: the K partial y of a channel are summed from shared memory (no shuffles),
//      gated and written as consecutive channels.
// Every chunk_len steps the state entering the chunk is written to chunk_states for the backward,
// which recomputes the states in between; no [B, L, D, N] tensor exists. Past a sample's length
// the state is frozen and the output is 0.
#include "coupled_scan_common.cuh"

template <int M, int NS, int T>
__device__ __forceinline__ void coupled_scan_fwd_impl(const CoupledScanParams& p) {
    constexpr float INV_M = 1.f / M;
    const int K = p.lanes, threads = blockDim.x, DT = threads / K, NP = K * NS;
    const int tid = threadIdx.x, c = tid / K, k = tid - c * K;
    const int b = blockIdx.y, d0 = blockIdx.x * DT, d = d0 + c;
    const int Bt = p.batch, L = p.length, D = p.channels, N = p.states;
    const int len = cs_clamp_length(p.lengths, b, L);
    const bool dvalid = d < D;
    const int S = cs_partial_stride(DT, K);

    // shared memory carve-up (floats; every array 16-byte aligned)
    extern __shared__ float4 smem4[];
    float* sm = reinterpret_cast<float*>(smem4);
    const int rawSize = M * T * 3 * DT;            // [M][T][3][DT]: delta_pre, u, z
    const int bcSize = M * T * 2 * NP;             // [M][T][2][NP]: B, C interleaved
    float* const raw0 = sm;                        // buffer q at raw0 + q * rawSize
    float* const bc0 = sm + 2 * rawSize;           // buffer q at bc0 + q * bcSize
    float2* xf = reinterpret_cast<float2*>(sm + 2 * rawSize + 2 * bcSize);   // [M][T][DT] (delta, delta*u)
    float2* ep = xf + M * T * DT;                                              // [M][T][DT] (Dskip*u, silu z)
    float* cb = reinterpret_cast<float*>(ep + M * T * DT);                    // [M][T] C.B
    float* ypart = cb + ((M * T + 3) & ~3);                                    // [M][T][K][S]

    const long xStrideM = (long)Bt * L * D, bcStrideM = (long)Bt * L * N;
    const float* preB = p.delta_pre + (long)b * L * D;
    const float* uB = p.u + (long)b * L * D;
    const float* zB = p.z + (long)b * L * D;
    const float* BmB = p.Bm + (long)b * L * N;
    const float* CmB = p.Cm + (long)b * L * N;
    const bool vecX = (D % 4 == 0) && (DT % 4 == 0) && (((size_t)(p.u) | (size_t)(p.delta_pre) | (size_t)(p.z)) % 16 == 0);
    const bool vecBC = (N % 4 == 0) && (((size_t)(p.Bm) | (size_t)(p.Cm)) % 16 == 0);

    // registers: A * log2 e and the state
    float a2[M][NS], s[NS];
#pragma unroll
    for (int m = 0; m < M; m++)
#pragma unroll
        for (int i = 0; i < NS; i++) {
            int n = k * NS + i;
            a2[m][i] = dvalid && n < N ? p.A[((long)m * D + d) * N + n] * CS_LOG2E : 0.f;
        }
#pragma unroll
    for (int i = 0; i < NS; i++) {
        int n = k * NS + i;
        s[i] = p.initial_state != nullptr && dvalid && n < N ? p.initial_state[((long)b * D + d) * N + n] : 0.f;
    }

    // padding states of B and C stay zero: cp.async never writes them
    for (int e = tid; e < 2 * bcSize; e += threads) bc0[e] = 0.f;
    __syncthreads();

    auto issue = [&](int chunk, int buf) {
        int t0 = chunk * T;
        cs_stage_rows<M, T>((raw0 + buf * rawSize), 3 * DT, preB, xStrideM, L, t0, len, D, d0, DT, vecX, tid, threads);
        cs_stage_rows<M, T>((raw0 + buf * rawSize) + DT, 3 * DT, uB, xStrideM, L, t0, len, D, d0, DT, vecX, tid, threads);
        cs_stage_rows<M, T>((raw0 + buf * rawSize) + 2 * DT, 3 * DT, zB, xStrideM, L, t0, len, D, d0, DT, vecX, tid, threads);
        cs_stage_bc<M, T, NS>((bc0 + buf * bcSize), 2 * NP, BmB, bcStrideM, N, K, t0, len, vecBC, tid, threads);
        cs_stage_bc<M, T, NS>((bc0 + buf * bcSize) + NP, 2 * NP, CmB, bcStrideM, N, K, t0, len, vecBC, tid, threads);
        cs_cp_async_commit();
    };

    const int nChunks = (len + T - 1) / T;
    if (nChunks > 0) issue(0, 0);
    for (int ch = 0; ch < nChunks; ch++) {
        const int buf = ch & 1, t0 = ch * T;
        if (ch + 1 < nChunks) {
            issue(ch + 1, buf ^ 1);
            cs_cp_async_wait<1>();
        } else {
            cs_cp_async_wait<0>();
        }
        __syncthreads();

        // the state entering this chunk, for the backward
        if (ch > 0 && t0 % p.chunk_len == 0 && dvalid) {
            float* dst = p.chunk_states + (((long)b * p.n_saved + t0 / p.chunk_len - 1) * D + d) * N;
#pragma unroll
            for (int i = 0; i < NS; i++)
                if (k * NS + i < N) dst[k * NS + i] = s[i];
        }

        // 1. transform
        const float* rw = (raw0 + buf * rawSize);
        for (int e = tid; e < M * T * DT; e += threads) {
            int cc = e % DT, r = e / DT;   // r = m*T + t
            int m = r / T;
            float pre = rw[r * 3 * DT + cc], uu = rw[r * 3 * DT + DT + cc], zz = rw[r * 3 * DT + 2 * DT + cc];
            float delta = cs_softplus(pre);
            float dsk = d0 + cc < D ? p.Dskip[m * D + d0 + cc] : 0.f;
            xf[r * DT + cc] = make_float2(delta, delta * uu);
            ep[r * DT + cc] = make_float2(dsk * uu, zz * cs_sigmoid(zz));
        }
        // C.B per row, by the block's full warps (lanes over states, then a shuffle sum)
        {
            const int warp = tid >> 5, lane = tid & 31, nwarps = threads >> 5;
            const float* bcr = bc0 + buf * bcSize;
            if (nwarps == 0) {
                for (int r = tid; r < M * T; r += threads) {
                    float acc = 0.f;
                    for (int q = 0; q < NP; q++) acc = fmaf(bcr[r * 2 * NP + q], bcr[r * 2 * NP + NP + q], acc);
                    cb[r] = acc;
                }
            } else if (warp < nwarps) {
                for (int r = warp; r < M * T; r += nwarps) {
                    const float* row = bcr + r * 2 * NP;
                    float acc = 0.f;
                    for (int q = lane; q < NP; q += 32) acc = fmaf(row[q], row[NP + q], acc);
#pragma unroll
                    for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
                    if (lane == 0) cb[r] = acc;
                }
            }
        }
        __syncthreads();

        // 2. recurrence
        const float* bcb = (bc0 + buf * bcSize);
        const int steps = min(T, len - t0);
        for (int t = 0; t < steps; t++) {
            float G[NS], V[NS];
#pragma unroll
            for (int m = 0; m < M; m++) {
                const float2 dd = xf[(m * T + t) * DT + c];
                float Bv[NS], Cv[NS];
                cs_load_slice<NS>(Bv, bcb + (m * T + t) * 2 * NP, k, K);
                cs_load_slice<NS>(Cv, bcb + (m * T + t) * 2 * NP + NP, k, K);
                float yp = 0.f;
#pragma unroll
                for (int i = 0; i < NS; i++) {
                    float ab = cs_exp2(dd.x * a2[m][i]);
                    yp = fmaf(Cv[i], ab * s[i], yp);
                    if (m == 0) {
                        G[i] = ab;
                        V[i] = dd.y * Bv[i];
                    } else {
                        G[i] += ab;
                        V[i] = fmaf(dd.y, Bv[i], V[i]);
                    }
                }
                ypart[((m * T + t) * K + k) * S + c] = yp;
            }
#pragma unroll
            for (int i = 0; i < NS; i++) s[i] = fmaf(G[i], s[i], V[i]) * INV_M;
        }
        __syncthreads();

        // 3. epilogue
        for (int e = tid; e < M * T * DT; e += threads) {
            int cc = e % DT, r = e / DT, t = r % T, m = r / T;
            int tt = t0 + t;
            if (tt >= L || d0 + cc >= D) continue;
            float o = 0.f;
            if (tt < len) {
                float y = 0.f;
                const float* yr = ypart + r * K * S + cc;
                for (int q = 0; q < K; q++) y += yr[q * S];
                float2 x = xf[r * DT + cc], g = ep[r * DT + cc];
                o = (y + x.y * cb[r] + g.x) * g.y;
            }
            p.out[(((long)m * Bt + b) * L + tt) * D + d0 + cc] = o;
        }
    }

    // steps past the processed chunks (the sample ended): output 0
    for (int e = tid; e < M * (L - nChunks * T) * DT; e += threads) {
        int cc = e % DT, r = e / DT, m = r % M, tt = nChunks * T + r / M;
        if (d0 + cc < D) p.out[(((long)m * Bt + b) * L + tt) * D + d0 + cc] = 0.f;
    }
    if (p.final_state != nullptr && dvalid) {
#pragma unroll
        for (int i = 0; i < NS; i++)
            if (k * NS + i < N) p.final_state[((long)b * D + d) * N + k * NS + i] = s[i];
    }
}

// Shared memory of one block, in bytes (the host computes the same).
// floats: 2*M*T*3*DT + 2*M*T*2*NP + 4*M*T*DT + round4(M*T) + M*T*K*S

template <int M, int NS, int T>
__global__ void __launch_bounds__(256) coupled_scan_fwd(const CoupledScanParams p) {
    coupled_scan_fwd_impl<M, NS, T>(p);
}
