// What the coupled selective scan's forward (coupled_scan_fwd.cu) and backward (coupled_scan_bwd.cu)
// share: the parameter block, the thread layout, the special functions and the staging copies.
// The mathematics is MODEL.md's ("One coupled layer", "Backward of the coupled scan").
//
// Thread layout (both kernels). A block owns one sample b (the backward: a group of samples) and a
// tile of DT consecutive channels d, with ALL states n of each channel. Each channel is served by
// K = lanes threads; thread (c, k) (the backward: c = tid / K, k = tid % K; the forward: c = tid % DT,
// k = tid / DT) keeps the NS states
// n = k*NS .. k*NS+NS-1 of channel d0 + c in registers (NP = K*NS >= N; states n >= N and
// channels d >= D are padding with A = B = C = 0 and never written). NS, K and DT are compile-time
// constants: the register arrays are indexed by constants only, and every shared-memory address of
// the time loop is a base register plus an immediate (with run-time K and DT, a profile at the
// paper's setting showed address arithmetic at 1.5 of the forward's 15 instructions per element
// and 12 of the backward's 57). One module per (M, NS, T, K, DT): K follows from N, DT from D.
//
// B and C of a time step are shared by every channel of the block and staged in shared memory. The
// backward keeps them in an interleaved order: state n = k*NS + j*VW + e (VW = min(NS, 4)) sits at
// ((j*K + k)*VW + e), so that the K consecutive threads of a channel read K consecutive VW-wide vectors
// (no bank conflicts) and the threads of the other channels read the same addresses (broadcasts). The
// forward, whose channel runs fastest, needs no such order (a quarter warp reads at most two slices):
// its rows are in natural order, whole rows that tensor-map boxes can stage.
//
// Index maps: u, delta, z, out [M,B,L,D] -> ((m*B + b)*L + t)*D + d; B, C [M,B,L,N];
// A [M,D,N]; Dskip [M,D]; states [B,D,N]; saved chunk states [B, n_saved, D, N].
//
// The host picks an instantiation by defining CS_M, CS_NS, CS_T, CS_K and CS_DT before this file
// (one module per choice); the defaults below only let the file compile on its own.
#pragma once

#ifndef CS_M
#define CS_M 3
#endif
#ifndef CS_NS
#define CS_NS 8
#endif
#ifndef CS_T
#define CS_T 8
#endif
#ifndef CS_K
#define CS_K 8
#endif
#ifndef CS_DT
#define CS_DT 16
#endif

// The layout of this struct is mirrored byte for byte by io.cmamba.cuda.CudaScan (pointers first,
// 8 bytes each, then 4-byte integers): change both together.
struct CoupledScanParams {
    const float* u;               // [M,B,L,D]
    const float* delta_pre;       // [M,B,L,D] before softplus
    const float* z;               // [M,B,L,D]
    const float* A;               // [M,D,N]
    const float* Bm;              // [M,B,L,N]
    const float* Cm;              // [M,B,L,N]
    const float* Dskip;           // [M,D]
    const int* lengths;           // [B] or null (all L); clamped to [0, L]
    const float* initial_state;   // [B,D,N] or null (zeros)
    float* out;                   // [M,B,L,D]
    float* final_state;           // [B,D,N] or null
    float* chunk_states;          // [B, n_saved, D, N]: s entering each chunk of chunk_len steps after the first
    const float* dout;            // [M,B,L,D]
    const float* dfinal_state;    // [B,D,N] or null (zeros)
    float* du;                    // [M,B,L,D]
    float* ddelta_pre;            // [M,B,L,D]
    float* dz;                    // [M,B,L,D]
    float* dB;                    // [M,B,L,N] zeroed before the launch (summed with atomics)
    float* dC;                    // as dB
    float* dA_part;               // [b_groups][M,D,N]
    float* dDskip_part;           // [b_groups][M,D]
    float* dinitial_state;        // [B,D,N] or null
    int* err;                     // the backend's device error record (code, a, b, c), or null
    int modalities;               // M (equals CS_M)
    int batch;                    // B
    int length;                   // L
    int channels;                 // D
    int states;                   // N
    int lanes;                    // K threads per channel (equals CS_K); blockDim.x = DT * K
    int chunk_len;                // steps between saved states (a multiple of the forward's chunk)
    int n_saved;                  // saved states per sample: ceil(L / chunk_len) - 1
    int batch_per_block;          // backward: samples per block (blockIdx.y groups)
    int sub_chunks;               // backward: ceil(chunk_len / T), the sub-chunk states kept per block
    int prefetch;                 // backward: 1 = two staging buffers, the next sub-chunk copied while one is worked on
    int tensor_maps;              // forward: 1 = its CsTensorMaps parameter holds the five maps (else cp.async staging)
};

// The forward's tensor maps (CUtensorMap, 128 bytes, 64-byte aligned) of delta_pre, u, z, B, C, passed by
// value as a __grid_constant__ kernel parameter, where the TMA unit reads them: no device buffer to fill
// before each launch (io.cmamba.cuda.ScanTensorMaps encodes them).
struct alignas(64) CsTensorMaps {
    unsigned long long map[5][16];
};

// A kernel parameter whose address may be taken without a local copy (sm_70 on).
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 700
#define CS_GRID_CONSTANT __grid_constant__
#else
#define CS_GRID_CONSTANT
#endif

#define CS_LOG2E 1.44269502f        // log2(e) rounded to float
#define CS_LOG2E_LO 1.925963e-8f    // log2(e) - CS_LOG2E
#define CS_LN2 0.693147181f

// 2^x in one special-function instruction (relative error about 2^-22); denormals flush to 0.
__device__ __forceinline__ float cs_exp2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

__device__ __forceinline__ float cs_rcp(float x) {
    float y;
    asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

// e^x: 2^(x log2 e) with the rounding error of the product (and of log2 e) put back to first order,
// so that the relative error stays near 2^-21 for every |x| instead of growing with it.
__device__ __forceinline__ float cs_exp(float x) {
    float y = x * CS_LOG2E;
    float r = fmaf(x, CS_LOG2E, -y);
    r = fmaf(x, CS_LOG2E_LO, r);
    return cs_exp2(y) * fmaf(r, CS_LN2, 1.f);
}

// softplus(x) = max(x, 0) + log1p(e), e = exp(-|x|) in (0, 1], with log1p(e) = 2 atanh(w),
// w = e / (2 + e) in (0, 1/3]: seven odd terms leave a relative error below 2e-8. Above 20 this is
// x to float precision, the CPU reference's threshold.
__device__ __forceinline__ float cs_softplus(float x) {
    float e = cs_exp(-fabsf(x));
    float w = e * cs_rcp(2.f + e);
    float w2 = w * w;
    float p = fmaf(w2, 1.f / 13, 1.f / 11);
    p = fmaf(w2, p, 1.f / 9);
    p = fmaf(w2, p, 1.f / 7);
    p = fmaf(w2, p, 1.f / 5);
    p = fmaf(w2, p, 1.f / 3);
    p = fmaf(w2, p, 1.f);
    return fmaxf(x, 0.f) + 2.f * w * p;
}

__device__ __forceinline__ float cs_sigmoid(float x) {
    return cs_rcp(1.f + cs_exp(-x));   // exp(-x) = inf gives 0, as it should
}

// Error code of a length outside [0, L] in the backend's error record (common.cuh's protocol:
// the first error wins; CudaBackend.DeviceError words it).
#define CS_ERR_LENGTH 4

// lengths[b] clamped to [0, L] (so that a bad length cannot fault), reported when it was outside.
__device__ __forceinline__ int cs_length(const CoupledScanParams& p, int b) {
    const int L = p.length;
    if (p.lengths == nullptr) return L;
    int len = p.lengths[b];
    if ((len < 0 || len > L) && p.err != nullptr && threadIdx.x == 0 && atomicCAS(p.err, 0, CS_ERR_LENGTH) == 0) {
        p.err[1] = b;
        p.err[2] = len;
        p.err[3] = L;
    }
    return len < 0 ? 0 : (len > L ? L : len);
}

// Asynchronous global -> shared copies (cp.async). With pred false nothing is read and the
// destination is zero-filled; the source must still be a valid address, so callers pass a base.
__device__ __forceinline__ void cs_cp_async4(float* smem, const float* gmem, bool pred) {
    unsigned s = (unsigned)__cvta_generic_to_shared(smem);
    int n = pred ? 4 : 0;
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(s), "l"(gmem), "r"(n));
}

__device__ __forceinline__ void cs_cp_async16(float* smem, const float* gmem, bool pred) {
    unsigned s = (unsigned)__cvta_generic_to_shared(smem);
    int n = pred ? 16 : 0;
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(n));
}

__device__ __forceinline__ void cs_cp_async_commit() {
    asm volatile("cp.async.commit_group;\n" ::);
}

template <int PENDING>
__device__ __forceinline__ void cs_cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(PENDING));
}

// Tensor-map staging (sm_90 on; the forward): one thread arms an mbarrier with the bytes to expect and
// issues one two-dimensional box copy per tensor and modality, which the TMA unit writes into shared
// memory (zero-filling what lies past the tensor's edges) and counts on the mbarrier; every thread waits
// for its phase. The threads spend no instructions on copies: per-thread cp.async staging cost the
// forward 12-13% of its time; row-by-row bulk copies were slower still (bench/NOTES-scan.md, v10).
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#define CS_HAVE_TMA 1
#else
#define CS_HAVE_TMA 0
#endif

__device__ __forceinline__ unsigned cs_smem_addr(const void* p) {
    return (unsigned)__cvta_generic_to_shared(p);
}

__device__ __forceinline__ void cs_mbar_init(unsigned long long* bar, unsigned count) {
#if CS_HAVE_TMA
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(cs_smem_addr(bar)), "r"(count) : "memory");
#endif
}

// Orders the mbarrier inits and this thread's earlier shared-memory stores before later TMA writes.
__device__ __forceinline__ void cs_fence_bulk() {
#if CS_HAVE_TMA
    asm volatile("fence.mbarrier_init.release.cluster;\n\tfence.proxy.async.shared::cta;" ::: "memory");
#endif
}

__device__ __forceinline__ void cs_mbar_expect(unsigned long long* bar, unsigned bytes) {
#if CS_HAVE_TMA
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(cs_smem_addr(bar)), "r"(bytes)
                 : "memory");
#endif
}

// The box of a 4-d tensor map at coordinates (c0, c1, c2, c3), innermost first, into 128-byte aligned dst.
__device__ __forceinline__ void cs_tma4(float* dst, const unsigned long long* map, int c0, int c1, int c2, int c3,
                                        unsigned long long* bar) {
#if CS_HAVE_TMA
    asm volatile("cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes"
                 " [%0], [%1, {%2, %3, %4, %5}], [%6];"
                 ::"r"(cs_smem_addr(dst)), "l"(map), "r"(c0), "r"(c1), "r"(c2), "r"(c3), "r"(cs_smem_addr(bar))
                 : "memory");
#endif
}

// Waits until the phase of bar with the given parity has completed.
__device__ __forceinline__ void cs_mbar_wait(unsigned long long* bar, unsigned parity) {
#if CS_HAVE_TMA
    unsigned done;
    do {
        asm volatile("{\n\t.reg .pred p;\n\tmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n\t"
                     "selp.u32 %0, 1, 0, p;\n\t}"
                     : "=r"(done) : "r"(cs_smem_addr(bar)), "r"(parity) : "memory");
    } while (!done);
#endif
}

// A thread's walk over the elements of a [rows][width] array when the block's threads take
// consecutive elements: its first (row, col) and the step between its elements, computed once so
// that the loops need no division.
struct CsWalk {
    int row, col, rowStep, colStep, width;
};

__device__ __forceinline__ CsWalk cs_walk(int tid, int threads, int width) {
    CsWalk w;
    w.width = width;
    w.row = tid / width;
    w.col = tid - w.row * width;
    w.rowStep = threads / width;
    w.colStep = threads - w.rowStep * width;
    return w;
}

#define CS_WALK(w, rows, rv, cv)                                                         \
    for (int rv = (w).row, cv = (w).col; rv < (rows);                                    \
         cv += (w).colStep, rv += (w).rowStep + (cv >= (w).width ? 1 : 0),               \
             cv -= (cv >= (w).width ? (w).width : 0))

// A thread's NS consecutive states n0 .. n0+NS-1 of a row of N floats: loaded or stored 16 bytes at
// a time when the row allows it (n0 + NS <= N, 16-byte aligned), else element by element with the
// padding states (n >= N) read as 0 and never written.
template <int NS>
__device__ __forceinline__ void cs_load_states(float (&v)[NS], const float* row, int n0, int N, bool vec) {
    if constexpr (NS % 4 == 0) {
        if (vec && n0 + NS <= N) {
#pragma unroll
            for (int j = 0; j < NS / 4; j++) {
                float4 q = *reinterpret_cast<const float4*>(row + n0 + 4 * j);
                v[4 * j] = q.x;
                v[4 * j + 1] = q.y;
                v[4 * j + 2] = q.z;
                v[4 * j + 3] = q.w;
            }
            return;
        }
    }
#pragma unroll
    for (int i = 0; i < NS; i++) v[i] = n0 + i < N ? row[n0 + i] : 0.f;
}

template <int NS>
__device__ __forceinline__ void cs_store_states(float* row, const float (&v)[NS], int n0, int N, bool vec) {
    if constexpr (NS % 4 == 0) {
        if (vec && n0 + NS <= N) {
#pragma unroll
            for (int j = 0; j < NS / 4; j++)
                *reinterpret_cast<float4*>(row + n0 + 4 * j) = make_float4(v[4 * j], v[4 * j + 1], v[4 * j + 2], v[4 * j + 3]);
            return;
        }
    }
#pragma unroll
    for (int i = 0; i < NS; i++)
        if (n0 + i < N) row[n0 + i] = v[i];
}

// Position of state n of the padded NP = K*NS states in the interleaved B/C rows.
template <int NS>
__device__ __forceinline__ int cs_bc_pos(int n, int K) {
    constexpr int VW = NS < 4 ? NS : 4;
    int kq = n / NS, j = n % NS;
    return ((j / VW) * K + kq) * VW + j % VW;
}

// Loads the NS values of thread slice k from an interleaved row.
template <int NS>
__device__ __forceinline__ void cs_load_slice(float (&v)[NS], const float* row, int k, int K) {
    constexpr int VW = NS < 4 ? NS : 4;
#pragma unroll
    for (int j = 0; j < NS / VW; j++) {
        const float* src = row + (j * K + k) * VW;
        if constexpr (VW == 4) {
            float4 q = *reinterpret_cast<const float4*>(src);
            v[j * 4 + 0] = q.x;
            v[j * 4 + 1] = q.y;
            v[j * 4 + 2] = q.z;
            v[j * 4 + 3] = q.w;
        } else if constexpr (VW == 2) {
            float2 q = *reinterpret_cast<const float2*>(src);
            v[j * 2 + 0] = q.x;
            v[j * 2 + 1] = q.y;
        } else {
            v[j] = src[0];
        }
    }
}

// Loads NS consecutive values (the forward's B and C rows are in natural order).
template <int NS>
__device__ __forceinline__ void cs_load_run(float (&v)[NS], const float* src) {
    if constexpr (NS % 4 == 0) {
#pragma unroll
        for (int j = 0; j < NS / 4; j++) {
            float4 q = *reinterpret_cast<const float4*>(src + 4 * j);
            v[4 * j] = q.x;
            v[4 * j + 1] = q.y;
            v[4 * j + 2] = q.z;
            v[4 * j + 3] = q.w;
        }
    } else {
#pragma unroll
        for (int i = 0; i < NS; i++) v[i] = src[i];
    }
}

// Staging: rows [t0, t0 + T) of M [.., L, rowLen] tensor slices copied into shared memory, rows at or past
// tEnd zero-filled. With vec the walk is over 4-column vectors (rowLen, w0 and W multiples of 4, 16-byte
// aligned). When the threads divide the row evenly (colStep 0) each thread keeps one column and walks the
// rows t of one modality, copying that row of all M modalities (m unrolled): one address computation per
// row and no division (a profile showed 37 instructions per copy when the walk ran over [M*T] rows with a
// division by T and a 64-bit multiply per copy). The rows are rotated by part/parts of the walk's row step
// (cs_walk_start), so that the tensors staged with one walk are issued by different warps: where the walk
// has more rows than T, unrotated, one warp issued every tensor's copies and the block waited for it at
// the next barrier.
__device__ __forceinline__ int cs_walk_start(const CsWalk& walk, int part, int parts) {
    int t = walk.row - walk.rowStep * part / parts;
    return t < 0 ? t + walk.rowStep : t;
}

// The copy loop of both staging functions below: column col of the walk lands at dst + place(col) in
// each row; with CHECK_COLS, columns at or past rowLen - w0 are zero-filled (B and C rows are whole, so
// their copies leave the compare out).
template <int M, int T, bool CHECK_COLS, typename Place>
__device__ __forceinline__ void cs_stage(float* dst, int dstRowStride, const float* src, long mStride, int t0, int tEnd,
                                         int rowLen, int w0, const CsWalk& walk, bool vec, int part, int parts,
                                         Place place) {
    if (walk.colStep == 0) {
        const int col = vec ? walk.col * 4 : walk.col;
        const bool colOk = !CHECK_COLS || w0 + col < rowLen;
        const float* g0 = src + w0 + col + (long)t0 * rowLen;
        float* d0 = dst + place(col);
        for (int t = cs_walk_start(walk, part, parts); t < T; t += walk.rowStep) {
            const bool ok = colOk && t0 + t < tEnd;
            const float* g = g0 + (long)t * rowLen;
#pragma unroll
            for (int m = 0; m < M; m++) {
                float* d = d0 + (m * T + t) * dstRowStride;
                if (vec) cs_cp_async16(d, ok ? g + m * mStride : src, ok);
                else cs_cp_async4(d, ok ? g + m * mStride : src, ok);
            }
        }
    } else if (vec) {
        CS_WALK(walk, M * T, r, v) {
            int t = r % T, m = r / T, col = v * 4, tt = t0 + t;
            bool ok = tt < tEnd && (!CHECK_COLS || w0 + col < rowLen);
            const float* g = ok ? src + m * mStride + (long)tt * rowLen + w0 + col : src;
            cs_cp_async16(dst + r * dstRowStride + place(col), g, ok);
        }
    } else {
        CS_WALK(walk, M * T, r, col) {
            int t = r % T, m = r / T, tt = t0 + t;
            bool ok = tt < tEnd && (!CHECK_COLS || w0 + col < rowLen);
            const float* g = ok ? src + m * mStride + (long)tt * rowLen + w0 + col : src;
            cs_cp_async4(dst + r * dstRowStride + place(col), g, ok);
        }
    }
}

// Copies rows [t0, t0 + T) of M [.., L, rowLen] tensor slices (columns [w0, w0 + W)) into
// dst + (m*T + t)*dstRowStride + col.
template <int M, int T>
__device__ __forceinline__ void cs_stage_rows(float* dst, int dstRowStride, const float* src, long mStride, int t0,
                                              int tEnd, int rowLen, int w0, const CsWalk& walk, bool vec, int part,
                                              int parts) {
    cs_stage<M, T, true>(dst, dstRowStride, src, mStride, t0, tEnd, rowLen, w0, walk, vec, part, parts,
                         [](int col) { return col; });
}

// Copies B or C rows [t0, t0 + T) (all N states) into the interleaved layout dst + (m*T + t)*dstRowStride.
template <int M, int T, int NS>
__device__ __forceinline__ void cs_stage_bc(float* dst, int dstRowStride, const float* src, long mStride, int N, int K,
                                            int t0, int tEnd, const CsWalk& walk, bool vec, int part, int parts) {
    cs_stage<M, T, false>(dst, dstRowStride, src, mStride, t0, tEnd, N, 0, walk, vec, part, parts,
                          [K](int n) { return cs_bc_pos<NS>(n, K); });
}

// f(r, m) for the rows r = er, er + K, .. of [M*T] (modality m = r / T) that one thread transforms and
// writes out. Where K divides T, row j's modality j K / T and step offset are compile-time, and so are its
// shared-memory addresses (unrolled up to 8 rows: K = 1 would copy the body M*T times).
template <int M, int T, int K, typename F>
__device__ __forceinline__ void cs_each_row(int er, F&& f) {
    if constexpr (T % K == 0 && M * T / K <= 8) {
#pragma unroll
        for (int j = 0; j < M * T / K; j++) f(er + j * K, j * K / T);
    } else {
        for (int r = er; r < M * T; r += K) f(r, r / T);
    }
}

// Dot products of row pairs: out[r] = sum_e a(r)[e] * b(r)[e], e < len, for rows r < rows, where
// a(r) = base + r*rowStride and b(r) = a(r) + bOffset. Four threads per row each take every fourth
// element (4-float vectors when vec), then two shuffles combine them; every thread of the block
// calls this (the shuffles need whole groups of four).
__device__ __forceinline__ void cs_row_dots(float* out, const float* base, int rowStride, int bOffset, int len, int rows,
                                            bool vec, int tid, int threads) {
    if (threads & 3) {   // groups of four would straddle the last warp's end: one thread per row
        for (int r = tid; r < rows; r += threads) {
            const float* a = base + r * rowStride;
            float acc = 0.f;
            for (int i = 0; i < len; i++) acc = fmaf(a[i], a[bOffset + i], acc);
            out[r] = acc;
        }
        return;
    }
    // threads is a compile-time constant in both kernels: a whole number of warps gives a constant full mask,
    // and the shuffles need no convergence check (a run-time mask cost a MATCH and a branch per shuffle pair)
    const int warpLanes = threads % 32 == 0 ? 32 : min(32, threads - (tid & ~31));
    const unsigned mask = warpLanes == 32 ? 0xffffffffu : (1u << warpLanes) - 1u;
    for (int e0 = 0; e0 < rows * 4; e0 += threads) {
        const int e = e0 + tid, r = e >> 2, q = e & 3;
        float acc = 0.f;
        if (r < rows) {
            const float* a = base + r * rowStride;
            if (vec) {
                for (int i = 4 * q; i < len; i += 16) {
                    float4 x = *reinterpret_cast<const float4*>(a + i), y = *reinterpret_cast<const float4*>(a + bOffset + i);
                    acc = fmaf(x.x, y.x, acc);
                    acc = fmaf(x.y, y.y, acc);
                    acc = fmaf(x.z, y.z, acc);
                    acc = fmaf(x.w, y.w, acc);
                }
            } else {
                for (int i = q; i < len; i += 4) acc = fmaf(a[i], a[bOffset + i], acc);
            }
        }
        acc += __shfl_xor_sync(mask, acc, 1);
        acc += __shfl_xor_sync(mask, acc, 2);
        if (r < rows && q == 0) out[r] = acc;
    }
}

// Row of the forward's y partials of one step: [K][DT] in thread order, padded by DT floats where DT < 32
// divides a warp and the row is a whole number of bank rounds, so that the 32/DT rows the epilogue's
// lanes read at once start in different banks.
__host__ __device__ constexpr int cs_ypart_row(int DT, int K) {
    return K * DT + (DT < 32 && (K * DT) % 32 == 0 ? DT : 0);
}

// Row stride S (in 16-byte words) of the backward's [K][S] lane partials, written by thread (c, k) at
// k*S + c and read per channel over k: a quarter warp's writes hit distinct banks when S is an odd
// multiple of the channels a quarter warp holds.
__device__ __forceinline__ int cs_partial_stride(int DT, int K) {
    constexpr int lanes = 8;   // a quarter warp: the lanes one 16-byte access serves at once
    int cw = K <= lanes && lanes % K == 0 ? lanes / K : 1;
    int s = (DT + cw - 1) / cw * cw;
    if (((s / cw) & 1) == 0) s += cw;
    return s;
}
