// Coupled selective scan, backward (MODEL.md "Backward of the coupled scan").
//
//   dy = dout * silu(z),  dz = dout * y * silu'(z),  g_t = dL/ds_t with g_{L-1} = dFinalState
//   H^m_t = dy^m_t C^m_t + g_t / M                        (everything reaching h^m_t)
//   g_{t-1} = sum_m Abar^m_t H^m_t  (= G_t g_t + sum_m Abar^m_t dy^m_t C^m_t)
//   ddelta = sum_n H (s_{t-1} Abar A + u B),  du = dy Dskip + delta sum_n H B,
//   dA = sum_{b,t} H s_{t-1} Abar delta,  dB_t = sum_d H u delta,
//   dC_t = sum_d dy h = sum_d dy Abar s_{t-1} + B_t sum_d dy delta u,  dDskip = sum_{b,t} dy u,
//   ddelta_pre = ddelta * sigmoid(delta_pre),  dInitialState = g_{-1}.
//
// Strategy. The thread layout of the forward (coupled_scan_common.cuh): a block owns a tile of DT
// channels with all their states and walks a group of samples one after the other. Per sample the
// time axis is taken in the forward's chunks of chunk_len steps, last chunk first, each starting
// from the state the forward saved (or the initial state). Inside a chunk, two levels:
//   pass 1 runs the recurrence forward over the chunk in sub-chunks of T steps and keeps the state
//          entering each sub-chunk (shared memory, in slots private to each thread);
//   pass 2 takes the sub-chunks last first: stages their inputs in shared memory, recomputes the T
//          states s_{t-1} (thread-private shared slots), then runs the reverse recurrence.
// Per reverse step each thread forms, for its NS states and every modality, the sums over its
// states that ddelta, du and y need, and its channel's terms of dB and dC; both go to shared
// memory. After a barrier the block sums the K partials of each channel (giving du, ddelta_pre, dz)
// and the DT channel terms of each state (this tile's share of dB and dC, added into the zeroed
// outputs with vector atomics: the tiles of a sample meet only there), and a second barrier frees
// the partials for the next step. One buffer with two barriers per step, rather than two buffers
// with one: the 17 KB saved (M = 3, N = 64) make room for a fourth block per multiprocessor, which the
// latency-bound reverse step needs more (bench/NOTES-scan.md, v9). Sums that would leave one warp busy
// while the others wait at the barrier are split over several lanes (cs_split). The states are kept
// scaled by M and g by 1/M, the exponentials giving Abar / M, so that the mean over the modalities
// costs no multiply per element in either direction.
// dA and dDskip are summed over the block's samples and steps in registers and shared memory and
// written once per block (partials that coupled_scan_sum_partials adds in a fixed order).
// Exponentials: 3 per (m, t, d, n) (pass 1, recompute, reverse); pass 1 is skipped when a chunk has
// a single sub-chunk.
#include "coupled_scan_common.cuh"

#ifndef CS_BWD_MIN_BLOCKS
#define CS_BWD_MIN_BLOCKS 3
#endif

// log2(M): the exponentials of the backward give Abar / M directly (exp2 of delta A log2 e - log2 M), so that
// the coupled mean's 1/M costs nothing per element (see advance and the reverse step)
template <int M>
__device__ constexpr float cs_log2_modalities() {
    return M == 1 ? 0.f : M == 2 ? 1.f : M == 3 ? 1.5849625f : M == 4 ? 2.f : M == 5 ? 2.32192809f
         : M == 6 ? 2.5849625f : M == 7 ? 2.80735492f : 3.f;
}

// How the block sums of a reverse step are shared out. There are ND sums over the tile's DT channels
// (dB, dC: one per modality, kind, state vector and lane slice) and NN sums over a channel's K lanes (du,
// ddelta, dz: one per modality and channel). Each sum may be split into P (resp. Q) parts taken by lanes
// of one warp and combined by shuffles; a warp works on one kind only (its lanes run one path, not
// both in turn). The split with the shortest busiest warp under a rough instruction count is taken:
// at N = 64 none (96 channel sums and 24 lane sums fill 4 warps as they are), at N = 16 the 24 channel
// sums over 32 channels in 4 parts (a profile of the unsplit version had one warp doing them all while
// the others waited at the step's barrier), at N = 256 the 6 lane sums over 64 lanes in 16 parts.
struct CsSplit {
    int P, Q;
};

__host__ __device__ constexpr int cs_log2i(int x) { return x <= 1 ? 0 : 1 + cs_log2i(x / 2); }

__host__ __device__ constexpr int cs_split_cost(int nd, int nn, int P, int Q, int threads, int DT, int K, int VW) {
    const int cD = (DT / P) * (VW + 1) + 2 * VW * cs_log2i(P) + 16;   // loads and adds, shuffles, atomic
    const int cN = (K / Q) * 4 + 6 * cs_log2i(Q) + 30;                // loads and adds, shuffles, epilogue
    const int total = nd * P + nn * Q;
    int worst = 0;
    for (int w = 0; w * 32 < threads; w++) {
        int c = 0;
        for (int lo = w * 32; lo < total; lo += threads) {
            const int hi = lo + 32 < total ? lo + 32 : total;
            if (lo < nd * P) c += cD;
            if (hi > nd * P) c += cN;
        }
        worst = c > worst ? c : worst;
    }
    return worst;
}

__host__ __device__ constexpr CsSplit cs_split(int nd, int nn, int threads, int DT, int K, int VW) {
    CsSplit best{1, 1};
    int bestCost = cs_split_cost(nd, nn, 1, 1, threads, DT, K, VW);
    if (threads % 32 != 0) return best;   // shuffles need whole warps
    for (int P = 1; P <= 32 && DT % P == 0; P *= 2) {
        if (P > 1 && (nd * P) % 32 != 0) continue;   // the parts of a channel sum fill whole warps
        for (int Q = 1; Q <= 32 && K % Q == 0; Q *= 2) {
            if (Q > 1 && ((nd * P) % 32 != 0 || (nn * Q) % 32 != 0)) continue;
            const int c = cs_split_cost(nd, nn, P, Q, threads, DT, K, VW);
            if (c < bestCost) {
                bestCost = c;
                best = CsSplit{P, Q};
            }
        }
    }
    return best;
}

template <int M, int NS, int T, int K, int DT>
__device__ __forceinline__ void coupled_scan_bwd_impl(const CoupledScanParams& p) {
    constexpr int VW = NS < 4 ? NS : 4;
    constexpr int NV = NS / VW;
    constexpr float INV_M = 1.f / M;
    constexpr int threads = DT * K, NP = K * NS;
    const int tid = threadIdx.x, c = tid / K, k = tid - c * K;
    const int d0 = blockIdx.x * DT, d = d0 + c;
    const int Bt = p.batch, L = p.length, D = p.channels, N = p.states;
    const bool dvalid = d < D;
    const int S = cs_partial_stride(DT, K);
    // reduction roles per step: nD dB/dC vector sums over channels, then nN channel sums over states,
    // split into P and Q parts (cs_split)
    constexpr int nD = M * 2 * NV * K, nN = M * DT;
    constexpr CsSplit SPLIT = cs_split(nD, nN, threads, DT, K, VW);
    constexpr int P = SPLIT.P, Q = SPLIT.Q;
    constexpr float LOG2M = cs_log2_modalities<M>();

    extern __shared__ float4 smem4[];
    float* sm = reinterpret_cast<float*>(smem4);
    const int rawSize = M * T * 4 * DT, bcSize = M * T * 2 * NP, nbuf = p.prefetch ? 2 : 1;
    float* const raw0 = sm;                            // nbuf x [M][T][4][DT]: delta_pre, u, z, dout
    float* const bc0 = raw0 + nbuf * rawSize;          // nbuf x [M][T][2][NP]: B, C interleaved
    float* bc = bc0;                                   // the buffer of the sub-chunk being worked on
    float4* xb = reinterpret_cast<float4*>(bc0 + nbuf * bcSize);   // [M][T][DT]: delta, delta*u, dy, u
    float2* xe = reinterpret_cast<float2*>(xb + M * T * DT);       // [M][T][DT]: dout*silu'(z), sigmoid(pre)
    float* cb = reinterpret_cast<float*>(xe + M * T * DT);         // [M][T] C.B
    float* sdd = cb + M * T;                                       // [M][T] sum_d dy*delta*u
    float* dsk = sdd + M * T;                                      // [M][DT] dDskip accumulators
    float* dpart = cb + ((2 * M * T + M * DT + 3) & ~3);          // [M][2][NV][threads][VW] dB, dC terms
    float4* npart = reinterpret_cast<float4*>(dpart + ((M * 2 * NS * threads + 3) & ~3));   // [M][K][S] (pa, hb, yq)
    float* sprev = reinterpret_cast<float*>(npart + M * K * S);                          // [T][NV][threads][VW]
    float* subst = sprev + T * NS * threads;                                      // [sub_chunks][NV][threads][VW]
    int4* items = reinterpret_cast<int4*>(subst + ((p.sub_chunks * NS * threads + 3) & ~3));   // [nD + nN] roles

    const long xStrideM = (long)Bt * L * D, bcStrideM = (long)Bt * L * N;
    const bool vecX = (D % 4 == 0) && (DT % 4 == 0) &&
                      (((size_t)p.u | (size_t)p.delta_pre | (size_t)p.z | (size_t)p.dout) % 16 == 0);
    const bool vecBC = NS >= 4 && (N % 4 == 0) && (((size_t)p.Bm | (size_t)p.Cm) % 16 == 0);
    const bool vecRed = (N % 4 == 0) && (((size_t)p.dB | (size_t)p.dC) % 16 == 0);
    const CsWalk xWalk = cs_walk(tid, threads, vecX ? DT / 4 : DT);
    const CsWalk bWalk = cs_walk(tid, threads, vecBC ? N / 4 : N);
    const int ec = tid % DT, er = tid / DT;        // rows er, er + K, .. of [M*T][DT]

    const bool vecN = (N % 4 == 0) && (((size_t)p.A | (size_t)p.initial_state | (size_t)p.chunk_states |
                                       (size_t)p.dfinal_state | (size_t)p.dinitial_state | (size_t)p.dA_part) % 16 == 0);
    float a2[M][NS], dA[M][NS];
#pragma unroll
    for (int m = 0; m < M; m++) {
        float av[NS];
        if (dvalid) cs_load_states<NS>(av, p.A + ((long)m * D + d) * N, k * NS, N, vecN);
#pragma unroll
        for (int i = 0; i < NS; i++) {
            a2[m][i] = dvalid ? av[i] * CS_LOG2E : 0.f;
            dA[m][i] = 0.f;
        }
    }
    // the block sums each thread does every reverse step, decoded once: dB/dC vector sums over the
    // channels (item < nD), then channel sums over the states (nN items), as int4 in shared memory
    for (int it = tid; it < nD + nN; it += threads) {
        int4 desc;
        if (it < nD) {
            const int kq = it % K, r = it / K, jv = r % NV, w = (r / NV) & 1, m = r / (2 * NV);
            desc = make_int4((((m * 2 + w) * NV + jv) * threads + kq) * VW, kq * NS + jv * VW, (m << 1) | w,
                             (m * T) * 2 * NP + (jv * K + kq) * VW);
        } else {   // the channel, the modality and Dskip there
            const int qn = it - nD, cc = qn % DT, m = qn / DT;
            desc = make_int4(cc, m, __float_as_int(d0 + cc < D ? p.Dskip[m * D + d0 + cc] : 0.f), 0);
        }
        items[it] = desc;
    }
    for (int e = tid; e < nbuf * bcSize; e += threads) bc0[e] = 0.f;
    for (int e = tid; e < M * DT; e += threads) dsk[e] = 0.f;
    __syncthreads();

    // a thread's NS states in its own slots of a [NV][threads][VW] area
    auto store_state = [&](float* area, const float (&st)[NS]) {
#pragma unroll
        for (int jv = 0; jv < NV; jv++) {
            float* q = area + (jv * threads + tid) * VW;
            if constexpr (VW == 4) *reinterpret_cast<float4*>(q) = make_float4(st[jv * 4], st[jv * 4 + 1], st[jv * 4 + 2], st[jv * 4 + 3]);
            else if constexpr (VW == 2) *reinterpret_cast<float2*>(q) = make_float2(st[jv * 2], st[jv * 2 + 1]);
            else q[0] = st[jv];
        }
    };
    auto load_state = [&](float (&st)[NS], const float* area) {
#pragma unroll
        for (int jv = 0; jv < NV; jv++) {
            const float* q = area + (jv * threads + tid) * VW;
            if constexpr (VW == 4) {
                float4 v = *reinterpret_cast<const float4*>(q);
                st[jv * 4] = v.x;
                st[jv * 4 + 1] = v.y;
                st[jv * 4 + 2] = v.z;
                st[jv * 4 + 3] = v.w;
            } else if constexpr (VW == 2) {
                float2 v = *reinterpret_cast<const float2*>(q);
                st[jv * 2] = v.x;
                st[jv * 2 + 1] = v.y;
            } else {
                st[jv] = q[0];
            }
        }
    };

    // one step of the forward recurrence at row t of the staged sub-chunk, on M s (the backward keeps the
    // states scaled by M): M s_t = (sum_m Abar^m / M) (M s_{t-1}) + sum_m delta u B, one multiply-add per state
    auto advance = [&](float (&st)[NS], int t) {
        float G[NS], V[NS];
#pragma unroll
        for (int m = 0; m < M; m++) {
            const float4 x = xb[(m * T + t) * DT + c];
            float Bv[NS];
            cs_load_slice<NS>(Bv, bc + (m * T + t) * 2 * NP, k, K);
#pragma unroll
            for (int i = 0; i < NS; i++) {
                float ab = cs_exp2(fmaf(x.x, a2[m][i], -LOG2M));   // Abar / M
                if (m == 0) {
                    G[i] = ab;
                    V[i] = x.y * Bv[i];
                } else {
                    G[i] += ab;
                    V[i] = fmaf(x.y, Bv[i], V[i]);
                }
            }
        }
#pragma unroll
        for (int i = 0; i < NS; i++) st[i] = fmaf(G[i], st[i], V[i]);
    };

    // out[r] = sum over the tile's channels of dy * delta * u, row r of xb (four threads per row)
    auto row_dy_du = [&](float* out) {
        if (threads & 3) {
            for (int r = tid; r < M * T; r += threads) {
                float acc = 0.f;
                for (int e = 0; e < DT; e++)
                    if (d0 + e < D) acc = fmaf(xb[r * DT + e].z, xb[r * DT + e].y, acc);
                out[r] = acc;
            }
            return;
        }
        const int warpLanes = threads % 32 == 0 ? 32 : min(32, threads - (tid & ~31));   // as cs_row_dots
        const unsigned mask = warpLanes == 32 ? 0xffffffffu : (1u << warpLanes) - 1u;
        for (int e0 = 0; e0 < M * T * 4; e0 += threads) {
            const int e = e0 + tid, r = e >> 2, qq = e & 3;
            float acc = 0.f;
            if (r < M * T)
                for (int cc = qq; cc < DT; cc += 4)
                    if (d0 + cc < D) acc = fmaf(xb[r * DT + cc].z, xb[r * DT + cc].y, acc);
            acc += __shfl_xor_sync(mask, acc, 1);
            acc += __shfl_xor_sync(mask, acc, 2);
            if (r < M * T && qq == 0) out[r] = acc;
        }
    };

    int qbuf = 0;   // staging buffer of the next sub-chunk
    const int b0 = blockIdx.y * p.batch_per_block, b1 = min(Bt, b0 + p.batch_per_block);
    for (int b = b0; b < b1; b++) {
        const int len = cs_length(p, b);
        const float* preB = p.delta_pre + (long)b * L * D;
        const float* uB = p.u + (long)b * L * D;
        const float* zB = p.z + (long)b * L * D;
        const float* doB = p.dout + (long)b * L * D;
        const float* BmB = p.Bm + (long)b * L * N;
        const float* CmB = p.Cm + (long)b * L * N;

        // steps past the sample's end: no gradient (dB and dC there stay zero)
        for (int e = tid; e < M * (L - len) * DT; e += threads) {
            int cc = e % DT, r = e / DT, m = r % M, tt = len + r / M;
            if (d0 + cc >= D) continue;
            long gi = (((long)m * Bt + b) * L + tt) * D + d0 + cc;
            p.du[gi] = 0.f;
            p.ddelta_pre[gi] = 0.f;
            p.dz[gi] = 0.f;
        }

        float g[NS];   // g / M, the part of each H^m_t that comes from g_t
        if (p.dfinal_state != nullptr && dvalid) {
            cs_load_states<NS>(g, p.dfinal_state + ((long)b * D + d) * N, k * NS, N, vecN);
#pragma unroll
            for (int i = 0; i < NS; i++) g[i] *= INV_M;
        } else {
#pragma unroll
            for (int i = 0; i < NS; i++) g[i] = 0.f;
        }

        // copies rows [t0, t0 + T) of the inputs into buffer q (full: all six, else delta_pre, u and B)
        auto issue = [&](int t0, int tEnd, bool full, int q) {
            float* raw = raw0 + q * rawSize;
            float* bcq = bc0 + q * bcSize;
            cs_stage_rows<M, T>(raw, 4 * DT, preB, xStrideM, t0, tEnd, D, d0, xWalk, vecX, 0, 4);
            cs_stage_rows<M, T>(raw + DT, 4 * DT, uB, xStrideM, t0, tEnd, D, d0, xWalk, vecX, 1, 4);
            cs_stage_bc<M, T, NS>(bcq, 2 * NP, BmB, bcStrideM, N, K, t0, tEnd, bWalk, vecBC, 0, 2);
            if (full) {
                cs_stage_rows<M, T>(raw + 2 * DT, 4 * DT, zB, xStrideM, t0, tEnd, D, d0, xWalk, vecX, 2, 4);
                cs_stage_rows<M, T>(raw + 3 * DT, 4 * DT, doB, xStrideM, t0, tEnd, D, d0, xWalk, vecX, 3, 4);
                cs_stage_bc<M, T, NS>(bcq + NP, 2 * NP, CmB, bcStrideM, N, K, t0, tEnd, bWalk, vecBC, 1, 2);
            }
            cs_cp_async_commit();
        };
        // once per (m, t, d) of buffer q: softplus, products, the gate's derivative
        auto transform = [&](bool full, int q) {
            const float* raw = raw0 + q * rawSize;
            cs_each_row<M, T, K>(er, [&](int r, int) {
                const float* rr = raw + r * 4 * DT + ec;
                float pre = rr[0], uu = rr[DT];
                float delta = cs_softplus(pre);
                if (full) {
                    float zz = rr[2 * DT], go = rr[3 * DT];
                    float sz = cs_sigmoid(zz);
                    xb[r * DT + ec] = make_float4(delta, delta * uu, go * zz * sz, uu);
                    xe[r * DT + ec] = make_float2(go * sz * fmaf(zz, 1.f - sz, 1.f), cs_sigmoid(pre));
                } else {
                    xb[r * DT + ec] = make_float4(delta, delta * uu, 0.f, uu);
                }
            });
        };

        // the block sums of reverse step t: dB, dC of this tile; du, ddelta_pre, dz
        // The work is laid out as nD * P channel-sum parts, then nN * Q lane-sum parts, thread tid taking
        // tid, tid + threads, ..; inside a warp the parts of one sum sit 32 / P (32 / Q) lanes apart, so
        // that a quarter warp reads 8 different sums' consecutive vectors and xor shuffles combine them.
        auto reduce = [&](int t, int tt) {
            const long rowN = ((long)b * L + tt) * N, rowD = ((long)b * L + tt) * D;
            for (int it = tid; it < nD * P + nN * Q; it += threads) {
                if (it < nD * P) {
                    int item = it, part = 0;
                    if constexpr (P > 1) {
                        const int lane = it & 31;
                        part = lane / (32 / P);
                        item = (it >> 5) * (32 / P) + lane % (32 / P);
                    }
                    const int4 desc = items[item];
                    const int m = desc.z >> 1, w = desc.z & 1, n0 = desc.y;
                    float acc[VW];
#pragma unroll
                    for (int e = 0; e < VW; e++) acc[e] = 0.f;
                    const float* src = dpart + desc.x + part * K * VW;
#pragma unroll 8
                    for (int cc = 0; cc < DT / P; cc++) {   // channels part, part + P, ..
                        const float* v = src + cc * P * K * VW;
                        if constexpr (VW == 4) {
                            float4 x4 = *reinterpret_cast<const float4*>(v);
                            acc[0] += x4.x;
                            acc[1] += x4.y;
                            acc[2] += x4.z;
                            acc[3] += x4.w;
                        } else {
#pragma unroll
                            for (int e = 0; e < VW; e++) acc[e] += v[e];
                        }
                    }
                    if constexpr (P > 1) {   // whole warps run this path (cs_split)
#pragma unroll
                        for (int o = 32 / P; o < 32; o <<= 1)
#pragma unroll
                            for (int e = 0; e < VW; e++) acc[e] += __shfl_xor_sync(0xffffffffu, acc[e], o);
                        if (part != 0) continue;
                    }
                    if (w == 1) {
                        const float* brow = bc + desc.w + t * 2 * NP;
                        const float sd = sdd[m * T + t];
#pragma unroll
                        for (int e = 0; e < VW; e++) acc[e] = fmaf(brow[e], sd, acc[e]);
                    }
                    float* dst = (w == 0 ? p.dB : p.dC) + m * bcStrideM + rowN + n0;
                    if constexpr (VW == 4) {
                        if (vecRed && n0 + 4 <= N) {
                            asm volatile("red.global.add.v4.f32 [%0], {%1, %2, %3, %4};" ::"l"(dst), "f"(acc[0]),
                                         "f"(acc[1]), "f"(acc[2]), "f"(acc[3]) : "memory");
                            continue;
                        }
                    }
#pragma unroll
                    for (int e = 0; e < VW; e++)
                        if (n0 + e < N) atomicAdd(dst + e, acc[e]);
                } else {
                    int item = it - nD * P, part = 0;
                    if constexpr (Q > 1) {
                        const int lane = item & 31;
                        part = lane / (32 / Q);
                        item = (item >> 5) * (32 / Q) + lane % (32 / Q);
                    }
                    const int4 desc = items[nD + item];
                    const int cc = desc.x, m = desc.y;
                    float pa = 0.f, hb = 0.f, yq = 0.f;
                    const float4* src = npart + m * K * S + cc + part * S;
#pragma unroll 16
                    for (int kk = 0; kk < K / Q; kk++) {   // lanes part, part + Q, ..
                        float4 v = src[kk * Q * S];
                        pa += v.x;
                        hb += v.y;
                        yq += v.z;
                    }
                    if constexpr (Q > 1) {
#pragma unroll
                        for (int o = 32 / Q; o < 32; o <<= 1) {
                            pa += __shfl_xor_sync(0xffffffffu, pa, o);
                            hb += __shfl_xor_sync(0xffffffffu, hb, o);
                            yq += __shfl_xor_sync(0xffffffffu, yq, o);
                        }
                        if (part != 0) continue;
                    }
                    if (d0 + cc >= D) continue;
                    const float4 x = xb[(m * T + t) * DT + cc];
                    const float2 xx = xe[(m * T + t) * DT + cc];
                    const float ds = __int_as_float(desc.z);
                    const float y = yq + x.y * cb[m * T + t] + ds * x.w;
                    const long gi = m * xStrideM + rowD + d0 + cc;
                    p.du[gi] = fmaf(x.z, ds, x.x * hb);
                    p.ddelta_pre[gi] = fmaf(pa, CS_LN2, x.w * hb) * xx.y;
                    p.dz[gi] = y * xx.x;
                    dsk[m * DT + cc] += x.z * x.w;
                }
            }
        };

        const int TS = p.chunk_len;
        const int nC = (len + TS - 1) / TS;
        for (int ci = nC - 1; ci >= 0; ci--) {
            const int tc0 = ci * TS, tc1 = min(len, tc0 + TS);
            const int nsub = (tc1 - tc0 + T - 1) / T;
            // the stagings of this chunk: pass 1 over sub-chunks 0 .. nsub-2, then pass 2 over nsub-1 .. 0;
            // each one's copies are issued while the one before is being computed
            const int nst = 2 * nsub - 1;
            auto sub_of = [&](int sIdx) { return sIdx < nsub - 1 ? sIdx : 2 * nsub - 2 - sIdx; };
            float st[NS];
            {
                const float* src0 = !dvalid ? nullptr
                                  : ci > 0 ? p.chunk_states + (((long)b * p.n_saved + ci - 1) * D + d) * N
                                  : p.initial_state != nullptr ? p.initial_state + ((long)b * D + d) * N : nullptr;
                if (src0 != nullptr) {
                    cs_load_states<NS>(st, src0, k * NS, N, vecN);
#pragma unroll
                    for (int i = 0; i < NS; i++) st[i] *= (float)M;
                } else {
#pragma unroll
                    for (int i = 0; i < NS; i++) st[i] = 0.f;
                }
                store_state(subst, st);
            }
            if (nbuf == 2) issue(tc0 + sub_of(0) * T, tc1, nsub == 1, qbuf);
            for (int sIdx = 0; sIdx < nst; sIdx++) {
                const bool pass1 = sIdx < nsub - 1;
                const int j = sub_of(sIdx);
                if (nbuf == 1) {
                    __syncthreads();   // every thread is done with the one buffer
                    issue(tc0 + j * T, tc1, !pass1, 0);
                }
                cs_cp_async_wait<0>();
                __syncthreads();   // buffer qbuf holds sub-chunk j; every thread is done with the last one
                bc = bc0 + qbuf * bcSize;
                // the other buffer is free (every thread is past the barrier): its copies get the transform's
                // time too (issued after it, they were still in flight at pass 1's short sub-chunks)
                if (nbuf == 2 && sIdx + 1 < nst) issue(tc0 + sub_of(sIdx + 1) * T, tc1, sIdx + 1 >= nsub - 1, qbuf ^ 1);
                transform(!pass1, qbuf);
                __syncthreads();
                if (pass1) {
                    // pass 1: the state entering sub-chunk j + 1
#pragma unroll
                    for (int t = 0; t < T; t++) advance(st, t);
                    store_state(subst + (j + 1) * NS * threads, st);
                } else {
                    const int ts0 = tc0 + j * T, steps = min(T, tc1 - ts0);
                    // C.B and sum_d dy*delta*u per row
                    cs_row_dots(cb, bc, 2 * NP, NP, NP, M * T, NP % 4 == 0, tid, threads);
                    row_dy_du(sdd);

                    // recompute s_{t-1} of the sub-chunk into this thread's slots of sprev
                    {
                        float sr[NS];
                        load_state(sr, subst + j * NS * threads);
#pragma unroll 1
                        for (int t = 0; t < steps; t++) {
                            store_state(sprev + t * NS * threads, sr);
                            if (t + 1 < steps) advance(sr, t);
                        }
                    }

                    // reverse steps, each followed by its block sums
#pragma unroll 1
                    for (int t = steps - 1; t >= 0; t--) {
                        float sp[NS], gn[NS];
                        load_state(sp, sprev + t * NS * threads);
#pragma unroll
                        for (int m = 0; m < M; m++) {
                            const float4 x = xb[(m * T + t) * DT + c];   // delta, delta*u, dy, u
                            float Bv[NS], Cv[NS], dBp[NS], dCp[NS];
                            cs_load_slice<NS>(Bv, bc + (m * T + t) * 2 * NP, k, K);
                            cs_load_slice<NS>(Cv, bc + (m * T + t) * 2 * NP + NP, k, K);
                            float pa = 0.f, hb = 0.f, yq = 0.f;
#pragma unroll
                            for (int i = 0; i < NS; i++) {
                                // with Abar / M and M s_{t-1}: qv = Abar s_{t-1}, gn = g_{t-1} / M
                                float ab = cs_exp2(fmaf(x.x, a2[m][i], -LOG2M));
                                float ht = fmaf(x.z, Cv[i], g[i]);
                                gn[i] = m == 0 ? ab * ht : fmaf(ab, ht, gn[i]);
                                float qv = ab * sp[i];
                                yq = fmaf(Cv[i], qv, yq);
                                float P = ht * qv;
                                pa = fmaf(P, a2[m][i], pa);
                                dA[m][i] = fmaf(P, x.x, dA[m][i]);
                                hb = fmaf(ht, Bv[i], hb);
                                dCp[i] = x.z * qv;
                                dBp[i] = ht * x.y;
                            }
#pragma unroll
                            for (int jv = 0; jv < NV; jv++) {
                                float* pb = dpart + (((m * 2 + 0) * NV + jv) * threads + tid) * VW;
                                float* pc = dpart + (((m * 2 + 1) * NV + jv) * threads + tid) * VW;
                                if constexpr (VW == 4) {
                                    *reinterpret_cast<float4*>(pb) = make_float4(dBp[jv * 4], dBp[jv * 4 + 1], dBp[jv * 4 + 2], dBp[jv * 4 + 3]);
                                    *reinterpret_cast<float4*>(pc) = make_float4(dCp[jv * 4], dCp[jv * 4 + 1], dCp[jv * 4 + 2], dCp[jv * 4 + 3]);
                                } else if constexpr (VW == 2) {
                                    *reinterpret_cast<float2*>(pb) = make_float2(dBp[jv * 2], dBp[jv * 2 + 1]);
                                    *reinterpret_cast<float2*>(pc) = make_float2(dCp[jv * 2], dCp[jv * 2 + 1]);
                                } else {
                                    pb[0] = dBp[jv];
                                    pc[0] = dCp[jv];
                                }
                            }
                            npart[(m * K + k) * S + c] = make_float4(pa, hb, yq, 0.f);
                        }
#pragma unroll
                        for (int i = 0; i < NS; i++) g[i] = gn[i];
                        __syncthreads();   // step t's partials are complete
                        reduce(t, ts0 + t);
                        __syncthreads();   // and read: step t-1 overwrites them
                    }
                }
                qbuf ^= nbuf - 1;
            }
        }
        if (p.dinitial_state != nullptr && dvalid) {
#pragma unroll
            for (int i = 0; i < NS; i++) g[i] *= (float)M;
            cs_store_states<NS>(p.dinitial_state + ((long)b * D + d) * N, g, k * NS, N, vecN);
        }
    }

    // this block's share of dA and dDskip
    if (dvalid) {
#pragma unroll
        for (int m = 0; m < M; m++)
            cs_store_states<NS>(p.dA_part + (((long)blockIdx.y * M + m) * D + d) * N, dA[m], k * NS, N, vecN);
    }
    __syncthreads();
    for (int e = tid; e < M * DT; e += threads) {
        int cc = e % DT, m = e / DT;
        if (d0 + cc < D) p.dDskip_part[((long)blockIdx.y * M + m) * D + d0 + cc] = dsk[e];
    }
}

// The instantiation the host asked for (CS_M, CS_NS, CS_T, CS_K, CS_DT defined before compiling this
// file); it must be launched with CS_K * CS_DT threads.
extern "C" __global__ void __launch_bounds__(128, CS_BWD_MIN_BLOCKS) coupled_scan_bwd(const CoupledScanParams p) {
    coupled_scan_bwd_impl<CS_M, CS_NS, CS_T, CS_K, CS_DT>(p);
}

// out[i] = sum_q part[q * size + i], q = 0 .. parts-1 in order (a deterministic reduction).
extern "C" __global__ void coupled_scan_sum_partials(float* __restrict__ out, const float* __restrict__ part,
                                                     long size, int parts) {
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < size; i += (long)gridDim.x * blockDim.x) {
        float acc = 0.f;
        for (int q = 0; q < parts; q++) acc += part[q * size + i];
        out[i] = acc;
    }
}
