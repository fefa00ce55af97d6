// Row-major SGEMM C = alpha op(A) op(B) + beta C, the fallback where cuBLAS cannot load. 64 x 64 tiles
// of C per block of 16 x 16 threads, each thread a 4 x 4 register tile; K in steps of 16 through
// shared memory. Transposes are index arithmetic on the loads (A is [M, K] or [K, M]).
#define TM 64
#define TN 64
#define TK 16

extern "C" __global__ void __launch_bounds__(256) sgemm_tiled(int M, int N, int K, float alpha, const float* A, int transA,
                                                              const float* B, int transB, float beta, float* C) {
    __shared__ float As[TK][TM + 4];
    __shared__ float Bs[TK][TN + 4];
    int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    int row0 = blockIdx.y * TM, col0 = blockIdx.x * TN;
    float acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] = 0.f;
    for (int k0 = 0; k0 < K; k0 += TK) {
        for (int e = threadIdx.x; e < TM * TK; e += 256) {
            int r = e / TK, k = e % TK;          // A tile element (row r, depth k)
            int gr = row0 + r, gk = k0 + k;
            float a = 0.f;
            if (gr < M && gk < K) a = transA ? A[(long)gk * M + gr] : A[(long)gr * K + gk];
            As[k][r] = a;
            int c = e / TK, kb = e % TK;         // B tile element (depth kb, column c)
            int gc = col0 + c, gkb = k0 + kb;
            float b = 0.f;
            if (gc < N && gkb < K) b = transB ? B[(long)gc * K + gkb] : B[(long)gkb * N + gc];
            Bs[kb][c] = b;
        }
        __syncthreads();
#pragma unroll
        for (int k = 0; k < TK; k++) {
            float a[4], b[4];
#pragma unroll
            for (int i = 0; i < 4; i++) a[i] = As[k][ty * 4 + i];
#pragma unroll
            for (int j = 0; j < 4; j++) b[j] = Bs[k][tx * 4 + j];
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++) acc[i][j] += a[i] * b[j];
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
        int r = row0 + ty * 4 + i;
        if (r >= M) continue;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int c = col0 + tx * 4 + j;
            if (c < N) C[(long)r * N + c] = alpha * acc[i][j] + (beta != 0.f ? beta * C[(long)r * N + c] : 0.f);
        }
    }
}
