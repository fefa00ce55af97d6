package io.cmamba.cpu;

import io.cmamba.tensor.DType;
import io.cmamba.tensor.ScanInputs;
import io.cmamba.tensor.Tensor;
import io.cmamba.testing.GradCheck;
import org.junit.jupiter.api.Test;

import java.util.Random;
import java.util.function.DoubleUnaryOperator;
import java.util.function.Supplier;

import static io.cmamba.cpu.CpuTestSupport.CPU;
import static io.cmamba.cpu.CpuTestSupport.F64_TOL;
import static io.cmamba.cpu.CpuTestSupport.assertAllWritten;
import static io.cmamba.cpu.CpuTestSupport.assertClose;
import static io.cmamba.cpu.CpuTestSupport.assertGradient;
import static io.cmamba.cpu.CpuTestSupport.assertRejected;
import static io.cmamba.cpu.CpuTestSupport.poisoned;

/** The time-invariant coupled SSM as a convolution: kernel, convolution, both backwards. */
class CpuGlobalConvTest {

    static Tensor randn(Random rnd, double scale, double mean, int... shape) {
        Tensor t = CPU.empty(DType.F64, shape);
        double[] a = CpuBackend.data(t);
        for (int i = 0; i < a.length; i++) a[i] = mean + scale * rnd.nextGaussian();
        return t;
    }

    /** A = -exp(U(-1, 1)), as in the scan tests. */
    static Tensor negativeA(Random rnd, int m, int d, int n) {
        Tensor a = CPU.empty(DType.F64, m, d, n);
        double[] v = CpuBackend.data(a);
        for (int i = 0; i < v.length; i++) v[i] = -Math.exp(rnd.nextDouble() * 2 - 1);
        return a;
    }

    /** delta in [0.05, 0.55]. */
    static Tensor positiveDelta(Random rnd, int m, int d) {
        Tensor t = CPU.empty(DType.F64, m, d);
        double[] v = CpuBackend.data(t);
        for (int i = 0; i < v.length; i++) v[i] = 0.05 + 0.5 * rnd.nextDouble();
        return t;
    }

    /** A [M, X] parameter broadcast over batch and time into [M, B, L, X], through f. */
    static Tensor overTime(Tensor p, int b, int l, DoubleUnaryOperator f) {
        int m = p.dim(0), x = p.dim(1);
        Tensor out = CPU.empty(DType.F64, m, b, l, x);
        double[] o = CpuBackend.data(out), v = p.toDoubles();
        for (int mm = 0; mm < m; mm++)
            for (int s = 0; s < b; s++)
                for (int t = 0; t < l; t++)
                    for (int j = 0; j < x; j++) o[((mm * b + s) * l + t) * x + j] = f.applyAsDouble(v[mm * x + j]);
        return out;
    }

    /** The kernel written from MODEL.md with Math.pow, independently of CpuGlobalConv. */
    static double[] kernelByPow(double[] a, double[] delta, double[] bp, double[] cp, int m, int d, int n, int l) {
        double[] k = new double[m * m * d * l];
        for (int c = 0; c < d; c++)
            for (int mi = 0; mi < m; mi++)
                for (int ki = 0; ki < m; ki++)
                    for (int lag = 0; lag < l; lag++) {
                        double s = 0;
                        for (int j = 0; j < n; j++) {
                            double g = 0;
                            for (int q = 0; q < m; q++) g += Math.exp(delta[q * d + c] * a[(q * d + c) * n + j]) / m;
                            double abarM = Math.exp(delta[mi * d + c] * a[(mi * d + c) * n + j]);
                            double bbarK = delta[ki * d + c] * bp[ki * n + j], bbarM = delta[mi * d + c] * bp[mi * n + j];
                            if (lag == 0) s += mi == ki ? cp[mi * n + j] * bbarM : 0;
                            else s += cp[mi * n + j] * abarM * Math.pow(g, lag - 1) * bbarK / m;
                        }
                        k[((mi * m + ki) * d + c) * l + lag] = s;
                    }
        return k;
    }

    @Test
    void kernelIsTheUnrolledRecurrence() {
        Random rnd = CpuTestSupport.random("kernelIsTheUnrolledRecurrence");
        for (int m : new int[]{1, 2, 3})
            for (int l : new int[]{1, 2, 40}) {
                int d = 3, n = 5;
                Tensor a = negativeA(rnd, m, d, n), delta = positiveDelta(rnd, m, d), bp = randn(rnd, 1, 0, m, n), cp = randn(rnd, 1, 0, m, n);
                Tensor kernel = poisoned(DType.F64, m, m, d, l);
                CPU.globalConvKernel(kernel, a, delta, bp, cp);
                assertAllWritten(kernel, "kernel");
                assertClose(kernel, kernelByPow(a.toDoubles(), delta.toDoubles(), bp.toDoubles(), cp.toDoubles(), m, d, n, l), F64_TOL,
                        "kernel vs the formula at M " + m + " L " + l);
            }
    }

    /**
     * MODEL.md: with delta, B and C constant over batch and time, the convolution with the materialised
     * kernel is the coupled scan; the scan's gated output is compared with y * silu(z) computed here.
     */
    @Test
    void convolutionEqualsTheCoupledScanWithTimeInvariantParameters() {
        Random rnd = CpuTestSupport.random("convolutionEqualsTheCoupledScanWithTimeInvariantParameters");
        for (int m : new int[]{1, 3})
            for (int l : new int[]{1, 50, 300}) {
                int b = 2, d = 3, n = 5;
                Tensor a = negativeA(rnd, m, d, n), delta = positiveDelta(rnd, m, d), bp = randn(rnd, 1, 0, m, n), cp = randn(rnd, 1, 0, m, n);
                Tensor u = randn(rnd, 1, 0, m, b, l, d), z = randn(rnd, 1, 0, m, b, l, d), dskip = randn(rnd, 0.3, 1, m, d);
                Tensor kernel = poisoned(DType.F64, m, m, d, l), y = poisoned(DType.F64, m, b, l, d);
                CPU.globalConvKernel(kernel, a, delta, bp, cp);
                CPU.globalConvForward(y, u, kernel, dskip);
                assertAllWritten(y, "y");
                ScanInputs in = new ScanInputs(u, overTime(delta, b, l, x -> Math.log(Math.expm1(x))), z, a,
                        overTime(bp, b, l, x -> x), overTime(cp, b, l, x -> x), dskip, null, null);
                double[] gated = y.toDoubles(), zz = z.toDoubles();
                for (int i = 0; i < gated.length; i++) gated[i] *= zz[i] / (1 + Math.exp(-zz[i]));
                assertClose(gated, ScanFixture.sequential(in).out().toDoubles(), 1e-11,
                        "convolution vs the scan at M " + m + " L " + l);
            }
    }

    @Test
    void kernelBackwardMatchesFiniteDifferences() {
        Random rnd = CpuTestSupport.random("kernelBackwardMatchesFiniteDifferences");
        for (int m : new int[]{1, 3})
            for (int l : new int[]{1, 9}) {
                int d = 2, n = 3;
                Tensor a = negativeA(rnd, m, d, n), delta = positiveDelta(rnd, m, d), bp = randn(rnd, 1, 0, m, n), cp = randn(rnd, 1, 0, m, n);
                double[] w = GradCheck.randomWeights(rnd, m * m * d * l);
                Tensor dA = poisoned(DType.F64, m, d, n), dDelta = poisoned(DType.F64, m, d), dB = poisoned(DType.F64, m, n), dC = poisoned(DType.F64, m, n);
                CPU.globalConvKernelBackward(dA, dDelta, dB, dC, CPU.fromDoubles(DType.F64, w, m, m, d, l), a, delta, bp, cp);
                Tensor kernel = CPU.empty(DType.F64, m, m, d, l);
                Supplier<Double> loss = () -> {
                    CPU.globalConvKernel(kernel, a, delta, bp, cp);
                    return GradCheck.dot(w, kernel.toDoubles());
                };
                Tensor[] xs = {a, delta, bp, cp}, gs = {dA, dDelta, dB, dC};
                String[] names = {"dA", "dDelta", "dB", "dC"};
                for (int i = 0; i < xs.length; i++) {
                    assertAllWritten(gs[i], names[i]);
                    assertGradient(xs[i], gs[i], loss, "kernel backward " + names[i] + " at M " + m + " L " + l);
                }
            }
    }

    @Test
    void convolutionBackwardMatchesFiniteDifferences() {
        Random rnd = CpuTestSupport.random("convolutionBackwardMatchesFiniteDifferences");
        for (int m : new int[]{1, 3}) {
            int b = 2, l = 6, d = 3;
            Tensor u = randn(rnd, 1, 0, m, b, l, d), kernel = randn(rnd, 1, 0, m, m, d, l), dskip = randn(rnd, 1, 0, m, d);
            double[] w = GradCheck.randomWeights(rnd, m * b * l * d);
            Tensor du = poisoned(DType.F64, m, b, l, d), dK = poisoned(DType.F64, m, m, d, l), dDs = poisoned(DType.F64, m, d);
            CPU.globalConvBackward(du, dK, dDs, CPU.fromDoubles(DType.F64, w, m, b, l, d), u, kernel, dskip);
            Tensor y = CPU.empty(DType.F64, m, b, l, d);
            Supplier<Double> loss = () -> {
                CPU.globalConvForward(y, u, kernel, dskip);
                return GradCheck.dot(w, y.toDoubles());
            };
            Tensor[] xs = {u, kernel, dskip}, gs = {du, dK, dDs};
            String[] names = {"du", "dKernel", "dDskip"};
            for (int i = 0; i < xs.length; i++) {
                assertAllWritten(gs[i], names[i]);
                assertGradient(xs[i], gs[i], loss, "convolution backward " + names[i] + " at M " + m);
            }
        }
    }

    /** The uncoupled layer hands each modality's slice as a view with an offset. */
    @Test
    void viewsWithOffsetsGiveTheResultsOfCopies() {
        Random rnd = CpuTestSupport.random("globalConvViewsWithOffsets");
        int m = 3, b = 2, l = 20, d = 3, n = 4;
        Tensor a = negativeA(rnd, m, d, n), delta = positiveDelta(rnd, m, d), bp = randn(rnd, 1, 0, m, n), cp = randn(rnd, 1, 0, m, n);
        Tensor u = randn(rnd, 1, 0, m, b, l, d), dskip = randn(rnd, 1, 0, m, d), dy = randn(rnd, 1, 0, m, b, l, d);
        Tensor kAll = poisoned(DType.F64, m, 1, d, l), yAll = poisoned(DType.F64, m, b, l, d);
        for (int mm = 0; mm < m; mm++) {
            Tensor km = kAll.narrow(mm, 1);
            CPU.globalConvKernel(km, a.narrow(mm, 1), delta.narrow(mm, 1), bp.narrow(mm, 1), cp.narrow(mm, 1));
            CPU.globalConvForward(yAll.narrow(mm, 1), u.narrow(mm, 1), km, dskip.narrow(mm, 1));
        }
        Tensor mOnly = CpuScanBackwardTest.copy(a.narrow(2, 1));
        Tensor k2 = CPU.empty(DType.F64, 1, 1, d, l), y2 = CPU.empty(DType.F64, 1, b, l, d);
        CPU.globalConvKernel(k2, mOnly, CpuScanBackwardTest.copy(delta.narrow(2, 1)), CpuScanBackwardTest.copy(bp.narrow(2, 1)),
                CpuScanBackwardTest.copy(cp.narrow(2, 1)));
        CPU.globalConvForward(y2, CpuScanBackwardTest.copy(u.narrow(2, 1)), k2, CpuScanBackwardTest.copy(dskip.narrow(2, 1)));
        org.junit.jupiter.api.Assertions.assertArrayEquals(k2.toDoubles(), kAll.narrow(2, 1).toDoubles(), 0, "kernel through a view");
        org.junit.jupiter.api.Assertions.assertArrayEquals(y2.toDoubles(), yAll.narrow(2, 1).toDoubles(), 0, "convolution through views");
        Tensor du = poisoned(DType.F64, 2, b, l, d), dK = poisoned(DType.F64, 2, 1, d, l), dDs = poisoned(DType.F64, 2, d);
        Tensor du2 = CPU.empty(DType.F64, 1, b, l, d), dK2 = CPU.empty(DType.F64, 1, 1, d, l), dDs2 = CPU.empty(DType.F64, 1, d);
        CPU.globalConvBackward(du.narrow(1, 1), dK.narrow(1, 1), dDs.narrow(1, 1), dy.narrow(2, 1), u.narrow(2, 1), kAll.narrow(2, 1), dskip.narrow(2, 1));
        CPU.globalConvBackward(du2, dK2, dDs2, CpuScanBackwardTest.copy(dy.narrow(2, 1)), CpuScanBackwardTest.copy(u.narrow(2, 1)), k2,
                CpuScanBackwardTest.copy(dskip.narrow(2, 1)));
        org.junit.jupiter.api.Assertions.assertArrayEquals(du2.toDoubles(), du.narrow(1, 1).toDoubles(), 0, "du through views");
        org.junit.jupiter.api.Assertions.assertArrayEquals(dK2.toDoubles(), dK.narrow(1, 1).toDoubles(), 0, "dKernel through views");
        org.junit.jupiter.api.Assertions.assertArrayEquals(dDs2.toDoubles(), dDs.narrow(1, 1).toDoubles(), 0, "dDskip through views");
    }

    @Test
    void wrongShapesNameTheArgument() {
        Random rnd = new Random(4);
        int m = 2, d = 3, n = 4, l = 5;
        Tensor a = negativeA(rnd, m, d, n), delta = positiveDelta(rnd, m, d), bp = randn(rnd, 1, 0, m, n), cp = randn(rnd, 1, 0, m, n);
        Tensor k = CPU.empty(DType.F64, m, m, d, l);
        assertRejected(() -> CPU.globalConvKernel(CPU.empty(DType.F64, m, 1, d, l), a, delta, bp, cp), "expected kernel [2, 2, 3, 5]");
        assertRejected(() -> CPU.globalConvKernel(k, a.reshape(m, n, d), delta, bp, cp), "expected kernel [2, 2, 4, 5]");
        assertRejected(() -> CPU.globalConvKernel(k, a, delta.reshape(d, m), bp, cp), "expected delta [2, 3], got [3, 2]");
        assertRejected(() -> CPU.globalConvKernel(k, a, delta, bp.reshape(n, m), cp), "expected B [2, 4]");
        assertRejected(() -> CPU.globalConvKernel(k, a, delta, bp, cp.reshape(1, m * n)), "expected C [2, 4]");
        assertRejected(() -> CPU.globalConvKernelBackward(CPU.empty(DType.F64, m, d, n), CPU.empty(DType.F64, m, d), CPU.empty(DType.F64, m, n),
                CPU.empty(DType.F64, 1, m * n), k, a, delta, bp, cp), "expected C [2, 4]");
        Tensor u = randn(rnd, 1, 0, m, 1, l, d);
        assertRejected(() -> CPU.globalConvForward(CPU.empty(DType.F64, m, 1, l, d), u, CPU.empty(DType.F64, m, m, d, l + 1),
                CPU.empty(DType.F64, m, d)), "expected kernel [2, 2, 3, 5], got [2, 2, 3, 6]");
        assertRejected(() -> CPU.globalConvForward(CPU.empty(DType.F64, m, 1, d, l), u, k, CPU.empty(DType.F64, m, d)), "expected y [2, 1, 5, 3]");
        assertRejected(() -> CPU.globalConvForward(CPU.empty(DType.F64, m, 1, l, d), u, k, CPU.empty(DType.F64, d, m)), "expected Dskip [2, 3]");
        assertRejected(() -> CPU.globalConvBackward(CPU.empty(DType.F64, m, 1, l, d + 1), CPU.empty(DType.F64, m, m, d, l), CPU.empty(DType.F64, m, d),
                CPU.empty(DType.F64, m, 1, l, d), u, k, CPU.empty(DType.F64, m, d)), "expected y [2, 1, 5, 3], got [2, 1, 5, 4]");
        assertRejected(() -> CPU.globalConvForward(CPU.empty(DType.F32, m, 1, l, d), u, k, CPU.empty(DType.F64, m, d)), "mixed dtypes");
    }

    @Test
    void aNanInTheInputsReachesOnlyLaterOutputsOfItsChannel() {
        Random rnd = CpuTestSupport.random("globalConvNan");
        int m = 3, b = 2, l = 8, d = 3, nanB = 1, nanT = 4, nanC = 2, nanM = 0;
        Tensor u = randn(rnd, 1, 0, m, b, l, d), kernel = randn(rnd, 1, 0, m, m, d, l), dskip = randn(rnd, 1, 0, m, d);
        CpuBackend.data(u)[((nanM * b + nanB) * l + nanT) * d + nanC] = Double.NaN;
        Tensor y = poisoned(DType.F64, m, b, l, d);
        CPU.globalConvForward(y, u, kernel, dskip);
        double[] v = y.toDoubles();
        for (int mm = 0; mm < m; mm++)
            for (int s = 0; s < b; s++)
                for (int t = 0; t < l; t++)
                    for (int c = 0; c < d; c++)
                        org.junit.jupiter.api.Assertions.assertEquals(s == nanB && c == nanC && t >= nanT,
                                Double.isNaN(v[((mm * b + s) * l + t) * d + c]), "NaN at m " + mm + " b " + s + " t " + t + " d " + c
                                        + " (input NaN at m " + nanM + " b " + nanB + " t " + nanT + " d " + nanC + ")");
    }
}
