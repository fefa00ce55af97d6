// Coupled selective scan, forward (MODEL.md "One coupled layer"), all M modalities in one launch.
//
//   delta = softplus(delta_pre), Abar^m = exp(delta^m A^m), Bbar^m = delta^m B^m
//   s_t = G_t s_{t-1} + V_t,  G_t = mean_m Abar^m_t,  V_t = mean_m Bbar^m_t u^m_t
//   y^m_t = C^m_t . (Abar^m_t s_{t-1} + Bbar^m_t u^m_t) + Dskip^m u^m_t,   out = y * silu(z)
//
// Strategy. One block per (channel tile, sample) (grid x: tiles; y and z: samples); threads (c, k)
// keep NS states of channel c in registers (layout in coupled_scan_common.cuh; here the channel runs
// fastest, tid = k*DT + c: two neighbouring lanes then read the same B and C slice, and shared memory
// returns such pair-uniform 16-byte loads in half the cycles: 26% fewer shared-memory wavefronts,
// bench/NOTES-scan.md v10) and walk the time axis sequentially: the coupled
// recurrence is one scalar linear recurrence per (b, d, n), so B*D*N/NS threads run independent
// chains and no scan across threads is needed (B*D >= 12288 in every setting this serves). The
// time axis is cut into chunks of T steps; chunk i+1 is copied into shared memory (double buffered)
// while chunk i is computed: with tensor maps (p.tensor_maps, sm_90 on), one thread issues 5*M boxes of T rows
// (delta_pre, u, z of the tile's DT channels; B, C of all N states) that complete on one mbarrier per
// buffer; without (older devices, D or N not a multiple of 4), every thread issues cp.async copies:
//   1. transform: once per (m, t, d), softplus and the products delta*u/M, Dskip*u, silu(z), and once
//      per (m, t) the dot product C.B (so that y = C.(Abar s) + (delta u)(C.B) + Dskip u needs one
//      multiply-add per state less);
//   2. recurrence: per step and state, M exponentials (ex2.approx of delta * A * log2 e, A
//      pre-scaled in registers), the partial y of the thread's NS states, then s from s_{t-1};
//   3. epilogue: the K partial y of a channel are summed from shared memory (no shuffles),
//      gated and written as consecutive channels. The partials of step (m, t) are one row indexed by
//      tid (conflict-free writes), rows padded so that the epilogue's lanes, which read 32/DT
//      consecutive rows, meet distinct banks.
// Every chunk_len steps the state entering the chunk is written to chunk_states for the backward,
// which recomputes the states in between (none for inference, n_saved = 0); no [B, L, D, N] tensor exists. Past a sample's length
// the state is frozen and the output is 0.
//
// Shared memory (floats): 32 (two mbarriers; the boxes stay 128-byte aligned) + 2*M*T*3*DT + 2*M*T*2*NP
// + 4*M*T*DT + round4(M*T) + M*T*cs_ypart_row(DT, K); the host computes the same.
#include "coupled_scan_common.cuh"

// Register budget: at least CS_FWD_MIN_BLOCKS blocks of CS_FWD_THREADS threads per multiprocessor.
#ifndef CS_FWD_THREADS
#define CS_FWD_THREADS 256
#endif
#ifndef CS_FWD_MIN_BLOCKS
#define CS_FWD_MIN_BLOCKS 1
#endif

template <int M, int NS, int T, int K, int DT>
__device__ __forceinline__ void coupled_scan_fwd_impl(const CoupledScanParams& p, const CsTensorMaps& tm) {
    constexpr float INV_M = 1.f / M;
    constexpr int threads = DT * K, NP = K * NS;
    const int tid = threadIdx.x, k = tid / DT, c = tid - k * DT;   // channel fastest (above)
    const int b = blockIdx.z * gridDim.y + blockIdx.y, d0 = blockIdx.x * DT, d = d0 + c;   // z: B > 65535
    const int Bt = p.batch, L = p.length, D = p.channels, N = p.states;
    if (b >= Bt) return;
    const int len = cs_length(p, b);
    const bool dvalid = d < D;
    constexpr int RS = cs_ypart_row(DT, K);

    extern __shared__ __align__(128) float4 smem4[];
    unsigned long long* const bars = reinterpret_cast<unsigned long long*>(smem4);   // one per staging buffer
    float* sm = reinterpret_cast<float*>(smem4) + 32;   // 128 bytes: the boxes stay 128-byte aligned
    const int rawSize = M * T * 3 * DT;            // [3][M][T][DT]: delta_pre, u, z (a box per tensor and m)
    const int bcSize = M * T * 2 * NP;             // [2][M][T][NP]: B, C in natural order
    float* const raw0 = sm;                        // buffer q at raw0 + q * rawSize
    float* const bc0 = sm + 2 * rawSize;           // buffer q at bc0 + q * bcSize
    float2* xf = reinterpret_cast<float2*>(sm + 2 * rawSize + 2 * bcSize);   // [M][T][DT] (delta, delta*u)
    float2* ep = xf + M * T * DT;                                              // [M][T][DT] (Dskip*u, silu z)
    float* cb = reinterpret_cast<float*>(ep + M * T * DT);                    // [M][T] C.B
    float* ypart = cb + ((M * T + 3) & ~3);                                    // [M][T] rows of RS: [K][DT]

    const long xStrideM = (long)Bt * L * D, bcStrideM = (long)Bt * L * N;
    const float* preB = p.delta_pre + (long)b * L * D;
    const float* uB = p.u + (long)b * L * D;
    const float* zB = p.z + (long)b * L * D;
    const float* BmB = p.Bm + (long)b * L * N;
    const float* CmB = p.Cm + (long)b * L * N;
    const bool vecX = (D % 4 == 0) && (DT % 4 == 0) && (((size_t)p.u | (size_t)p.delta_pre | (size_t)p.z) % 16 == 0);
    const bool vecBC = NS >= 4 && (N % 4 == 0) && (((size_t)p.Bm | (size_t)p.Cm) % 16 == 0);
    // each thread's share of the staging copies and of the per-(m, t, d) work, fixed for the kernel
    const CsWalk xWalk = cs_walk(tid, threads, vecX ? DT / 4 : DT);
    const CsWalk bWalk = cs_walk(tid, threads, vecBC ? N / 4 : N);
    const int ec = tid % DT, er = tid / DT;        // rows er, er + K, .. of [M*T][DT] (threads = DT*K)
    float* const outB = p.out + (long)b * L * D + d0 + ec;   // column ec of sample b's output

    // 16-byte access to rows of N states (A, the states) when N and every pointer allow it
    const bool vecN = (N % 4 == 0) && (((size_t)p.A | (size_t)p.initial_state | (size_t)p.final_state |
                                       (size_t)p.chunk_states) % 16 == 0);
    float a2[M][NS], s[NS];
#pragma unroll
    for (int m = 0; m < M; m++) {
        float av[NS];
        if (dvalid) cs_load_states<NS>(av, p.A + ((long)m * D + d) * N, k * NS, N, vecN);
#pragma unroll
        for (int i = 0; i < NS; i++) a2[m][i] = dvalid ? av[i] * CS_LOG2E : 0.f;
    }
    if (p.initial_state != nullptr && dvalid) {
        cs_load_states<NS>(s, p.initial_state + ((long)b * D + d) * N, k * NS, N, vecN);
    } else {
#pragma unroll
        for (int i = 0; i < NS; i++) s[i] = 0.f;
    }

    // padding states of B and C stay zero: no copy writes them
    for (int e = tid; e < 2 * bcSize; e += threads) bc0[e] = 0.f;
    // tensor-map staging where every box is whole rows of 16-byte multiples at 128-byte aligned places
    const bool tma = CS_HAVE_TMA && p.tensor_maps && vecX && vecBC && N == NP && (T * DT) % 32 == 0 &&
                     (T * NP) % 32 == 0;
    if (tma && tid == 0) {
        cs_mbar_init(bars, 1);
        cs_mbar_init(bars + 1, 1);
    }
    if (tma) cs_fence_bulk();   // the zeros and the inits come before any box
    __syncthreads();

    // chunk's rows into buffer chunk & 1: boxes completing on bars[chunk & 1] (rows past L and channels
    // past D zero-filled by the TMA unit), or cp.async copies (rows past the sample's end zero-filled)
    auto issue = [&](int chunk) {
        const int t0 = chunk * T, q = chunk & 1;
        float* raw = raw0 + q * rawSize;
        float* bc = bc0 + q * bcSize;
        if (tma) {
            if (tid == 0) {
                cs_mbar_expect(bars + q, (unsigned)(M * T * (3 * DT + 2 * NP) * 4));
#pragma unroll
                for (int m = 0; m < M; m++) {
#pragma unroll
                    for (int w = 0; w < 3; w++) cs_tma4(raw + (w * M + m) * T * DT, tm.map[w], d0, t0, b, m, bars + q);
#pragma unroll
                    for (int w = 0; w < 2; w++) cs_tma4(bc + (w * M + m) * T * NP, tm.map[3 + w], 0, t0, b, m, bars + q);
                }
            }
            return;
        }
        // not rotated (part 0 of 1): rotating cost the paper's instantiation 20 bytes of register spill
        cs_stage_rows<M, T>(raw, DT, preB, xStrideM, t0, len, D, d0, xWalk, vecX, 0, 1);
        cs_stage_rows<M, T>(raw + M * T * DT, DT, uB, xStrideM, t0, len, D, d0, xWalk, vecX, 0, 1);
        cs_stage_rows<M, T>(raw + 2 * M * T * DT, DT, zB, xStrideM, t0, len, D, d0, xWalk, vecX, 0, 1);
        cs_stage_rows<M, T>(bc, NP, BmB, bcStrideM, t0, len, N, 0, bWalk, vecBC, 0, 1);
        cs_stage_rows<M, T>(bc + M * T * NP, NP, CmB, bcStrideM, t0, len, N, 0, bWalk, vecBC, 0, 1);
        cs_cp_async_commit();
    };

    // one step of the recurrence at row t of the staged chunk. The products Abar^m s_{t-1} serve y^m and,
    // summed over m, G_t s_{t-1}; with delta u pre-scaled by 1/M (transform), s_t = (sum_m Abar^m s_{t-1}) / M
    // + V_t is one multiply-add per state and step
    auto step = [&](const float* bcb, int t) {
        float G[NS], V[NS];   // G: sum_m Abar^m s_{t-1}; V: sum_m (delta u / M) B
#pragma unroll
        for (int m = 0; m < M; m++) {
            const float2 dd = xf[(m * T + t) * DT + c];
            float Bv[NS], Cv[NS];
            cs_load_run<NS>(Bv, bcb + (m * T + t) * NP + k * NS);
            cs_load_run<NS>(Cv, bcb + (M * T + m * T + t) * NP + k * NS);
            float yp[2] = {0.f, 0.f};   // two chains: half the dependent latency
#pragma unroll
            for (int i = 0; i < NS; i++) {
                const float as = cs_exp2(dd.x * a2[m][i]) * s[i];
                yp[i & 1] = fmaf(Cv[i], as, yp[i & 1]);
                if (m == 0) {
                    G[i] = as;
                    V[i] = dd.y * Bv[i];
                } else {
                    G[i] += as;
                    V[i] = fmaf(dd.y, Bv[i], V[i]);
                }
            }
            ypart[(m * T + t) * RS + tid] = yp[0] + yp[1];
        }
#pragma unroll
        for (int i = 0; i < NS; i++) s[i] = fmaf(G[i], INV_M, V[i]);
    };

    const int nChunks = (len + T - 1) / T;
    if (nChunks > 0) issue(0);
    for (int ch = 0; ch < nChunks; ch++) {
        const int q = ch & 1, t0 = ch * T;
        cs_cp_async_wait<0>();
        if (tma) cs_mbar_wait(bars + q, (ch >> 1) & 1);   // its (ch / 2)-th use
        __syncthreads();   // chunk ch is in shared memory; every thread is past the last epilogue
        if (ch + 1 < nChunks) issue(ch + 1);

        // the state entering this chunk, for the backward
        if (p.n_saved > 0 && ch > 0 && t0 % p.chunk_len == 0 && dvalid)
            cs_store_states<NS>(p.chunk_states + (((long)b * p.n_saved + t0 / p.chunk_len - 1) * D + d) * N, s, k * NS, N, vecN);

        // 1. transform
        {
            const float* raw = raw0 + q * rawSize;
            cs_each_row<M, T, K>(er, [&](int r, int m) {
                const float* rr = raw + r * DT + ec;
                float pre = rr[0], uu = rr[M * T * DT], zz = rr[2 * M * T * DT];
                float delta = cs_softplus(pre);
                float dsk = d0 + ec < D ? p.Dskip[m * D + d0 + ec] : 0.f;
                xf[r * DT + ec] = make_float2(delta, delta * uu * INV_M);
                ep[r * DT + ec] = make_float2(dsk * uu, zz * cs_sigmoid(zz));
            });
        }
        cs_row_dots(cb, bc0 + q * bcSize, NP, M * T * NP, NP, M * T, NP % 4 == 0, tid, threads);   // C.B per row
        __syncthreads();

        // 2. recurrence
        {
            const float* bcb = bc0 + q * bcSize;
            const int steps = min(T, len - t0);
            if (steps == T) {
#pragma unroll
                for (int t = 0; t < T; t++) step(bcb, t);
            } else {
#pragma unroll 1
                for (int t = 0; t < steps; t++) step(bcb, t);
            }
        }
        __syncthreads();

        // 3. epilogue
        if (d0 + ec < D) {
            float* const outRow = outB + (long)(t0 + er) * D;   // row er of the chunk
            cs_each_row<M, T, K>(er, [&](int r, int m) {
                const int t = r - m * T, tt = t0 + t;
                if (tt >= L) return;
                float o = 0.f;
                if (tt < len) {
                    const float* yr = ypart + r * RS + ec;
                    float y = yr[0];
#pragma unroll
                    for (int e = 1; e < K; e++) y += yr[e * DT];
                    float2 x = xf[r * DT + ec], g = ep[r * DT + ec];
                    o = (y + x.y * (float)M * cb[r] + g.x) * g.y;   // x.y is delta u / M
                }
                outRow[m * xStrideM + (long)(t - er) * D] = o;
            });
        }
    }
    // steps past the processed chunks (the sample ended): output 0
    for (int e = tid; e < M * (L - nChunks * T) * DT; e += threads) {
        int cc = e % DT, r = e / DT, m = r % M, tt = nChunks * T + r / M;
        if (d0 + cc < D) p.out[(((long)m * Bt + b) * L + tt) * D + d0 + cc] = 0.f;
    }
    if (p.final_state != nullptr && dvalid) cs_store_states<NS>(p.final_state + ((long)b * D + d) * N, s, k * NS, N, vecN);
}

// The instantiation the host asked for (CS_M, CS_NS, CS_T, CS_K, CS_DT defined before compiling this
// file); it must be launched with CS_K * CS_DT threads.
extern "C" __global__ void __launch_bounds__(CS_FWD_THREADS, CS_FWD_MIN_BLOCKS) coupled_scan_fwd(const CoupledScanParams p,
                                                                                         const CS_GRID_CONSTANT CsTensorMaps tm) {
    coupled_scan_fwd_impl<CS_M, CS_NS, CS_T, CS_K, CS_DT>(p, tm);
}
