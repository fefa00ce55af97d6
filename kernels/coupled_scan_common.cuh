// What the coupled selective scan's forward (coupled_scan_fwd.cu) and backward (coupled_scan_bwd.cu)
// share: the parameter block, the thread layout, the special functions and the asynchronous copies.
// The mathematics is MODEL.md's ("One coupled layer", "Backward of the coupled scan").
//
// Thread layout (both kernels). A block owns one sample b (the backward: a group of samples) and a
// tile of DT consecutive channels d, with ALL states n of each channel. Each channel is served by
// K = lanes consecutive threads; thread (c, k) = (tid / K, tid % K) keeps the NS states
// n = k*NS .. k*NS+NS-1 of channel d0 + c in registers (NP = K*NS >= N; states n >= N and
// channels d >= D are padding with A = B = C = 0 and never written). NS is a compile-time constant
// so that those register arrays are indexed by constants only; K and DT are run-time values, so
// any N and any D are served by the same instantiation.
//
// B and C of a time step are shared by every channel of the block and staged in shared memory in an
// interleaved order: state n = k*NS + j*VW + e (VW = min(NS, 4)) sits at ((j*K + k)*VW + e), so that
// the K threads of a channel read K consecutive VW-wide vectors (no bank conflicts) and the threads
// of the other channels read the same addresses (broadcasts).
//
// Index maps: u, delta, z, out [M,B,L,D] -> ((m*B + b)*L + t)*D + d; B, C [M,B,L,N];
// A [M,D,N]; Dskip [M,D]; states [B,D,N]; saved chunk states [B, n_saved, D, N].
#pragma once

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
    float* dB;                    // [M,B,L,N], or [d_tiles][M,B,L,N] partials when reduce_mode == 1
    float* dC;                    // as dB
    float* dA_part;               // [b_groups][M,D,N]
    float* dDskip_part;           // [b_groups][M,D]
    float* dinitial_state;        // [B,D,N] or null
    int modalities;               // M (equals the template's M)
    int batch;                    // B
    int length;                   // L
    int channels;                 // D
    int states;                   // N
    int lanes;                    // K threads per channel; blockDim.x = DT * K
    int chunk_len;                // steps between saved states (a multiple of the forward's chunk)
    int n_saved;                  // saved states per sample: ceil(L / chunk_len) - 1
    int batch_per_block;          // backward: samples per block (blockIdx.y groups)
    int reduce_mode;              // backward: dB, dC by 0 = atomics into zeroed outputs, 1 = per-tile partials
    int sub_chunks;               // backward: ceil(chunk_len / T), the sub-chunk states kept per block
    int pad_;
};

#define CS_LOG2E 1.4426950408889634f
#define CS_LN2 0.6931471805599453f

// 2^x in one special-function instruction (relative error about 2^-22); denormals flush to 0.
__device__ __forceinline__ float cs_exp2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

// softplus with the same threshold as the CPU reference (x above 20 is returned as is).
__device__ __forceinline__ float cs_softplus(float x) {
    return x > 20.f ? x : log1pf(expf(x));
}

__device__ __forceinline__ float cs_sigmoid(float x) {
    return 1.f / (1.f + expf(-x));
}

__device__ __forceinline__ int cs_clamp_length(const int* lengths, int b, int L) {
    if (lengths == nullptr) return L;
    int len = lengths[b];
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

// Stages rows [t0, t0 + T) of a [.., L, W] tensor slice (W = row width in elements, starting at
// column w0 of a row of rowLen elements) for every modality into dst[m][t][stride-apart].. rows:
// dst + (m*T + t)*dstRowStride + col. Rows at or past tEnd, and columns at or past rowLen, are
// zero-filled. Columns are copied 16 bytes at a time when vec (rowLen, w0 and W multiples of 4).
template <int M, int T>
__device__ __forceinline__ void cs_stage_rows(float* dst, int dstRowStride, const float* src, long mStride,
                                              int L, int t0, int tEnd, int rowLen, int w0, int W, bool vec,
                                              int tid, int threads) {
    if (vec) {
        int W4 = W >> 2;
        for (int e = tid; e < M * T * W4; e += threads) {
            int col = (e % W4) * 4, r = e / W4, t = r % T, m = r / T;
            int tt = t0 + t;
            bool ok = tt < tEnd && w0 + col < rowLen;
            const float* g = ok ? src + m * mStride + (long)tt * rowLen + w0 + col : src;
            cs_cp_async16(dst + (m * T + t) * dstRowStride + col, g, ok);
        }
    } else {
        for (int e = tid; e < M * T * W; e += threads) {
            int col = e % W, r = e / W, t = r % T, m = r / T;
            int tt = t0 + t;
            bool ok = tt < tEnd && w0 + col < rowLen;
            const float* g = ok ? src + m * mStride + (long)tt * rowLen + w0 + col : src;
            cs_cp_async4(dst + (m * T + t) * dstRowStride + col, g, ok);
        }
    }
}

// Stages B or C rows [t0, t0 + T) (all N states) into the interleaved layout dst + (m*T + t)*dstRowStride.
template <int M, int T, int NS>
__device__ __forceinline__ void cs_stage_bc(float* dst, int dstRowStride, const float* src, long mStride, int N, int K,
                                            int t0, int tEnd, bool vec, int tid, int threads) {
    if (vec && NS >= 4) {
        int N4 = N >> 2;
        for (int e = tid; e < M * T * N4; e += threads) {
            int n = (e % N4) * 4, r = e / N4, t = r % T, m = r / T;
            int tt = t0 + t;
            bool ok = tt < tEnd;
            const float* g = ok ? src + m * mStride + (long)tt * N + n : src;
            cs_cp_async16(dst + (m * T + t) * dstRowStride + cs_bc_pos<NS>(n, K), g, ok);
        }
    } else {
        for (int e = tid; e < M * T * N; e += threads) {
            int n = e % N, r = e / N, t = r % T, m = r / T;
            int tt = t0 + t;
            bool ok = tt < tEnd;
            const float* g = ok ? src + m * mStride + (long)tt * N + n : src;
            cs_cp_async4(dst + (m * T + t) * dstRowStride + cs_bc_pos<NS>(n, K), g, ok);
        }
    }
}

// Row stride of a [K][stride] partial-sum array written by thread (c, k) at k*stride + c: a
// multiple of the channels per warp CW times an odd number, so that one warp's K*CW writes land in
// distinct banks, while the readers (one per channel, over k) read consecutive words.
__device__ __forceinline__ int cs_partial_stride(int DT, int K) {
    int cw = K <= 32 && 32 % K == 0 ? 32 / K : 1;
    int s = (DT + cw - 1) / cw * cw;
    if (((s / cw) & 1) == 0) s += cw;
    return s;
}
