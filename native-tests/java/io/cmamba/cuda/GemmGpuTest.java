package io.cmamba.cuda;

import io.cmamba.tensor.Tensor;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static io.cmamba.cuda.GpuTestSupport.*;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * C = alpha op(A) op(B) + beta C by cuBLAS and by the tiled kernel, against the CPU, all transposes,
 * odd sizes; the last two sizes have few tiles and a long K, so the tiled kernel splits K.
 */
@Tag("gpu")
class GemmGpuTest {
    /** {M, N, K} */
    private static final int[][] SIZES = {{1, 1, 1}, {7, 13, 5}, {129, 65, 257}, {128, 128, 8}, {256, 512, 128},
            {1000, 3, 77}, {3, 1000, 130}, {33, 17, 1031}, {200, 70, 9000}};

    interface Engine {
        void run(boolean ta, boolean tb, double alpha, Tensor a, Tensor b, double beta, Tensor c);
    }

    private static void check(String name, Engine engine) {
        Random rnd = random("gemm " + name);
        for (int[] s : SIZES) {
            int m = s[0], n = s[1], k = s[2];
            for (int t = 0; t < 4; t++) {
                boolean ta = (t & 1) != 0, tb = (t & 2) != 0;
                try (Pair a = gaussianPair(rnd, ta ? new int[]{k, m} : new int[]{m, k});
                     Pair b = gaussianPair(rnd, tb ? new int[]{n, k} : new int[]{k, n});
                     Pair c = poisoned(m, n)) {
                    String what = name + " " + m + "x" + n + "x" + k + (ta ? " A^T" : "") + (tb ? " B^T" : "");
                    // beta 0 ignores the NaN in C
                    CPU.gemm(ta, tb, 1.0, a.cpu(), b.cpu(), 0.0, c.cpu());
                    engine.run(ta, tb, 1.0, a.gpu(), b.gpu(), 0.0, c.gpu());
                    assertMatches(c, SUM_TOL, what);
                    // accumulate onto the previous C
                    CPU.gemm(ta, tb, -0.5, a.cpu(), b.cpu(), 0.25, c.cpu());
                    engine.run(ta, tb, -0.5, a.gpu(), b.gpu(), 0.25, c.gpu());
                    assertMatches(c, SUM_TOL, what + " beta 0.25");
                }
            }
        }
    }

    @Test
    void cublasMatchesCpu() {
        CudaGemm g = gpu().gemmEngine();
        org.junit.jupiter.api.Assumptions.assumeTrue(g.cublasAvailable(), g::describe);
        check("cublas", g::cublas);
    }

    @Test
    void tiledKernelMatchesCpu() {
        check("tiled", gpu().gemmEngine()::tiled);
    }

    @Test
    void backendGemmAndEmptyInner() {
        Random rnd = random("gemm k=0");
        // op(A) [5, 0] as the transpose of A [0, 5]
        try (Pair a = gaussianPair(rnd, 0, 5); Pair b = gaussianPair(rnd, 0, 4); Pair c = gaussianPair(rnd, 5, 4)) {
            CPU.gemm(true, false, 1, a.cpu(), b.cpu(), 0.5, c.cpu());
            gpu().gemm(true, false, 1, a.gpu(), b.gpu(), 0.5, c.gpu());
            assertMatches(c, TOL, "K = 0 scales C");
        }
        try (Pair a = gaussianPair(rnd, 2, 50, 64); Pair w = gaussianPair(rnd, 96, 64); Pair c = poisoned(2, 50, 96)) {
            CPU.gemm(false, true, 1, a.cpu(), w.cpu(), 0, c.cpu());
            gpu().gemm(false, true, 1, a.gpu(), w.gpu(), 0, c.gpu());
            assertMatches(c, SUM_TOL, "leading dimensions folded into rows");
        }
        assertTrue(gpu().gemmEngine().describe().length() > 0);
        System.out.println("gemm: " + gpu().gemmEngine().describe());
    }
}
