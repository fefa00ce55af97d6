package io.cmamba.cpu;

import io.cmamba.tensor.DType;
import io.cmamba.tensor.ScanInputs;
import io.cmamba.tensor.Tensor;
import io.cmamba.testing.GradCheck;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class CpuGlobalConvTest {
    private final CpuBackend cpu = new CpuBackend();
    private final long seed = System.nanoTime();
    private final Random rnd = new Random(seed);

    Tensor randn(double scale, double mean, int... shape) {
        Tensor t = cpu.empty(DType.F64, shape);
        double[] a = CpuBackend.data(t);
        for (int i = 0; i < a.length; i++) a[i] = mean + scale * rnd.nextGaussian();
        return t;
    }

    Tensor negA(int m, int d, int n) {
        Tensor a = cpu.empty(DType.F64, m, d, n);
        double[] v = CpuBackend.data(a);
        for (int i = 0; i < v.length; i++) v[i] = -Math.exp(rnd.nextDouble() * 2 - 1);
        return a;
    }

    Tensor positive(int... shape) {
        Tensor t = cpu.empty(DType.F64, shape);
        double[] v = CpuBackend.data(t);
        for (int i = 0; i < v.length; i++) v[i] = 0.05 + 0.5 * rnd.nextDouble();
        return t;
    }

    /** Broadcast a [M, X] parameter over batch and time into [M, B, L, X]. */
    Tensor overTime(Tensor p, int b, int l, java.util.function.DoubleUnaryOperator f) {
        int m = p.dim(0), x = p.dim(1);
        Tensor out = cpu.empty(DType.F64, m, b, l, x);
        double[] o = CpuBackend.data(out), v = p.toDoubles();
        for (int mm = 0; mm < m; mm++)
            for (int s = 0; s < b; s++)
                for (int t = 0; t < l; t++)
                    for (int j = 0; j < x; j++) o[((mm * b + s) * l + t) * x + j] = f.applyAsDouble(v[mm * x + j]);
        return out;
    }

    @Test
    void convolutionEqualsTheCoupledScanWithTimeInvariantParameters() {
        for (int[] s : new int[][]{{1, 2, 1, 3, 4}, {3, 2, 50, 3, 5}, {3, 1, 300, 2, 8}, {1, 2, 50, 4, 2}}) {
            int m = s[0], b = s[1], l = s[2], d = s[3], n = s[4];
            Tensor a = negA(m, d, n), delta = positive(m, d), bp = randn(1, 0, m, n), cp = randn(1, 0, m, n);
            Tensor u = randn(1, 0, m, b, l, d), z = randn(1, 0, m, b, l, d), dskip = randn(0.3, 1, m, d);
            Tensor kernel = cpu.empty(DType.F64, m, m, d, l), y = cpu.empty(DType.F64, m, b, l, d);
            cpu.fill(kernel, Double.NaN);
            cpu.fill(y, Double.NaN);
            cpu.globalConvKernel(kernel, a, delta, bp, cp);
            cpu.globalConvForward(y, u, kernel, dskip);
            // the same parameters as a selective scan whose delta, B and C do not vary over b and t
            ScanInputs in = new ScanInputs(u, overTime(delta, b, l, x -> Math.log(Math.expm1(x))), z, a,
                    overTime(bp, b, l, x -> x), overTime(cp, b, l, x -> x), dskip, null, null);
            Tensor out = cpu.empty(DType.F64, m, b, l, d);
            cpu.coupledScanForward(in, out, null);
            double[] gated = y.toDoubles(), zz = z.toDoubles();
            for (int i = 0; i < gated.length; i++) gated[i] *= zz[i] / (1 + Math.exp(-zz[i]));
            double e = GradCheck.relativeDifference(gated, out.toDoubles());
            assertTrue(e <= 1e-11, "convolution differs from the scan by " + e + " at " + java.util.Arrays.toString(s) + " (seed " + seed + ")");
        }
    }

    @Test
    void kernelBackwardMatchesFiniteDifferences() {
        int m = 3, d = 2, n = 3, l = 6;
        Tensor a = negA(m, d, n), delta = positive(m, d), bp = randn(1, 0, m, n), cp = randn(1, 0, m, n);
        double[] w = GradCheck.randomWeights(rnd, m * m * d * l);
        Tensor dA = cpu.empty(DType.F64, m, d, n), dDelta = cpu.empty(DType.F64, m, d), dB = cpu.empty(DType.F64, m, n), dC = cpu.empty(DType.F64, m, n);
        for (Tensor t : new Tensor[]{dA, dDelta, dB, dC}) cpu.fill(t, Double.NaN);
        cpu.globalConvKernelBackward(dA, dDelta, dB, dC, cpu.fromDoubles(DType.F64, w, m, m, d, l), a, delta, bp, cp);
        Tensor kernel = cpu.empty(DType.F64, m, m, d, l);
        java.util.function.Supplier<Double> loss = () -> {
            cpu.globalConvKernel(kernel, a, delta, bp, cp);
            return GradCheck.dot(w, kernel.toDoubles());
        };
        Tensor[] xs = {a, delta, bp, cp}, gs = {dA, dDelta, dB, dC};
        String[] names = {"dA", "dDelta", "dB", "dC"};
        for (int i = 0; i < xs.length; i++) {
            double err = GradCheck.relativeError(CpuBackend.data(xs[i]), gs[i].toDoubles(), loss);
            assertTrue(err <= 1e-6, names[i] + " relative error " + err + " (seed " + seed + ")");
        }
    }

    @Test
    void convolutionBackwardMatchesFiniteDifferences() {
        for (int m : new int[]{1, 3}) {
            int b = 2, l = 5, d = 3;
            Tensor u = randn(1, 0, m, b, l, d), kernel = randn(1, 0, m, m, d, l), dskip = randn(1, 0, m, d);
            double[] w = GradCheck.randomWeights(rnd, m * b * l * d);
            Tensor du = cpu.empty(DType.F64, m, b, l, d), dK = cpu.empty(DType.F64, m, m, d, l), dDs = cpu.empty(DType.F64, m, d);
            for (Tensor t : new Tensor[]{du, dK, dDs}) cpu.fill(t, Double.NaN);
            cpu.globalConvBackward(du, dK, dDs, cpu.fromDoubles(DType.F64, w, m, b, l, d), u, kernel, dskip);
            Tensor y = cpu.empty(DType.F64, m, b, l, d);
            java.util.function.Supplier<Double> loss = () -> {
                cpu.globalConvForward(y, u, kernel, dskip);
                return GradCheck.dot(w, y.toDoubles());
            };
            Tensor[] xs = {u, kernel, dskip}, gs = {du, dK, dDs};
            for (int i = 0; i < xs.length; i++) {
                double err = GradCheck.relativeError(CpuBackend.data(xs[i]), gs[i].toDoubles(), loss);
                assertTrue(err <= 1e-6, "M " + m + " gradient " + i + " relative error " + err + " (seed " + seed + ")");
            }
        }
    }

    @Test
    void wrongKernelLengthIsNamed() {
        Tensor u = randn(1, 0, 2, 1, 4, 3);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> cpu.globalConvForward(cpu.empty(DType.F64, 2, 1, 4, 3), u, cpu.empty(DType.F64, 2, 2, 3, 5), cpu.empty(DType.F64, 2, 3)));
        assertTrue(e.getMessage().contains("expected kernel [2, 2, 3, 4]"), e.getMessage());
    }
}
