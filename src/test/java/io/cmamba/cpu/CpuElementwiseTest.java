package io.cmamba.cpu;

import io.cmamba.tensor.Activation;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static io.cmamba.cpu.CpuTestSupport.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CpuElementwiseTest {

    /** The functions of {@link Activation}, written out directly from their definitions. */
    static double reference(Activation f, double x) {
        switch (f) {
            case SILU:
                return x / (1 + Math.exp(-x));
            case SOFTPLUS:
                return x > 20 ? x : Math.log(1 + Math.exp(x));
            case RELU:
                return Math.max(x, 0);
            case GELU:
                return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
            case SIGMOID:
                return 1 / (1 + Math.exp(-x));
            case NEG_EXP:
                return -Math.exp(x);
            default:
                throw new AssertionError(f);
        }
    }

    @Test
    void axpbyAndMulMatchTheirDefinitionAndAllowAliasing() {
        Random rnd = random("axpbyAndMul");
        int[] shape = {3, 7, 13};
        int n = 3 * 7 * 13;
        for (DType dt : new DType[]{DType.F64, DType.F32}) {
            double tol = dt == DType.F64 ? F64_TOL : F32_TOL;
            Tensor a = tensor(dt, gaussian(rnd, n), shape), b = tensor(dt, gaussian(rnd, n), shape);
            double[] x = a.toDoubles(), y = b.toDoubles();
            double alpha = rnd.nextGaussian(), beta = rnd.nextGaussian();
            double[] sum = new double[n], prod = new double[n];
            for (int i = 0; i < n; i++) {
                sum[i] = alpha * x[i] + beta * y[i];
                prod[i] = x[i] * y[i];
            }
            Tensor out = poisoned(dt, shape);
            CPU.axpby(out, alpha, a, beta, b);
            assertAllWritten(out, "axpby out");
            assertClose(out, sum, tol, "axpby " + dt);
            out = poisoned(dt, shape);
            CPU.mul(out, a, b);
            assertAllWritten(out, "mul out");
            assertClose(out, prod, tol, "mul " + dt);

            Tensor alias = tensor(dt, x, shape);
            CPU.axpby(alias, alpha, alias, beta, b);
            assertClose(alias, sum, tol, "axpby into a " + dt);
            alias = tensor(dt, y, shape);
            CPU.mul(alias, a, alias);
            assertClose(alias, prod, tol, "mul into b " + dt);
        }
    }

    @Test
    void axpbyWithAZeroCoefficientIgnoresThatOperand() {
        Random rnd = random("axpbyZero");
        double[] x = gaussian(rnd, 11);
        Tensor a = tensor(DType.F64, x, 11);
        Tensor garbage = poisoned(DType.F64, 11);
        Tensor out = poisoned(DType.F64, 11);
        CPU.axpby(out, 2, a, 0, garbage);
        double[] twice = new double[11];
        for (int i = 0; i < 11; i++) twice[i] = 2 * x[i];
        assertClose(out, twice, 0, "beta 0");
        CPU.axpby(out, 0, garbage, -1, a);
        double[] neg = new double[11];
        for (int i = 0; i < 11; i++) neg[i] = -x[i];
        assertClose(out, neg, 0, "alpha 0");
    }

    @Test
    void largeArraysTakeTheParallelPathAndStayExact() {
        Random rnd = random("largeElementwise");
        int n = 3 * CpuElementwise.CHUNK + 17;
        double[] x = gaussian(rnd, n), y = gaussian(rnd, n);
        Tensor a = tensor(DType.F64, x, n), b = tensor(DType.F64, y, n), out = poisoned(DType.F64, n);
        CPU.axpby(out, 0.5, a, -3, b);
        double[] e = new double[n];
        for (int i = 0; i < n; i++) e[i] = 0.5 * x[i] - 3 * y[i];
        assertClose(out, e, F64_TOL, "large axpby");
        out = poisoned(DType.F64, n);
        CPU.activationForward(Activation.SILU, out, a);
        for (int i = 0; i < n; i++) e[i] = reference(Activation.SILU, x[i]);
        assertClose(out, e, F64_TOL, "large silu");
    }

    @Test
    void everyActivationMatchesItsDefinition() {
        Random rnd = random("activationForward");
        int[] shape = {5, 29};
        int n = 5 * 29;
        for (Activation f : Activation.values()) {
            for (DType dt : new DType[]{DType.F64, DType.F32}) {
                Tensor x = tensor(dt, uniform(rnd, n, -6, 6), shape);
                double[] xs = x.toDoubles(), e = new double[n];
                for (int i = 0; i < n; i++) e[i] = reference(f, xs[i]);
                Tensor out = poisoned(dt, shape);
                CPU.activationForward(f, out, x);
                assertAllWritten(out, f + " out");
                assertClose(out, e, dt == DType.F64 ? F64_TOL : F32_TOL, f + " " + dt);
                CPU.activationForward(f, x, x);
                assertClose(x, e, dt == DType.F64 ? F64_TOL : F32_TOL, f + " in place " + dt);
            }
        }
    }

    @Test
    void activationsStayFiniteAtExtremeInputs() {
        double[] xs = {-800, -40, -20.5, 0, 20.5, 40, 800};
        Tensor x = tensor(DType.F64, xs, xs.length);
        for (Activation f : Activation.values()) {
            if (f == Activation.NEG_EXP) continue;
            Tensor out = poisoned(DType.F64, xs.length), dx = poisoned(DType.F64, xs.length);
            CPU.activationForward(f, out, x);
            CPU.activationBackward(f, dx, tensor(DType.F64, new double[]{1, 1, 1, 1, 1, 1, 1}, xs.length), x);
            for (double v : out.toDoubles()) assertTrue(Double.isFinite(v), f + " forward gave " + v);
            for (double v : dx.toDoubles()) assertTrue(Double.isFinite(v), f + " backward gave " + v);
        }
        Tensor out = poisoned(DType.F64, xs.length);
        CPU.activationForward(Activation.SOFTPLUS, out, x);
        double[] sp = out.toDoubles();
        assertEquals(800, sp[6]);
        assertEquals(Math.exp(-40), sp[1], 1e-30);
        assertEquals(Math.log(2), sp[3], 1e-16);
    }

    /**
     * The reference for the GPU kernels must keep its relative precision in the tails, where 1 - sigmoid(x)
     * or 1 + tanh(z) would cancel in float64 long before the float32 kernel loses a digit.
     */
    @Test
    void derivativesKeepTheirRelativePrecisionInTheTails() {
        double[] xs = {-60, -30, -25, -9, 9, 25, 30, 60};
        Tensor x = tensor(DType.F64, xs, xs.length), ones = tensor(DType.F64, new double[xs.length], xs.length);
        CPU.fill(ones, 1);
        Tensor dSigmoid = poisoned(DType.F64, xs.length), gelu = poisoned(DType.F64, xs.length);
        CPU.activationBackward(Activation.SIGMOID, dSigmoid, ones, x);
        CPU.activationForward(Activation.GELU, gelu, x);
        double[] ds = dSigmoid.toDoubles(), g = gelu.toDoubles();
        for (int i = 0; i < xs.length; i++) {
            double e = Math.exp(-Math.abs(xs[i]));
            double expected = e / ((1 + e) * (1 + e));   // sigmoid'(x), symmetric, with no cancellation
            assertEquals(1, ds[i] / expected, 1e-13, "sigmoid'(" + xs[i] + ")");
        }
        // gelu(-9) = -9 sigmoid(2z), z = c (-9 - 0.044715 * 729): about 1e-34, no longer 0
        double z2 = 2 * Math.sqrt(2 / Math.PI) * (-9 - 0.044715 * 729);
        assertEquals(1, g[3] / (-9 * Math.exp(z2) / (1 + Math.exp(z2))), 1e-13, "gelu(-9)");
    }

    @Test
    void everyActivationBackwardPassesAGradientCheck() {
        Random rnd = random("activationBackward");
        int[] shape = {3, 11};
        int n = 33;
        for (Activation f : Activation.values()) {
            double[] xs = uniform(rnd, n, -4, 4);
            // keep central differences off the kink of relu
            for (int i = 0; i < n; i++) if (Math.abs(xs[i]) < 1e-3) xs[i] = 0.5;
            Tensor x = tensor(DType.F64, xs, shape);
            double[] w = gaussian(rnd, n);
            Tensor dout = tensor(DType.F64, w, shape), dx = poisoned(DType.F64, shape);
            CPU.activationBackward(f, dx, dout, x);
            assertAllWritten(dx, f + " dx");
            Tensor out = CPU.empty(DType.F64, shape);
            assertGradient(x, dx, () -> {
                CPU.activationForward(f, out, x);
                return weighted(w, out);
            }, f + " dx");
            // dx may alias dout
            CPU.activationBackward(f, dout, dout, x);
            assertClose(dout, dx.toDoubles(), 0, f + " dx into dout");
        }
    }

    @Test
    void float32BackwardMatchesTheFloat64One() {
        Random rnd = random("activationBackwardF32");
        int n = 41;
        for (Activation f : Activation.values()) {
            Tensor x32 = tensor(DType.F32, uniform(rnd, n, -5, 5), n), d32 = tensor(DType.F32, gaussian(rnd, n), n);
            Tensor x64 = tensor(DType.F64, x32.toDoubles(), n), d64 = tensor(DType.F64, d32.toDoubles(), n);
            Tensor g32 = poisoned(DType.F32, n), g64 = poisoned(DType.F64, n);
            CPU.activationBackward(f, g32, d32, x32);
            CPU.activationBackward(f, g64, d64, x64);
            assertClose(g32, g64.toDoubles(), F32_TOL, f + " backward F32");
        }
    }

    @Test
    void addBiasAndSumRowsMatchLoopsAndSumRowsIsTheBiasGradient() {
        Random rnd = random("biasAndSumRows");
        for (int[] rc : new int[][]{{7, 13}, {701, 67}, {3, 130}}) {
            int rows = rc[0], cols = rc[1];
            for (DType dt : new DType[]{DType.F64, DType.F32}) {
                double tol = dt == DType.F64 ? F64_TOL : F32_TOL;
                Tensor x = tensor(dt, gaussian(rnd, rows * cols), rows, cols);
                Tensor bias = tensor(dt, gaussian(rnd, cols), cols);
                double[] xs = x.toDoubles(), bs = bias.toDoubles(), e = new double[rows * cols], s = new double[cols];
                for (int r = 0; r < rows; r++)
                    for (int c = 0; c < cols; c++) {
                        e[r * cols + c] = xs[r * cols + c] + bs[c];
                        s[c] += xs[r * cols + c];
                    }
                Tensor out = poisoned(dt, cols);
                CPU.sumRows(out, x);
                assertAllWritten(out, "sumRows out");
                assertClose(out, s, tol, "sumRows " + rows + "x" + cols + " " + dt);
                CPU.addBias(x, bias);
                assertClose(x, e, tol, "addBias " + rows + "x" + cols + " " + dt);
            }
        }
        // d/dbias sum(w * (x + bias)) = sumRows(w)
        int rows = 5, cols = 9;
        double[] xs = gaussian(rnd, rows * cols), w = gaussian(rnd, rows * cols);
        Tensor bias = tensor(DType.F64, gaussian(rnd, cols), cols);
        Tensor dbias = poisoned(DType.F64, cols);
        CPU.sumRows(dbias, tensor(DType.F64, w, rows, cols));
        Tensor x = CPU.empty(DType.F64, 1, rows, cols);
        assertGradient(bias, dbias, () -> {
            CPU.copy(x, tensor(DType.F64, xs, 1, rows, cols));
            CPU.addBias(x, bias);
            return weighted(w, x);
        }, "addBias dbias");
    }

    @Test
    void sumSquaresAndCountNonFinite() {
        Random rnd = random("reductions");
        int n = 2 * CpuElementwise.CHUNK + 333;
        double[] xs = gaussian(rnd, n);
        double e = 0;
        for (double v : xs) e += v * v;
        Tensor out = poisoned(DType.F64, 1);
        CPU.sumSquares(out, tensor(DType.F64, xs, n));
        assertClose(out, new double[]{e}, F64_TOL, "sumSquares");
        Tensor out32 = poisoned(DType.F32, 1);
        Tensor x32 = tensor(DType.F32, xs, 1, n);
        double e32 = 0;
        for (double v : x32.toDoubles()) e32 += v * v;
        CPU.sumSquares(out32, x32);
        assertClose(out32, new double[]{e32}, F32_TOL, "sumSquares F32");

        Tensor count = poisoned(DType.F64, 1);
        CPU.countNonFinite(count, tensor(DType.F64, xs, n));
        assertEquals(0, count.toDoubles()[0]);
        xs[3] = Double.NaN;
        xs[n - 1] = Double.POSITIVE_INFINITY;
        xs[CpuElementwise.CHUNK] = Double.NEGATIVE_INFINITY;
        CPU.countNonFinite(count, tensor(DType.F64, xs, n));
        assertEquals(3, count.toDoubles()[0]);
    }

    @Test
    void badShapesNameTheArgument() {
        Tensor a = CPU.zeros(DType.F64, 3, 4), b = CPU.zeros(DType.F64, 4, 3);
        assertRejected(() -> CPU.axpby(a, 1, a, 1, b), "axpby", "[4, 3]");
        assertRejected(() -> CPU.mul(a, b, a), "mul", "[4, 3]");
        assertRejected(() -> CPU.activationForward(Activation.SILU, a, b), "activation");
        assertRejected(() -> CPU.activationBackward(Activation.SILU, a, a, b), "activationBackward");
        assertRejected(() -> CPU.addBias(a, CPU.zeros(DType.F64, 3)), "bias", "[4]", "[3]");
        assertRejected(() -> CPU.sumRows(CPU.zeros(DType.F64, 3), a), "out", "[4]");
        assertRejected(() -> CPU.sumSquares(CPU.zeros(DType.F64, 2), a), "out", "[1]");
        assertRejected(() -> CPU.countNonFinite(CPU.zeros(DType.F64, 1, 1), a), "out", "[1]");
        assertRejected(() -> CPU.axpby(a, 1, a, 1, CPU.zeros(DType.F32, 3, 4)), "mixed dtypes");
    }
}
