package io.cmamba.cuda;

import io.cmamba.cuda.CudaGlobalConv.Path;
import io.cmamba.tensor.Activation;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Saved;
import io.cmamba.tensor.ScanInputs;
import io.cmamba.tensor.Tensor;
import io.cmamba.testing.GradCheck;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static io.cmamba.cuda.GpuTestSupport.CPU;
import static io.cmamba.cuda.GpuTestSupport.Pair;
import static io.cmamba.cuda.GpuTestSupport.assertMatches;
import static io.cmamba.cuda.GpuTestSupport.assertRejected;
import static io.cmamba.cuda.GpuTestSupport.gpu;
import static io.cmamba.cuda.GpuTestSupport.pair;
import static io.cmamba.cuda.GpuTestSupport.poisoned;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The GPU global convolution against the CPU reference (float64 arithmetic on the same float32
 * inputs), on fresh random inputs, for M in {1, 3} and L in {1, 50, 1000, 8192} (small B and D so the
 * reference stays quick at 8192): kernel materialisation, its backward, and the convolution forward
 * and backward by both the direct and the FFT path. Outputs are poisoned with NaN first, and every
 * element must be written. Then the convolution times silu(z) against the coupled scan run with the
 * same time-invariant parameters (the GPU scan, or the CPU scan where the GPU scan is not built).
 */
@Tag("gpu")
class GlobalConvGpuTest {
    /** Materialised kernels: a few float32 roundings per element. */
    static final double KERNEL_TOL = 2e-5;
    /** Sums over lags, states, pairs, batch and time in float32. */
    static final double SUM_TOL = 1e-4;

    /**
     * -Dcmamba.gconv.maxTestLength=N drops the longer cases (racecheck instruments every shared-memory
     * access and would take minutes on L 8192; the tiling is the same from a few tiles on).
     */
    static final int MAX_LENGTH = Integer.getInteger("cmamba.gconv.maxTestLength", Integer.MAX_VALUE);

    static Stream<Arguments> sizes() {
        List<Arguments> a = new ArrayList<>();
        for (int m : new int[]{1, 3})
            for (int l : new int[]{1, 50, 1000, 8192})
                if (l <= MAX_LENGTH) a.add(Arguments.of(m, l));
        return a.stream();
    }

    /** Parameters of one case: B, D, N by length (the CPU reference costs M^2 B D L^2). */
    record Dims(int m, int b, int l, int d, int n) {
        static Dims of(int m, int l) {
            return l >= 4096 ? new Dims(m, 2, l, 8, 16) : new Dims(m, 2, l, 40, 12);
        }
    }

    /** A = -exp(noise) * (n + 1) (S4D-real scale), delta log-uniform in [1e-3, 1e-1] (the paper's init). */
    static final class Params implements AutoCloseable {
        final Pair a, delta, bm, cm;

        Params(Random rnd, int m, int d, int n) {
            double[] av = new double[m * d * n];
            for (int i = 0; i < av.length; i++) av[i] = -(i % n + 1) * Math.exp(0.3 * rnd.nextGaussian());
            double[] dv = new double[m * d];
            for (int i = 0; i < dv.length; i++) dv[i] = Math.exp(Math.log(1e-3) + rnd.nextDouble() * Math.log(100));
            a = pair(av, m, d, n);
            delta = pair(dv, m, d);
            bm = GpuTestSupport.gaussianPair(rnd, m, n);
            cm = GpuTestSupport.gaussianPair(rnd, m, n);
        }

        @Override
        public void close() {
            a.close();
            delta.close();
            bm.close();
            cm.close();
        }
    }

    @ParameterizedTest(name = "M {0}, L {1}")
    @MethodSource("sizes")
    void kernelMatchesTheCpu(int m, int l) {
        CudaBackend g = gpu();
        Dims s = Dims.of(m, l);
        Random rnd = GpuTestSupport.random("kernel M " + m + " L " + l);
        try (Params p = new Params(rnd, m, s.d, s.n); Pair k = poisoned(m, m, s.d, l)) {
            CPU.globalConvKernel(k.cpu(), p.a.cpu(), p.delta.cpu(), p.bm.cpu(), p.cm.cpu());
            CudaGlobalConv.kernel(g, k.gpu(), p.a.gpu(), p.delta.gpu(), p.bm.gpu(), p.cm.gpu());
            assertMatches(k, KERNEL_TOL, "K");
        }
    }

    @ParameterizedTest(name = "M {0}, L {1}")
    @MethodSource("sizes")
    void kernelBackwardMatchesTheCpu(int m, int l) {
        CudaBackend g = gpu();
        Dims s = Dims.of(m, l);
        Random rnd = GpuTestSupport.random("kernel backward M " + m + " L " + l);
        try (Params p = new Params(rnd, m, s.d, s.n); Pair dk = GpuTestSupport.gaussianPair(rnd, m, m, s.d, l);
             Pair dA = poisoned(m, s.d, s.n); Pair dDelta = poisoned(m, s.d); Pair dB = poisoned(m, s.n);
             Pair dC = poisoned(m, s.n)) {
            CPU.globalConvKernelBackward(dA.cpu(), dDelta.cpu(), dB.cpu(), dC.cpu(), dk.cpu(), p.a.cpu(), p.delta.cpu(),
                    p.bm.cpu(), p.cm.cpu());
            CudaGlobalConv.kernelBackward(g, dA.gpu(), dDelta.gpu(), dB.gpu(), dC.gpu(), dk.gpu(), p.a.gpu(), p.delta.gpu(),
                    p.bm.gpu(), p.cm.gpu());
            assertMatches(dA, SUM_TOL, "dA");
            assertMatches(dDelta, SUM_TOL, "dDelta");
            assertMatches(dB, SUM_TOL, "dB");
            assertMatches(dC, SUM_TOL, "dC");
        }
    }

    /** Forward and backward of the convolution; the CPU reference once, both GPU paths against it. */
    @ParameterizedTest(name = "M {0}, L {1}")
    @MethodSource("sizes")
    void convolutionMatchesTheCpuOnBothPaths(int m, int l) {
        CudaBackend g = gpu();
        Dims s = Dims.of(m, l);
        Random rnd = GpuTestSupport.random("convolution M " + m + " L " + l);
        try (Pair u = GpuTestSupport.gaussianPair(rnd, m, s.b, l, s.d);
             Pair k = pair(decayingKernel(rnd, m, s.d, l), m, m, s.d, l);
             Pair dskip = GpuTestSupport.gaussianPair(rnd, m, s.d);
             Pair dy = GpuTestSupport.gaussianPair(rnd, m, s.b, l, s.d)) {
            Tensor yRef = CPU.empty(DType.F32, m, s.b, l, s.d), duRef = CPU.empty(DType.F32, m, s.b, l, s.d);
            Tensor dkRef = CPU.empty(DType.F32, m, m, s.d, l), dsRef = CPU.empty(DType.F32, m, s.d);
            CPU.globalConvForward(yRef, u.cpu(), k.cpu(), dskip.cpu());
            CPU.globalConvBackward(duRef, dkRef, dsRef, dy.cpu(), u.cpu(), k.cpu(), dskip.cpu());
            for (Path path : new Path[]{Path.DIRECT, Path.FFT}) {
                String at = " (" + path + ")";
                try (Pair y = poisoned(m, s.b, l, s.d); Pair du = poisoned(m, s.b, l, s.d); Pair dk = poisoned(m, m, s.d, l);
                     Pair ds = poisoned(m, s.d)) {
                    CudaGlobalConv.forward(g, path, y.gpu(), u.gpu(), k.gpu(), dskip.gpu());
                    assertMatches(y.gpu(), yRef.toDoubles(), SUM_TOL, "y" + at);
                    CudaGlobalConv.backward(g, path, du.gpu(), dk.gpu(), ds.gpu(), dy.gpu(), u.gpu(), k.gpu(), dskip.gpu());
                    assertMatches(du.gpu(), duRef.toDoubles(), SUM_TOL, "du" + at);
                    assertMatches(dk.gpu(), dkRef.toDoubles(), SUM_TOL, "dK" + at);
                    assertMatches(ds.gpu(), dsRef.toDoubles(), SUM_TOL, "dDskip" + at);
                }
            }
        }
    }

    /** Kernels that decay along the lag like real ones (and a plain Gaussian direct term). */
    static double[] decayingKernel(Random rnd, int m, int d, int l) {
        double[] k = new double[m * m * d * l];
        for (int r = 0; r < m * m * d; r++) {
            double rate = Math.exp(Math.log(1e-3) + rnd.nextDouble() * Math.log(100));
            for (int lag = 0; lag < l; lag++) k[r * l + lag] = rnd.nextGaussian() * Math.exp(-rate * lag);
        }
        return k;
    }

    /**
     * The same parameters as a coupled scan whose delta, B and C do not change over batch and time:
     * out = y * silu(z), with y from the GPU kernel and convolution (both paths).
     */
    @Test
    void convolutionEqualsTheCoupledScanWithTimeInvariantParameters() {
        CudaBackend g = gpu();
        Random rnd = GpuTestSupport.random("convolution vs scan");
        for (int[] c : new int[][]{{1, 2, 50, 16, 16}, {3, 2, 1000, 24, 16}, {3, 1, 300, 40, 64}}) {
            int m = c[0], b = c[1], l = c[2], d = c[3], n = c[4];
            try (Params p = new Params(rnd, m, d, n); Pair u = GpuTestSupport.gaussianPair(rnd, m, b, l, d);
                 Pair z = GpuTestSupport.gaussianPair(rnd, m, b, l, d); Pair dskip = GpuTestSupport.gaussianPair(rnd, m, d)) {
                // the scan applies softplus to deltaPre: the inverse of softplus gives the same delta
                double[] dv = p.delta.cpu().toDoubles();
                double[] pre = new double[dv.length];
                for (int i = 0; i < pre.length; i++) pre[i] = Math.log(Math.expm1(dv[i]));
                double[] scanOut = scan(g, m, b, l, d, n, p, u, z, dskip, pre);
                for (Path path : new Path[]{Path.DIRECT, Path.FFT}) {
                    try (Tensor k = g.empty(DType.F32, m, m, d, l); Tensor y = g.empty(DType.F32, m, b, l, d);
                         Tensor gate = g.empty(DType.F32, m, b, l, d)) {
                        g.fill(y, Double.NaN);
                        CudaGlobalConv.kernel(g, k, p.a.gpu(), p.delta.gpu(), p.bm.gpu(), p.cm.gpu());
                        CudaGlobalConv.forward(g, path, y, u.gpu(), k, dskip.gpu());
                        g.activationForward(Activation.SILU, gate, z.gpu());
                        g.mul(y, y, gate);
                        double e = GradCheck.relativeDifference(y.toDoubles(), scanOut);
                        assertTrue(e <= SUM_TOL, "M " + m + " L " + l + " " + path + ": convolution differs from the scan by " + e);
                    }
                }
            }
        }
    }

    /** The coupled scan's output with time-invariant parameters: on the GPU if built, else on the CPU. */
    private static double[] scan(CudaBackend g, int m, int b, int l, int d, int n, Params p, Pair u, Pair z, Pair dskip,
                                 double[] pre) {
        double[] bv = p.bm.cpu().toDoubles(), cv = p.cm.cpu().toDoubles();
        double[] preT = new double[m * b * l * d], bT = new double[m * b * l * n], cT = new double[m * b * l * n];
        for (int mm = 0; mm < m; mm++)
            for (int s = 0; s < b * l; s++) {
                for (int j = 0; j < d; j++) preT[(mm * b * l + s) * d + j] = pre[mm * d + j];
                for (int j = 0; j < n; j++) {
                    bT[(mm * b * l + s) * n + j] = bv[mm * n + j];
                    cT[(mm * b * l + s) * n + j] = cv[mm * n + j];
                }
            }
        try (Pair deltaPre = pair(preT, m, b, l, d); Pair bt = pair(bT, m, b, l, n); Pair ct = pair(cT, m, b, l, n);
             Pair out = poisoned(m, b, l, d)) {
            try {
                ScanInputs in = new ScanInputs(u.gpu(), deltaPre.gpu(), z.gpu(), p.a.gpu(), bt.gpu(), ct.gpu(), dskip.gpu(), null, null);
                try (Saved ignored = g.coupledScanForward(in, out.gpu(), null)) {
                    System.out.println("reference: the GPU coupled scan");
                    return out.gpu().toDoubles();
                }
            } catch (UnsupportedOperationException notBuilt) {
                System.out.println("reference: the CPU coupled scan (" + notBuilt.getMessage() + ")");
                ScanInputs in = new ScanInputs(u.cpu(), deltaPre.cpu(), z.cpu(), p.a.cpu(), bt.cpu(), ct.cpu(), dskip.cpu(), null, null);
                try (Saved ignored = CPU.coupledScanForward(in, out.cpu(), null)) {
                    return out.cpu().toDoubles();
                }
            }
        }
    }

    /** Views at an offset inside larger tensors (the uncoupled layer runs one modality at a time). */
    @Test
    void viewsAtAnOffsetWork() {
        CudaBackend g = gpu();
        Random rnd = GpuTestSupport.random("views");
        int m = 3, b = 2, l = 300, d = 40, n = 12;
        try (Params p = new Params(rnd, m, d, n); Pair u = GpuTestSupport.gaussianPair(rnd, m, b, l, d);
             Pair dskip = GpuTestSupport.gaussianPair(rnd, m, d); Pair dy = GpuTestSupport.gaussianPair(rnd, m, b, l, d)) {
            int sel = 2;
            try (Pair k = poisoned(1, 1, d, l); Pair y = poisoned(m, b, l, d); Pair du = poisoned(m, b, l, d);
                 Pair dk = poisoned(1, 1, d, l); Pair ds = poisoned(m, d)) {
                CPU.globalConvKernel(k.cpu(), p.a.cpu().narrow(sel, 1), p.delta.cpu().narrow(sel, 1), p.bm.cpu().narrow(sel, 1),
                        p.cm.cpu().narrow(sel, 1));
                CudaGlobalConv.kernel(g, k.gpu(), p.a.gpu().narrow(sel, 1), p.delta.gpu().narrow(sel, 1),
                        p.bm.gpu().narrow(sel, 1), p.cm.gpu().narrow(sel, 1));
                assertMatches(k, KERNEL_TOL, "K of modality " + sel);
                for (Path path : new Path[]{Path.DIRECT, Path.FFT}) {
                    CPU.globalConvForward(y.cpu().narrow(sel, 1), u.cpu().narrow(sel, 1), k.cpu(), dskip.cpu().narrow(sel, 1));
                    CudaGlobalConv.forward(g, path, y.gpu().narrow(sel, 1), u.gpu().narrow(sel, 1), k.gpu(), dskip.gpu().narrow(sel, 1));
                    assertMatches(y.gpu().narrow(sel, 1), y.cpu().narrow(sel, 1).toDoubles(), SUM_TOL, "y of modality " + sel + " " + path);
                    CPU.globalConvBackward(du.cpu().narrow(sel, 1), dk.cpu(), ds.cpu().narrow(sel, 1), dy.cpu().narrow(sel, 1),
                            u.cpu().narrow(sel, 1), k.cpu(), dskip.cpu().narrow(sel, 1));
                    CudaGlobalConv.backward(g, path, du.gpu().narrow(sel, 1), dk.gpu(), ds.gpu().narrow(sel, 1),
                            dy.gpu().narrow(sel, 1), u.gpu().narrow(sel, 1), k.gpu(), dskip.gpu().narrow(sel, 1));
                    assertMatches(du.gpu().narrow(sel, 1), du.cpu().narrow(sel, 1).toDoubles(), SUM_TOL, "du " + path);
                    assertMatches(dk, SUM_TOL, "dK " + path);
                    assertMatches(ds.gpu().narrow(sel, 1), ds.cpu().narrow(sel, 1).toDoubles(), SUM_TOL, "dDskip " + path);
                }
            }
        }
    }

    /** The backend's own entry points route here (the CudaBackend methods are what layers call). */
    @Test
    void backendMethodsUseTheseKernels() {
        CudaBackend g = gpu();
        Random rnd = GpuTestSupport.random("backend");
        int m = 3, b = 2, l = 600, d = 33, n = 16;
        try (Params p = new Params(rnd, m, d, n); Pair u = GpuTestSupport.gaussianPair(rnd, m, b, l, d);
             Pair dskip = GpuTestSupport.gaussianPair(rnd, m, d); Pair k = poisoned(m, m, d, l); Pair y = poisoned(m, b, l, d)) {
            CPU.globalConvKernel(k.cpu(), p.a.cpu(), p.delta.cpu(), p.bm.cpu(), p.cm.cpu());
            g.globalConvKernel(k.gpu(), p.a.gpu(), p.delta.gpu(), p.bm.gpu(), p.cm.gpu());
            assertMatches(k, KERNEL_TOL, "K");
            CPU.globalConvForward(y.cpu(), u.cpu(), k.cpu(), dskip.cpu());
            g.globalConvForward(y.gpu(), u.gpu(), k.gpu(), dskip.gpu());
            assertMatches(y, SUM_TOL, "y");
        }
    }

    @Test
    void badInputIsRejectedWithItsName() {
        CudaBackend g = gpu();
        try (Tensor u = g.empty(DType.F32, 2, 1, 4, 3); Tensor y = g.empty(DType.F32, 2, 1, 4, 3);
             Tensor k = g.empty(DType.F32, 2, 2, 3, 5); Tensor ds = g.empty(DType.F32, 2, 3)) {
            assertRejected(() -> CudaGlobalConv.forward(g, y, u, k, ds), "expected kernel [2, 2, 3, 4]");
            try (Tensor k4 = g.empty(DType.F32, 2, 2, 3, 4)) {
                assertRejected(() -> CudaGlobalConv.forward(g, u, u, k4, ds), "overlaps");
            }
        }
        try (Tensor a = g.empty(DType.F32, 1, 2, 300); Tensor delta = g.empty(DType.F32, 1, 2);
             Tensor bm = g.empty(DType.F32, 1, 300); Tensor cm = g.empty(DType.F32, 1, 300); Tensor k = g.empty(DType.F32, 1, 1, 2, 8)) {
            assertRejected(() -> CudaGlobalConv.kernel(g, k, a, delta, bm, cm), "N = 300");
        }
        try (Tensor u = g.empty(DType.F32, 5, 1, 8, 2); Tensor y = g.empty(DType.F32, 5, 1, 8, 2);
             Tensor k = g.empty(DType.F32, 5, 5, 2, 8); Tensor ds = g.empty(DType.F32, 5, 2)) {
            assertRejected(() -> CudaGlobalConv.forward(g, Path.FFT, y, u, k, ds), "M = 5");
        }
    }

    /** M = 5 takes the direct path with two groups of output modalities per block row. */
    @Test
    void moreThanFourModalitiesRunTheDirectPath() {
        CudaBackend g = gpu();
        Random rnd = GpuTestSupport.random("M 5");
        int m = 5, b = 1, l = 130, d = 8, n = 4;
        try (Params p = new Params(rnd, m, d, n); Pair u = GpuTestSupport.gaussianPair(rnd, m, b, l, d);
             Pair dskip = GpuTestSupport.gaussianPair(rnd, m, d); Pair dy = GpuTestSupport.gaussianPair(rnd, m, b, l, d);
             Pair k = poisoned(m, m, d, l); Pair y = poisoned(m, b, l, d); Pair du = poisoned(m, b, l, d);
             Pair dk = poisoned(m, m, d, l); Pair ds = poisoned(m, d); Pair dA = poisoned(m, d, n);
             Pair dDelta = poisoned(m, d); Pair dB = poisoned(m, n); Pair dC = poisoned(m, n)) {
            CPU.globalConvKernel(k.cpu(), p.a.cpu(), p.delta.cpu(), p.bm.cpu(), p.cm.cpu());
            CudaGlobalConv.kernel(g, k.gpu(), p.a.gpu(), p.delta.gpu(), p.bm.gpu(), p.cm.gpu());
            assertMatches(k, KERNEL_TOL, "K");
            CPU.globalConvForward(y.cpu(), u.cpu(), k.cpu(), dskip.cpu());
            CudaGlobalConv.forward(g, y.gpu(), u.gpu(), k.gpu(), dskip.gpu());
            assertMatches(y, SUM_TOL, "y");
            CPU.globalConvBackward(du.cpu(), dk.cpu(), ds.cpu(), dy.cpu(), u.cpu(), k.cpu(), dskip.cpu());
            CudaGlobalConv.backward(g, du.gpu(), dk.gpu(), ds.gpu(), dy.gpu(), u.gpu(), k.gpu(), dskip.gpu());
            assertMatches(du, SUM_TOL, "du");
            assertMatches(dk, SUM_TOL, "dK");
            assertMatches(ds, SUM_TOL, "dDskip");
            try (Pair w = GpuTestSupport.gaussianPair(rnd, m, m, d, l)) {
                CPU.globalConvKernelBackward(dA.cpu(), dDelta.cpu(), dB.cpu(), dC.cpu(), w.cpu(), p.a.cpu(), p.delta.cpu(), p.bm.cpu(), p.cm.cpu());
                CudaGlobalConv.kernelBackward(g, dA.gpu(), dDelta.gpu(), dB.gpu(), dC.gpu(), w.gpu(), p.a.gpu(), p.delta.gpu(), p.bm.gpu(), p.cm.gpu());
            }
            assertMatches(dA, SUM_TOL, "dA");
            assertMatches(dDelta, SUM_TOL, "dDelta");
            assertMatches(dB, SUM_TOL, "dB");
            assertMatches(dC, SUM_TOL, "dC");
        }
    }
}
