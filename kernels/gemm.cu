// Hand-written SGEMM, the fallback where cuBLAS cannot be loaded (and the comparison point of the
// benchmark): C [M, N] = alpha op(A) op(B) + beta C, all row-major, op(A) [M, K], op(B) [K, N],
// lda/ldb the row lengths of A and B as stored. With beta == 0, C is never read (NaN included).
//
// Strategy (the classic register-blocked tiling): a block of 256 threads computes a 128 x 128 tile
// of C, walking K in steps of 8. Each step stages an 8 x 128 slice of op(A) (stored k-major, so
// that a thread's 8 rows are two float4 reads) and of op(B) in shared memory; each thread then
// accumulates an 8 x 8 sub-tile in registers: 64 FMAs per 16 shared loads. Its rows are
// {ty*4..ty*4+3} and {64+ty*4..}, its columns likewise with tx, so that the float4 reads of a warp
// hit distinct banks. Shared memory is double-buffered and the next slice is fetched from global
// memory into registers while the current one is consumed, so one barrier per step suffices.
// Transposes change only how a slice is loaded (four template instantiations); out-of-range rows,
// columns and k are loaded as zeros, so any M, N, K works.
// Split-K: when C has too few tiles to fill the GPU and K is long (a weight gradient dW = dY^T X
// sums over all 51200 tokens into a 512 x 128 C: 4 tiles), blockIdx.z takes one k_chunk of K and
// writes its raw sums to partials[z]; sgemm_splitk_reduce then adds the slices in z order and
// applies alpha and beta (deterministic, no atomics).
#include "common.cuh"

#define BM 128
#define BN 128
#define BK 8
#define PAD 4  // row stride 132: the transposed stores of a warp spread over the banks

template <bool TA, bool TB>
struct GemmTile {
    float a[4], b[4];

    // Fetches this thread's 4 elements of op(A)[m0.., k0..] and op(B)[k0.., n0..] into registers.
    __device__ __forceinline__ void load(const float* CM_RESTRICT A, const float* CM_RESTRICT B, int M, int N, int K,
                                         int lda, int ldb, int m0, int n0, int k0, int tid) {
        if (!TA) {  // A [M, K]: a row's 4 consecutive k
            int r = m0 + (tid >> 1), k = k0 + (tid & 1) * 4;
            for (int i = 0; i < 4; i++) a[i] = (r < M && k + i < K) ? A[(i64)r * lda + k + i] : 0.f;
        } else {    // A [K, M]: a k-row's 4 consecutive m
            int k = k0 + (tid >> 5), m = m0 + (tid & 31) * 4;
            for (int i = 0; i < 4; i++) a[i] = (k < K && m + i < M) ? A[(i64)k * lda + m + i] : 0.f;
        }
        if (!TB) {  // B [K, N]: a k-row's 4 consecutive n
            int k = k0 + (tid >> 5), n = n0 + (tid & 31) * 4;
            for (int i = 0; i < 4; i++) b[i] = (k < K && n + i < N) ? B[(i64)k * ldb + n + i] : 0.f;
        } else {    // B [N, K]: a row's 4 consecutive k
            int r = n0 + (tid >> 1), k = k0 + (tid & 1) * 4;
            for (int i = 0; i < 4; i++) b[i] = (r < N && k + i < K) ? B[(i64)r * ldb + k + i] : 0.f;
        }
    }

    __device__ __forceinline__ void store(float (*As)[BM + PAD], float (*Bs)[BN + PAD], int tid) {
        if (!TA) {
            int r = tid >> 1, k = (tid & 1) * 4;
            for (int i = 0; i < 4; i++) As[k + i][r] = a[i];
        } else {
            int k = tid >> 5, m = (tid & 31) * 4;
            *reinterpret_cast<float4*>(&As[k][m]) = make_float4(a[0], a[1], a[2], a[3]);
        }
        if (!TB) {
            int k = tid >> 5, n = (tid & 31) * 4;
            *reinterpret_cast<float4*>(&Bs[k][n]) = make_float4(b[0], b[1], b[2], b[3]);
        } else {
            int r = tid >> 1, k = (tid & 1) * 4;
            for (int i = 0; i < 4; i++) Bs[k + i][r] = b[i];
        }
    }
};

template <bool TA, bool TB>
__device__ __forceinline__ void sgemm_tiled(int M, int N, int K, float alpha, const float* CM_RESTRICT A, int lda,
                                            const float* CM_RESTRICT B, int ldb, float beta, float* CM_RESTRICT C,
                                            int k_chunk, float* CM_RESTRICT partials) {
    __shared__ __align__(16) float As[2][BK][BM + PAD];
    __shared__ __align__(16) float Bs[2][BK][BN + PAD];
    int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
    int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    float acc[8][8];
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 8; j++) acc[i][j] = 0.f;

    GemmTile<TA, TB> tile;
    // this block's range of k: all of it, or slice blockIdx.z of a split-K product
    int kbeg = partials != nullptr ? blockIdx.z * k_chunk : 0;
    int kend = partials != nullptr ? min(K, kbeg + k_chunk) : K;
    int steps = kend > kbeg ? (kend - kbeg + BK - 1) / BK : 0;
    if (steps > 0) {
        tile.load(A, B, M, N, kend, lda, ldb, m0, n0, kbeg, tid);
        tile.store(As[0], Bs[0], tid);
    }
    __syncthreads();
    for (int s = 0; s < steps; s++) {
        int cur = s & 1;
        if (s + 1 < steps) tile.load(A, B, M, N, kend, lda, ldb, m0, n0, kbeg + (s + 1) * BK, tid);
#pragma unroll
        for (int k = 0; k < BK; k++) {
            float a[8], b[8];
            float4 a0 = *reinterpret_cast<const float4*>(&As[cur][k][ty * 4]);
            float4 a1 = *reinterpret_cast<const float4*>(&As[cur][k][64 + ty * 4]);
            float4 b0 = *reinterpret_cast<const float4*>(&Bs[cur][k][tx * 4]);
            float4 b1 = *reinterpret_cast<const float4*>(&Bs[cur][k][64 + tx * 4]);
            a[0] = a0.x; a[1] = a0.y; a[2] = a0.z; a[3] = a0.w;
            a[4] = a1.x; a[5] = a1.y; a[6] = a1.z; a[7] = a1.w;
            b[0] = b0.x; b[1] = b0.y; b[2] = b0.z; b[3] = b0.w;
            b[4] = b1.x; b[5] = b1.y; b[6] = b1.z; b[7] = b1.w;
#pragma unroll
            for (int i = 0; i < 8; i++)
#pragma unroll
                for (int j = 0; j < 8; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
        }
        // the other buffer was last read in step s - 1, before the barrier that ended it
        if (s + 1 < steps) tile.store(As[cur ^ 1], Bs[cur ^ 1], tid);
        __syncthreads();
    }

    for (int i = 0; i < 8; i++) {
        int r = m0 + (i < 4 ? ty * 4 + i : 64 + ty * 4 + i - 4);
        if (r >= M) continue;
        for (int j = 0; j < 8; j++) {
            int c = n0 + (j < 4 ? tx * 4 + j : 64 + tx * 4 + j - 4);
            if (c >= N) continue;
            if (partials != nullptr) {
                partials[(i64)blockIdx.z * M * N + (i64)r * N + c] = acc[i][j];
            } else {
                float* out = C + (i64)r * N + c;
                *out = beta == 0.f ? alpha * acc[i][j] : alpha * acc[i][j] + beta * *out;
            }
        }
    }
}

// grid (ceil(N / 128), ceil(M / 128), splits), block 256; partials null (then splits = 1) or [splits, M, N]
#define SGEMM_ENTRY(NAME, TA, TB)                                                                             \
    extern "C" __global__ void __launch_bounds__(256)                                                         \
        NAME(int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb, float beta,  \
             float* C, int k_chunk, float* partials) {                                                        \
        sgemm_tiled<TA, TB>(M, N, K, alpha, A, lda, B, ldb, beta, C, k_chunk, partials);                      \
    }

SGEMM_ENTRY(sgemm_nn, false, false)
SGEMM_ENTRY(sgemm_nt, false, true)
SGEMM_ENTRY(sgemm_tn, true, false)
SGEMM_ENTRY(sgemm_tt, true, true)

// C = alpha * (sum over the splits of partials [splits, M*N], in order) + beta * C (C unread when beta is 0)
extern "C" __global__ void sgemm_splitk_reduce(float* CM_RESTRICT C, const float* CM_RESTRICT partials, int splits,
                                               i64 mn, float alpha, float beta) {
    for (i64 i = global_thread(); i < mn; i += grid_threads()) {
        float s = 0.f;
        for (int z = 0; z < splits; z++) s += partials[z * mn + i];
        C[i] = beta == 0.f ? alpha * s : alpha * s + beta * C[i];
    }
}
