package io.cmamba.cpu;

import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Random;
import java.util.function.Supplier;

import static io.cmamba.cpu.CpuTestSupport.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CpuPoolingTest {

    // ---------------------------------------------------------------- length-aware adaptive pooling

    /** Window i of lout over len steps, from real-valued floor and ceil. */
    static double[] lengthPoolReference(double[] x, int[] lengths, int batch, int lin, int f, int lout) {
        double[] out = new double[batch * lout * f];
        for (int b = 0; b < batch; b++) {
            int len = lengths[b];
            if (len == 0) continue;
            for (int i = 0; i < lout; i++) {
                int t0 = (int) Math.floor((double) i * len / lout), t1 = (int) Math.ceil((double) (i + 1) * len / lout);
                for (int c = 0; c < f; c++) {
                    double s = 0;
                    for (int t = t0; t < t1; t++) s += x[(b * lin + t) * f + c];
                    out[(b * lout + i) * f + c] = s / (t1 - t0);
                }
            }
        }
        return out;
    }

    @Test
    void lengthPoolHandMadeWindows() {
        Tensor x = tensor(DType.F64, new double[]{1, 2, 3, 4, 5, 1, 2, 3, 4, 5}, 2, 5, 1);
        Tensor out = poisoned(DType.F64, 2, 3, 1);
        // sample 0: all 5 steps into 3 windows [0,2) [1,4) [3,5); sample 1: 4 steps, [0,2) [1,3) [2,4)
        CPU.lengthPoolForward(out, x, CPU.fromInts(new int[]{5, 4}, 2));
        assertArrayEquals(new double[]{1.5, 3, 4.5, 1.5, 2.5, 3.5}, out.toDoubles(), 1e-15);
        // more windows than steps: each step repeats; length 0 pools to zeros
        Tensor up = poisoned(DType.F64, 2, 4, 1);
        CPU.lengthPoolForward(up, x, CPU.fromInts(new int[]{2, 0}, 2));
        assertArrayEquals(new double[]{1, 1, 2, 2, 0, 0, 0, 0}, up.toDoubles(), 0);
    }

    @Test
    void lengthPoolMatchesTheDefinitionAndNeverReadsPadding() {
        Random rnd = random("lengthPoolForward");
        int batch = 7, lin = 23, f = 9;
        int[] lengths = {0, 1, lin, 5, 17, 22, 3};
        for (int lout : new int[]{1, 4, 10, 23, 30}) {
            for (DType dt : new DType[]{DType.F64, DType.F32}) {
                double[] xs = gaussian(rnd, batch * lin * f);
                // padding holds NaN: one read of it would poison a window
                for (int b = 0; b < batch; b++)
                    for (int t = lengths[b]; t < lin; t++)
                        for (int c = 0; c < f; c++) xs[(b * lin + t) * f + c] = Double.NaN;
                Tensor x = tensor(dt, xs, batch, lin, f);
                Tensor out = poisoned(dt, batch, lout, f);
                CPU.lengthPoolForward(out, x, CPU.fromInts(lengths, batch));
                assertAllWritten(out, "out");
                assertClose(out, lengthPoolReference(x.toDoubles(), lengths, batch, lin, f, lout),
                        dt == DType.F64 ? F64_TOL : F32_TOL, "lengthPool " + dt + " lout " + lout);
            }
        }
    }

    @Test
    void lengthPoolBackwardPassesAGradientCheck() {
        Random rnd = random("lengthPoolBackward");
        int batch = 4, lin = 9, f = 3;
        int[] lengths = {9, 4, 0, 7};
        Tensor len = CPU.fromInts(lengths, batch);
        for (int lout : new int[]{3, 5, 12}) {
            Tensor x = tensor(DType.F64, gaussian(rnd, batch * lin * f), batch, lin, f);
            double[] w = gaussian(rnd, batch * lout * f);
            Tensor dx = poisoned(DType.F64, batch, lin, f);
            CPU.lengthPoolBackward(dx, tensor(DType.F64, w, batch, lout, f), len);
            assertAllWritten(dx, "dx");
            Tensor out = CPU.empty(DType.F64, batch, lout, f);
            assertGradient(x, dx, () -> {
                CPU.lengthPoolForward(out, x, len);
                return weighted(w, out);
            }, "lengthPool dx, lout " + lout);
            // nothing flows into padding
            double[] g = dx.toDoubles();
            for (int b = 0; b < batch; b++)
                for (int t = lengths[b]; t < lin; t++)
                    for (int c = 0; c < f; c++) assertEquals(0, g[(b * lin + t) * f + c]);
        }
    }

    @Test
    void lengthsOutsideTheSequenceNameTheSample() {
        Tensor x = CPU.zeros(DType.F64, 3, 5, 2), out = CPU.zeros(DType.F64, 3, 2, 2);
        assertRejected(() -> CPU.lengthPoolForward(out, x, CPU.fromInts(new int[]{5, 6, 1}, 3)), "sample 1", "6", "[0, 5]");
        assertRejected(() -> CPU.lengthPoolBackward(x, out, CPU.fromInts(new int[]{5, 1, -2}, 3)), "sample 2", "-2");
    }

    // ---------------------------------------------------------------- max over time

    @Test
    void maxPoolTimeMatchesTheDefinitionAndKeepsTheFirstMaximum() {
        Random rnd = random("maxPoolTime");
        int batch = 5, len = 13, d = 7;
        for (DType dt : new DType[]{DType.F64, DType.F32}) {
            double[] xs = gaussian(rnd, batch * len * d);
            Tensor x = tensor(dt, xs, batch, len, d);
            xs = x.toDoubles();
            double[] e = new double[batch * d];
            int[] arg = new int[batch * d];
            for (int b = 0; b < batch; b++)
                for (int c = 0; c < d; c++) {
                    double best = Double.NEGATIVE_INFINITY;
                    for (int t = 0; t < len; t++)
                        if (xs[(b * len + t) * d + c] > best) {
                            best = xs[(b * len + t) * d + c];
                            arg[b * d + c] = t;
                        }
                    e[b * d + c] = best;
                }
            Tensor out = poisoned(dt, batch, d), am = CPU.fromInts(new int[batch * d], batch, d);
            CPU.fill(am, -1);
            CPU.maxPoolTimeForward(out, am, x);
            assertAllWritten(out, "out");
            assertClose(out, e, 0, "max " + dt);
            assertArrayEquals(arg, am.toInts(), "argmax " + dt);
        }
        // ties: the first maximal step; a NaN shows instead of being skipped
        Tensor x = tensor(DType.F64, new double[]{1, 0, 3, Double.NaN, 3, 5, 2, 5}, 1, 4, 2);
        Tensor out = poisoned(DType.F64, 1, 2), am = CPU.fromInts(new int[2], 1, 2);
        CPU.maxPoolTimeForward(out, am, x);
        assertEquals(3, out.toDoubles()[0]);
        assertEquals(1, am.toInts()[0]);
        assertTrue(Double.isNaN(out.toDoubles()[1]));
        assertEquals(1, am.toInts()[1]);
    }

    @Test
    void maxPoolTimeBackwardPassesAGradientCheck() {
        Random rnd = random("maxPoolTimeBackward");
        int batch = 3, len = 6, d = 4;
        // distinct values, so that the maximum does not switch under a step of 1e-5
        Tensor x = tensor(DType.F64, gaussian(rnd, batch * len * d), batch, len, d);
        Tensor out = CPU.empty(DType.F64, batch, d), am = CPU.fromInts(new int[batch * d], batch, d);
        CPU.maxPoolTimeForward(out, am, x);
        double[] w = gaussian(rnd, batch * d);
        Tensor dx = poisoned(DType.F64, batch, len, d);
        CPU.maxPoolTimeBackward(dx, tensor(DType.F64, w, batch, d), am);
        assertAllWritten(dx, "dx");
        Tensor am2 = CPU.fromInts(new int[batch * d], batch, d);
        assertGradient(x, dx, () -> {
            CPU.maxPoolTimeForward(out, am2, x);
            return weighted(w, out);
        }, "maxPoolTime dx");
        Tensor bad = CPU.fromInts(new int[]{0, 0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0}, batch, d);
        assertRejected(() -> CPU.maxPoolTimeBackward(dx, tensor(DType.F64, w, batch, d), bad),
                "argmax", "sample 1", "channel 1", "6");
    }

    // ---------------------------------------------------------------- softmax fusion

    static double[] fusionReference(double[] x, double[] w, int m, int n) {
        double z = 0;
        for (double v : w) z += Math.exp(v);
        double[] out = new double[n];
        for (int k = 0; k < m; k++)
            for (int i = 0; i < n; i++) out[i] += Math.exp(w[k]) / z * x[k * n + i];
        return out;
    }

    @Test
    void softmaxFusionMatchesTheDefinition() {
        Random rnd = random("softmaxFusion");
        int m = 3, batch = 5, d = 11;
        for (DType dt : new DType[]{DType.F64, DType.F32}) {
            Tensor x = tensor(dt, gaussian(rnd, m * batch * d), m, batch, d), w = tensor(dt, gaussian(rnd, m), m);
            Tensor out = poisoned(dt, batch, d);
            CPU.softmaxFusionForward(out, x, w);
            assertAllWritten(out, "out");
            assertClose(out, fusionReference(x.toDoubles(), w.toDoubles(), m, batch * d), dt == DType.F64 ? F64_TOL : F32_TOL,
                    "fusion " + dt);
        }
        // equal weights average; a huge weight does not overflow and picks its modality
        Tensor x = tensor(DType.F64, new double[]{1, 2, 3, 4}, 2, 1, 2);
        Tensor out = poisoned(DType.F64, 1, 2);
        CPU.softmaxFusionForward(out, x, tensor(DType.F64, new double[]{0.7, 0.7}, 2));
        assertArrayEquals(new double[]{2, 3}, out.toDoubles(), 1e-15);
        CPU.softmaxFusionForward(out, x, tensor(DType.F64, new double[]{1000, 0}, 2));
        assertArrayEquals(new double[]{1, 2}, out.toDoubles(), 1e-15);
    }

    @Test
    void softmaxFusionBackwardPassesAGradientCheckForXAndW() {
        Random rnd = random("softmaxFusionBackward");
        int m = 3, batch = 4, d = 5;
        Tensor x = tensor(DType.F64, gaussian(rnd, m * batch * d), m, batch, d), w = tensor(DType.F64, gaussian(rnd, m), m);
        double[] weights = gaussian(rnd, batch * d);
        Tensor dx = poisoned(DType.F64, m, batch, d), dw = poisoned(DType.F64, m);
        CPU.softmaxFusionBackward(dx, dw, tensor(DType.F64, weights, batch, d), x, w);
        assertAllWritten(dx, "dx");
        assertAllWritten(dw, "dw");
        Tensor out = CPU.empty(DType.F64, batch, d);
        Supplier<Double> loss = () -> {
            CPU.softmaxFusionForward(out, x, w);
            return weighted(weights, out);
        };
        assertGradient(x, dx, loss, "fusion dx");
        assertGradient(w, dw, loss, "fusion dw");
    }

    @Test
    void badShapesNameTheArgument() {
        Tensor x = CPU.zeros(DType.F64, 2, 5, 3), lengths = CPU.fromInts(new int[]{1, 2}, 2);
        assertRejected(() -> CPU.lengthPoolForward(CPU.zeros(DType.F64, 2, 4, 2), x, lengths), "expected out [2, Lout, 3]", "[2, 4, 2]");
        assertRejected(() -> CPU.lengthPoolForward(CPU.zeros(DType.F64, 2, 4, 3), x, CPU.fromInts(new int[]{1}, 1)), "lengths", "[2]");
        assertRejected(() -> CPU.lengthPoolForward(CPU.zeros(DType.F64, 2, 4, 3), x, CPU.zeros(DType.F64, 2)), "lengths", "I32");
        assertRejected(() -> CPU.lengthPoolForward(CPU.zeros(DType.F64, 2, 4), CPU.zeros(DType.F64, 2, 4), lengths), "expected x [B, Lin, F]");
        Tensor am = CPU.fromInts(new int[6], 2, 3);
        assertRejected(() -> CPU.maxPoolTimeForward(CPU.zeros(DType.F64, 2, 5), am, x), "out", "[2, 3]", "[2, 5]");
        assertRejected(() -> CPU.maxPoolTimeForward(CPU.zeros(DType.F64, 2, 3), CPU.zeros(DType.F64, 2, 3), x), "argmax", "I32");
        assertRejected(() -> CPU.maxPoolTimeForward(CPU.zeros(DType.F64, 2, 3), am, CPU.zeros(DType.F64, 2, 0, 3)), "no time steps");
        assertRejected(() -> CPU.maxPoolTimeBackward(CPU.zeros(DType.F64, 2, 5, 4), CPU.zeros(DType.F64, 2, 3), am), "out", "[2, 4]");
        Tensor w = CPU.zeros(DType.F64, 2);
        assertRejected(() -> CPU.softmaxFusionForward(CPU.zeros(DType.F64, 3, 5), x, w), "out", "[5, 3]", "[3, 5]");
        assertRejected(() -> CPU.softmaxFusionForward(CPU.zeros(DType.F64, 5, 3), x, CPU.zeros(DType.F64, 3)), "w", "[2]", "[3]");
        assertRejected(() -> CPU.softmaxFusionBackward(CPU.zeros(DType.F64, 2, 5, 3), CPU.zeros(DType.F64, 1),
                CPU.zeros(DType.F64, 5, 3), x, w), "w", "[2]", "[1]");
    }
}
