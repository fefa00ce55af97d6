package io.cmamba.cpu;

import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Random;
import java.util.function.Supplier;

import static io.cmamba.cpu.CpuTestSupport.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

class CpuConv1dTest {

    /** The definition, with the zero padding written as a skipped term. */
    static double[] reference(double[] x, double[] w, double[] bias, int batch, int len, int d, int k) {
        double[] out = new double[batch * len * d];
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < len; t++)
                for (int c = 0; c < d; c++) {
                    double s = bias[c];
                    for (int j = 0; j < k; j++) {
                        int src = t - k + 1 + j;
                        if (src >= 0) s += w[c * k + j] * x[(b * len + src) * d + c];
                    }
                    out[(b * len + t) * d + c] = s;
                }
        return out;
    }

    @Test
    void forwardMatchesTheDefinition() {
        Random rnd = random("conv1dForward");
        // {B, L, D, K}: the model's width 4, a kernel longer than the sequence, width 1, and a size
        // large enough for the parallel path
        int[][] sizes = {{3, 11, 5, 4}, {2, 3, 4, 6}, {2, 5, 3, 1}, {5, 53, 70, 4}};
        for (int[] s : sizes) {
            int batch = s[0], len = s[1], d = s[2], k = s[3];
            for (DType dt : new DType[]{DType.F64, DType.F32}) {
                Tensor x = tensor(dt, gaussian(rnd, batch * len * d), batch, len, d);
                Tensor w = tensor(dt, gaussian(rnd, d * k), d, k), bias = tensor(dt, gaussian(rnd, d), d);
                Tensor out = poisoned(dt, batch, len, d);
                CPU.causalConv1dForward(out, x, w, bias);
                assertAllWritten(out, "out");
                assertClose(out, reference(x.toDoubles(), w.toDoubles(), bias.toDoubles(), batch, len, d, k),
                        dt == DType.F64 ? F64_TOL : F32_TOL, "conv1d " + dt + " " + java.util.Arrays.toString(s));
            }
        }
    }

    @Test
    void outputSeesOnlyThePast() {
        // a unit impulse at step 2 of channel 0 reaches steps 2..2+K-1 only, weighted by w reversed
        int len = 8, k = 4;
        double[] x = new double[len];
        x[2] = 1;
        Tensor out = poisoned(DType.F64, 1, len, 1);
        CPU.causalConv1dForward(out, tensor(DType.F64, x, 1, len, 1), tensor(DType.F64, new double[]{1, 2, 3, 4}, 1, k),
                CPU.zeros(DType.F64, 1));
        assertArrayEquals(new double[]{0, 0, 4, 3, 2, 1, 0, 0}, out.toDoubles(), 0);
    }

    @Test
    void backwardPassesAGradientCheckForEveryInput() {
        Random rnd = random("conv1dBackward");
        for (int[] s : new int[][]{{2, 7, 3, 4}, {1, 2, 2, 3}}) {
            int batch = s[0], len = s[1], d = s[2], k = s[3];
            Tensor x = tensor(DType.F64, gaussian(rnd, batch * len * d), batch, len, d);
            Tensor w = tensor(DType.F64, gaussian(rnd, d * k), d, k), bias = tensor(DType.F64, gaussian(rnd, d), d);
            double[] weights = gaussian(rnd, batch * len * d);
            Tensor dx = poisoned(DType.F64, batch, len, d), dw = poisoned(DType.F64, d, k), dbias = poisoned(DType.F64, d);
            CPU.causalConv1dBackward(dx, dw, dbias, tensor(DType.F64, weights, batch, len, d), x, w);
            assertAllWritten(dx, "dx");
            assertAllWritten(dw, "dw");
            assertAllWritten(dbias, "dbias");
            Tensor out = CPU.empty(DType.F64, batch, len, d);
            Supplier<Double> loss = () -> {
                CPU.causalConv1dForward(out, x, w, bias);
                return weighted(weights, out);
            };
            assertGradient(x, dx, loss, "conv1d dx");
            assertGradient(w, dw, loss, "conv1d dw");
            assertGradient(bias, dbias, loss, "conv1d dbias");
        }
    }

    @Test
    void float32BackwardOverManySamplesMatchesFloat64() {
        Random rnd = random("conv1dBackwardF32");
        int batch = 19, len = 37, d = 33, k = 4; // several blocks of the gradient reduction, in parallel
        double[] xs = tensor(DType.F32, gaussian(rnd, batch * len * d), batch * len * d).toDoubles();
        double[] ws = tensor(DType.F32, gaussian(rnd, d * k), d * k).toDoubles();
        double[] gs = tensor(DType.F32, gaussian(rnd, batch * len * d), batch * len * d).toDoubles();
        Tensor[][] r = new Tensor[2][];
        DType[] types = {DType.F64, DType.F32};
        for (int i = 0; i < 2; i++) {
            DType dt = types[i];
            r[i] = new Tensor[]{poisoned(dt, batch, len, d), poisoned(dt, d, k), poisoned(dt, d)};
            CPU.causalConv1dBackward(r[i][0], r[i][1], r[i][2], tensor(dt, gs, batch, len, d), tensor(dt, xs, batch, len, d),
                    tensor(dt, ws, d, k));
        }
        assertClose(r[1][0], r[0][0].toDoubles(), F32_TOL, "dx F32");
        assertClose(r[1][1], r[0][1].toDoubles(), F32_TOL, "dw F32");
        assertClose(r[1][2], r[0][2].toDoubles(), F32_TOL, "dbias F32");
    }

    @Test
    void badShapesNameTheArgument() {
        Tensor x = CPU.zeros(DType.F64, 2, 5, 3), w = CPU.zeros(DType.F64, 3, 4), bias = CPU.zeros(DType.F64, 3);
        assertRejected(() -> CPU.causalConv1dForward(CPU.zeros(DType.F64, 10, 3), CPU.zeros(DType.F64, 10, 3), w, bias),
                "expected x [B, L, D]", "[10, 3]");
        assertRejected(() -> CPU.causalConv1dForward(CPU.zeros(DType.F64, 2, 5, 4), x, w, bias), "out", "[2, 5, 3]");
        assertRejected(() -> CPU.causalConv1dForward(CPU.zeros(DType.F64, 2, 5, 3), x, CPU.zeros(DType.F64, 4, 4), bias),
                "expected w [3, K]", "[4, 4]");
        assertRejected(() -> CPU.causalConv1dForward(CPU.zeros(DType.F64, 2, 5, 3), x, w, CPU.zeros(DType.F64, 4)), "bias", "[3]");
        assertRejected(() -> CPU.causalConv1dBackward(CPU.zeros(DType.F64, 2, 5, 3), CPU.zeros(DType.F64, 3, 3), bias,
                CPU.zeros(DType.F64, 2, 5, 3), x, w), "causalConv1dBackward dw", "[3, 3]");
        assertRejected(() -> CPU.causalConv1dBackward(CPU.zeros(DType.F64, 2, 4, 3), CPU.zeros(DType.F64, 3, 4), bias,
                CPU.zeros(DType.F64, 2, 5, 3), x, w), "causalConv1dBackward", "[2, 4, 3]");
        assertRejected(() -> CPU.causalConv1dBackward(CPU.zeros(DType.F64, 2, 5, 3), CPU.zeros(DType.F64, 3, 4),
                CPU.zeros(DType.F64, 2), CPU.zeros(DType.F64, 2, 5, 3), x, w), "bias", "[3]", "[2]");
    }
}
