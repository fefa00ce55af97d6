// Coupled selective scan, backward (MODEL.md "Backward of the coupled scan").
//
//   dy = dout * silu(z),  dz = dout * y * silu'(z),  g_t = dL/ds_t with g_{L-1} = dFinalState
//   H^m_t = dy^m_t C^m_t + g_t / M                        (everything reaching h^m_t)
//   g_{t-1} = G_t g_t + sum_m Abar^m_t dy^m_t C^m_t
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
//          entering each sub-chunk (in shared memory, in slots private to each thread);
//   pass 2 takes the sub-chunks last first: stages their inputs in shared memory, recomputes the T
//          states s_{t-1} into registers, then runs the reverse recurrence step by step.
// Per reverse step each thread forms, for its NS states and every modality, the sums over its
// states that ddelta, du and y need, and the terms of dB and dC of its channel. Both go to shared
// memory; after one barrier the block sums the K partials of each channel (giving du, ddelta_pre,
// dz) and the DT channel terms of each state (giving this tile's part of dB and dC: added with
// atomics, or written as per-tile partials that coupled_scan_sum_partials adds in a fixed order).
// dA and dDskip are summed over the block's samples and steps in registers / shared memory and
// written once per block as partials. Exponentials: 3 per (m, t, d, n) (pass 1, recompute, reverse);
// pass 1 is skipped when a chunk has a single sub-chunk.
#include "coupled_scan_common.cuh"

template <int M, int NS, int T>
__device__ __forceinline__ void coupled_scan_bwd_impl(const CoupledScanParams& p) {
    constexpr int VW = NS < 4 ? NS : 4;
    constexpr int NV = NS / VW;
    constexpr float INV_M = 1.f / M;
    const int K = p.lanes, threads = blockDim.x, DT = threads / K, NP = K * NS;
    const int tid = threadIdx.x, c = tid / K, k = tid - c * K;
    const int tile = blockIdx.x, d0 = tile * DT, d = d0 + c;
    const int Bt = p.batch, L = p.length, D = p.channels, N = p.states;
    const bool dvalid = d < D;
    const int S = cs_partial_stride(DT, K);

    extern __shared__ float4 smem4[];
    float* sm = reinterpret_cast<float*>(smem4);
    float* raw = sm;                                   // [M][T][4][DT]: delta_pre, u, z, dout
    float* bc = raw + M * T * 4 * DT;                  // [M][T][2][NP]: B, C interleaved
    float4* xb = reinterpret_cast<float4*>(bc + M * T * 2 * NP);   // [M][T][DT]: delta, delta*u, dy, u
    float2* xe = reinterpret_cast<float2*>(xb + M * T * DT);       // [M][T][DT]: dout*silu'(z), sigmoid(pre)
    float* cb = reinterpret_cast<float*>(xe + M * T * DT);         // [M][T] C.B
    float* sdd = cb + M * T;                                       // [M][T] sum_d dy*delta*u
    float* dsk = sdd + M * T;                                      // [M][DT] dDskip accumulators
    float* dpart = cb + ((2 * M * T + M * DT + 3) & ~3);          // [M][2][NV][threads][VW]
    float* npart = dpart + M * 2 * NS * threads;                   // [M][3][K][S]
    float* sprev = npart + ((M * 3 * K * S + 3) & ~3);             // [T][NV][threads][VW] s_{t-1}, per thread
    float* subst = sprev + T * NS * threads;                       // [sub_chunks][NV][threads][VW] sub-chunk entries

    const long xStrideM = (long)Bt * L * D, bcStrideM = (long)Bt * L * N;
    const long bcTile = (long)M * Bt * L * N;
    const bool vecX = (D % 4 == 0) && (DT % 4 == 0) &&
                      (((size_t)p.u | (size_t)p.delta_pre | (size_t)p.z | (size_t)p.dout) % 16 == 0);
    const bool vecBC = (N % 4 == 0) && (((size_t)p.Bm | (size_t)p.Cm | (size_t)p.dB | (size_t)p.dC) % 16 == 0);

    float a2[M][NS], dA[M][NS];
#pragma unroll
    for (int m = 0; m < M; m++)
#pragma unroll
        for (int i = 0; i < NS; i++) {
            int n = k * NS + i;
            a2[m][i] = dvalid && n < N ? p.A[((long)m * D + d) * N + n] * CS_LOG2E : 0.f;
            dA[m][i] = 0.f;
        }
    for (int e = tid; e < M * T * 2 * NP; e += threads) bc[e] = 0.f;
    for (int e = tid; e < M * DT; e += threads) dsk[e] = 0.f;
    __syncthreads();

    const int b0 = blockIdx.y * p.batch_per_block, b1 = min(Bt, b0 + p.batch_per_block);
    for (int b = b0; b < b1; b++) {
        const int len = cs_clamp_length(p.lengths, b, L);
        const float* preB = p.delta_pre + (long)b * L * D;
        const float* uB = p.u + (long)b * L * D;
        const float* zB = p.z + (long)b * L * D;
        const float* doB = p.dout + (long)b * L * D;
        const float* BmB = p.Bm + (long)b * L * N;
        const float* CmB = p.Cm + (long)b * L * N;

        // steps past the sample's end: no gradient
        for (int e = tid; e < M * (L - len) * DT; e += threads) {
            int cc = e % DT, r = e / DT, m = r % M, tt = len + r / M;
            if (d0 + cc >= D) continue;
            long gi = (((long)m * Bt + b) * L + tt) * D + d0 + cc;
            p.du[gi] = 0.f;
            p.ddelta_pre[gi] = 0.f;
            p.dz[gi] = 0.f;
        }
        if (p.reduce_mode == 1)
            for (int e = tid; e < M * (L - len) * N; e += threads) {
                int n = e % N, r = e / N, m = r % M, tt = len + r / M;
                long gi = tile * bcTile + (((long)m * Bt + b) * L + tt) * N + n;
                p.dB[gi] = 0.f;
                p.dC[gi] = 0.f;
            }

        float g[NS];
#pragma unroll
        for (int i = 0; i < NS; i++) {
            int n = k * NS + i;
            g[i] = p.dfinal_state != nullptr && dvalid && n < N ? p.dfinal_state[((long)b * D + d) * N + n] : 0.f;
        }

        // stages rows [t0, t0 + T) of the inputs (full: all six; else delta_pre, u, B) and transforms them
        auto stage = [&](int t0, int tEnd, bool full) {
            cs_stage_rows<M, T>(raw, 4 * DT, preB, xStrideM, L, t0, tEnd, D, d0, DT, vecX, tid, threads);
            cs_stage_rows<M, T>(raw + DT, 4 * DT, uB, xStrideM, L, t0, tEnd, D, d0, DT, vecX, tid, threads);
            cs_stage_bc<M, T, NS>(bc, 2 * NP, BmB, bcStrideM, N, K, t0, tEnd, vecBC, tid, threads);
            if (full) {
                cs_stage_rows<M, T>(raw + 2 * DT, 4 * DT, zB, xStrideM, L, t0, tEnd, D, d0, DT, vecX, tid, threads);
                cs_stage_rows<M, T>(raw + 3 * DT, 4 * DT, doB, xStrideM, L, t0, tEnd, D, d0, DT, vecX, tid, threads);
                cs_stage_bc<M, T, NS>(bc + NP, 2 * NP, CmB, bcStrideM, N, K, t0, tEnd, vecBC, tid, threads);
            }
            cs_cp_async_commit();
            cs_cp_async_wait<0>();
            __syncthreads();
            for (int e = tid; e < M * T * DT; e += threads) {
                int cc = e % DT, r = e / DT;
                const float* rr = raw + r * 4 * DT + cc;
                float pre = rr[0], uu = rr[DT];
                float delta = cs_softplus(pre);
                if (full) {
                    float zz = rr[2 * DT], go = rr[3 * DT];
                    float sz = cs_sigmoid(zz);
                    xb[r * DT + cc] = make_float4(delta, delta * uu, go * zz * sz, uu);
                    xe[r * DT + cc] = make_float2(go * sz * (1.f + zz * (1.f - sz)), cs_sigmoid(pre));
                } else {
                    xb[r * DT + cc] = make_float4(delta, delta * uu, 0.f, uu);
                }
            }
            __syncthreads();
        };

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
                    st[jv * 4] = v.x; st[jv * 4 + 1] = v.y; st[jv * 4 + 2] = v.z; st[jv * 4 + 3] = v.w;
                } else if constexpr (VW == 2) {
                    float2 v = *reinterpret_cast<const float2*>(q);
                    st[jv * 2] = v.x; st[jv * 2 + 1] = v.y;
                } else {
                    st[jv] = q[0];
                }
            }
        };

        // one step of the forward recurrence at row t of the staged sub-chunk
        auto advance = [&](float (&st)[NS], int t) {
            float G[NS], V[NS];
#pragma unroll
            for (int m = 0; m < M; m++) {
                const float4 x = xb[(m * T + t) * DT + c];
                float Bv[NS];
                cs_load_slice<NS>(Bv, bc + (m * T + t) * 2 * NP, k, K);
#pragma unroll
                for (int i = 0; i < NS; i++) {
                    float ab = cs_exp2(x.x * a2[m][i]);
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
            for (int i = 0; i < NS; i++) st[i] = fmaf(G[i], st[i], V[i]) * INV_M;
        };

        const int TS = p.chunk_len;
        const int nC = (len + TS - 1) / TS;
        for (int ci = nC - 1; ci >= 0; ci--) {
            const int tc0 = ci * TS, tc1 = min(len, tc0 + TS);
            const int nsub = (tc1 - tc0 + T - 1) / T;
            float s0[NS];
#pragma unroll
            for (int i = 0; i < NS; i++) {
                int n = k * NS + i;
                float v = 0.f;
                if (dvalid && n < N) {
                    if (ci > 0) v = p.chunk_states[(((long)b * p.n_saved + ci - 1) * D + d) * N + n];
                    else if (p.initial_state != nullptr) v = p.initial_state[((long)b * D + d) * N + n];
                }
                s0[i] = v;
            }
            store_state(subst, s0);

            // pass 1: states entering sub-chunks 1 .. nsub-1
            if (nsub > 1) {
                float st[NS];
#pragma unroll
                for (int i = 0; i < NS; i++) st[i] = s0[i];
                for (int j = 0; j < nsub - 1; j++) {
                    stage(tc0 + j * T, tc1, false);
#pragma unroll 1
                    for (int t = 0; t < T; t++) advance(st, t);
                    store_state(subst + (j + 1) * NS * threads, st);
                    __syncthreads();   // the next stage overwrites what this one read
                }
            }

            // pass 2: sub-chunks last first
            for (int j = nsub - 1; j >= 0; j--) {
                const int ts0 = tc0 + j * T, steps = min(T, tc1 - ts0);
                stage(ts0, tc1, true);
                // C.B and sum_d dy*delta*u per row, by the block's full warps
                {
                    const int warp = tid >> 5, lane = tid & 31, nwarps = threads >> 5;
                    auto row_sum = [&](int r, int q0, int dq) {
                        float acc = 0.f;
                        if (r < M * T) {
                            const float* row = bc + r * 2 * NP;
                            for (int q = q0; q < NP; q += dq) acc = fmaf(row[q], row[NP + q], acc);
                        } else {
                            const float4* xr = xb + (r - M * T) * DT;
                            for (int q = q0; q < DT; q += dq)
                                if (d0 + q < D) acc = fmaf(xr[q].z, xr[q].y, acc);
                        }
                        return acc;
                    };
                    if (nwarps == 0) {
                        for (int r = tid; r < 2 * M * T; r += threads) cb[r] = row_sum(r, 0, 1);   // cb[M*T + ..] is sdd
                    } else if (warp < nwarps) {
                        for (int r = warp; r < 2 * M * T; r += nwarps) {
                            float acc = row_sum(r, lane, 32);
#pragma unroll
                            for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
                            if (lane == 0) cb[r] = acc;
                        }
                    }
                }

                // recompute s_{t-1} for the sub-chunk into this thread's slots of sprev
                {
                    float st[NS];
                    load_state(st, subst + j * NS * threads);
#pragma unroll 1
                    for (int t = 0; t < steps; t++) {
                        store_state(sprev + t * NS * threads, st);
                        if (t + 1 < steps) advance(st, t);
                    }
                }

                // reverse steps
#pragma unroll 1
                for (int t = steps - 1; t >= 0; t--) {
                    float gm[NS], gacc[NS], Gs[NS], sp[NS];
                    load_state(sp, sprev + t * NS * threads);
#pragma unroll
                    for (int i = 0; i < NS; i++) gm[i] = g[i] * INV_M;
#pragma unroll
                    for (int m = 0; m < M; m++) {
                        const float4 x = xb[(m * T + t) * DT + c];   // delta, delta*u, dy, u
                        float Bv[NS], Cv[NS], dBp[NS], dCp[NS];
                        cs_load_slice<NS>(Bv, bc + (m * T + t) * 2 * NP, k, K);
                        cs_load_slice<NS>(Cv, bc + (m * T + t) * 2 * NP + NP, k, K);
                        float pa = 0.f, hb = 0.f, yq = 0.f;
#pragma unroll
                        for (int i = 0; i < NS; i++) {
                            float ab = cs_exp2(x.x * a2[m][i]);
                            float dh = x.z * Cv[i];
                            if (m == 0) {
                                gacc[i] = ab * dh;
                                Gs[i] = ab;
                            } else {
                                gacc[i] = fmaf(ab, dh, gacc[i]);
                                Gs[i] += ab;
                            }
                            float ht = dh + gm[i];
                            float q = ab * sp[i];
                            yq = fmaf(Cv[i], q, yq);
                            float P = ht * q;
                            pa = fmaf(P, a2[m][i], pa);
                            dA[m][i] = fmaf(P, x.x, dA[m][i]);
                            hb = fmaf(ht, Bv[i], hb);
                            dCp[i] = x.z * q;
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
                        npart[((m * 3 + 0) * K + k) * S + c] = pa;
                        npart[((m * 3 + 1) * K + k) * S + c] = hb;
                        npart[((m * 3 + 2) * K + k) * S + c] = yq;
                    }
#pragma unroll
                    for (int i = 0; i < NS; i++) g[i] = fmaf(Gs[i] * INV_M, g[i], gacc[i]);
                    __syncthreads();

                    // block sums: dB, dC of this tile (over channels), du, ddelta_pre, dz (over states)
                    const int tt = ts0 + t;
                    const int nD = M * 2 * NV * K, nN = M * DT;
                    for (int it = tid; it < nD + nN; it += threads) {
                        if (it < nD) {
                            int kq = it % K, r = it / K, jv = r % NV, w = (r / NV) & 1, m = r / (2 * NV);
                            float acc[VW];
#pragma unroll
                            for (int e = 0; e < VW; e++) acc[e] = 0.f;
                            const float* src = dpart + (((m * 2 + w) * NV + jv) * threads + kq) * VW;
                            for (int cc = 0; cc < DT; cc++) {
                                const float* v = src + cc * K * VW;
#pragma unroll
                                for (int e = 0; e < VW; e++) acc[e] += v[e];
                            }
                            const int n0 = kq * NS + jv * VW;
                            if (w == 1) {
                                const float* brow = bc + (m * T + t) * 2 * NP + (jv * K + kq) * VW;
                                float sd = sdd[m * T + t];
#pragma unroll
                                for (int e = 0; e < VW; e++) acc[e] = fmaf(brow[e], sd, acc[e]);
                            }
                            float* dst = (w == 0 ? p.dB : p.dC) + (((long)m * Bt + b) * L + tt) * N + n0;
                            if (p.reduce_mode == 2) {
                                // timing experiments only: dB and dC are not written
                            } else if (p.reduce_mode == 1) {
                                dst += tile * bcTile;
#pragma unroll
                                for (int e = 0; e < VW; e++)
                                    if (n0 + e < N) dst[e] = acc[e];
                            } else if constexpr (VW == 4) {
                                if (vecBC && n0 + 4 <= N) {
                                    asm volatile("red.global.add.v4.f32 [%0], {%1, %2, %3, %4};" ::"l"(dst), "f"(acc[0]),
                                                 "f"(acc[1]), "f"(acc[2]), "f"(acc[3]) : "memory");
                                } else {
#pragma unroll
                                    for (int e = 0; e < VW; e++)
                                        if (n0 + e < N) atomicAdd(dst + e, acc[e]);
                                }
                            } else {
#pragma unroll
                                for (int e = 0; e < VW; e++)
                                    if (n0 + e < N) atomicAdd(dst + e, acc[e]);
                            }
                        } else {
                            int q = it - nD, cc = q % DT, m = q / DT;
                            if (d0 + cc >= D) continue;
                            float pa = 0.f, hb = 0.f, yq = 0.f;
                            for (int kk = 0; kk < K; kk++) {
                                pa += npart[((m * 3 + 0) * K + kk) * S + cc];
                                hb += npart[((m * 3 + 1) * K + kk) * S + cc];
                                yq += npart[((m * 3 + 2) * K + kk) * S + cc];
                            }
                            const float4 x = xb[(m * T + t) * DT + cc];
                            const float2 xx = xe[(m * T + t) * DT + cc];
                            const float ds = p.Dskip[m * D + d0 + cc];
                            const float y = yq + x.y * cb[m * T + t] + ds * x.w;
                            const long gi = (((long)m * Bt + b) * L + tt) * D + d0 + cc;
                            p.du[gi] = fmaf(x.z, ds, x.x * hb);
                            p.ddelta_pre[gi] = fmaf(pa, CS_LN2, x.w * hb) * xx.y;
                            p.dz[gi] = y * xx.x;
                            dsk[m * DT + cc] += x.z * x.w;
                        }
                    }
                    __syncthreads();
                }
            }
        }
        if (p.dinitial_state != nullptr && dvalid) {
#pragma unroll
            for (int i = 0; i < NS; i++)
                if (k * NS + i < N) p.dinitial_state[((long)b * D + d) * N + k * NS + i] = g[i];
        }
    }

    // this block's share of dA and dDskip
    if (dvalid) {
#pragma unroll
        for (int m = 0; m < M; m++)
#pragma unroll
            for (int i = 0; i < NS; i++)
                if (k * NS + i < N) p.dA_part[(((long)blockIdx.y * M + m) * D + d) * N + k * NS + i] = dA[m][i];
    }
    __syncthreads();
    for (int e = tid; e < M * DT; e += threads) {
        int cc = e % DT, m = e / DT;
        if (d0 + cc < D) p.dDskip_part[((long)blockIdx.y * M + m) * D + d0 + cc] = dsk[e];
    }
}

template <int M, int NS, int T>
__global__ void __launch_bounds__(128, NS >= 8 ? 2 : 3) coupled_scan_bwd(const CoupledScanParams p) {
    coupled_scan_bwd_impl<M, NS, T>(p);
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

extern "C" __global__ void coupled_scan_zero(float* __restrict__ x, long size) {
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < size; i += (long)gridDim.x * blockDim.x) x[i] = 0.f;
}
