package io.cmamba.cuda;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static io.cmamba.cuda.GpuSupport.*;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** cuBLAS and the hand-written tiled kernel against the float64 CPU GEMM, every transpose, odd sizes. */
@Tag("gpu")
class GemmGpuTest {
    private final Random rnd = new Random(System.nanoTime());

    @Test
    void bothEnginesEveryTransposeOddSizes() {
        CudaBackend be = gpu();
        for (int[] mnk : new int[][]{{1, 1, 1}, {65, 33, 17}, {513, 130, 257}, {3000, 512, 128}})
            for (boolean ta : new boolean[]{false, true})
                for (boolean tb : new boolean[]{false, true}) {
                    int m = mnk[0], n = mnk[1], k = mnk[2];
                    Twin a = ta ? randn(rnd, 1, 0, k, m) : randn(rnd, 1, 0, m, k);
                    Twin b = tb ? randn(rnd, 1, 0, n, k) : randn(rnd, 1, 0, k, n);
                    Twin c0 = randn(rnd, 1, 0, m, n);
                    for (boolean tiled : new boolean[]{false, true}) {
                        Twin c = out(m, n);
                        be.copy(c.gpu(), c0.gpu());
                        CPU.copy(c.cpu(), c0.cpu());
                        if (tiled) be.gemm.runTiled(ta, tb, m, n, k, 0.5, a.gpu(), b.gpu(), 0.25, c.gpu());
                        else be.gemm(ta, tb, 0.5, a.gpu(), b.gpu(), 0.25, c.gpu());
                        CPU.gemm(ta, tb, 0.5, a.cpu(), b.cpu(), 0.25, c.cpu());
                        assertClose((tiled ? "tiled" : be.gemm.engine()) + " gemm " + m + "x" + n + "x" + k + " transA " + ta + " transB " + tb, c, 1e-5);
                    }
                }
        assertTrue(be.gemm.usesCublas(), "cuBLAS should load on a CUDA machine: " + be.gemm.engine());
    }
}
