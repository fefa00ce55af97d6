package io.cmamba.cpu;

import io.cmamba.tensor.AdamParams;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static io.cmamba.cpu.CpuTestSupport.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CpuAdamTest {

    private static AdamParams params(double lr, double wd, boolean decoupled, long step, double scale) {
        return new AdamParams(lr, 0.9, 0.999, 1e-8, wd, decoupled, step, scale);
    }

    /**
     * Two steps worked by hand for one weight w0 = 1 with grads 0.5 then -0.25, lr 0.1, no decay:
     * step 1: m = 0.05, v = 0.00025, mhat = 0.5, vhat = 0.25, w = 1 - 0.1 * 0.5 / (0.5 + 1e-8)
     * step 2: m = 0.045 - 0.025 = 0.02, v = 0.00024975 + 0.0000625 = 0.00031225,
     *         mhat = 0.02 / 0.19 , vhat = 0.00031225 / 0.001999, w -= 0.1 mhat / (sqrt(vhat) + 1e-8).
     */
    @Test
    void twoStepsWorkedByHand() {
        Tensor w = tensor(DType.F64, new double[]{1}, 1), m = CPU.zeros(DType.F64, 1), v = CPU.zeros(DType.F64, 1);
        CPU.adamStep(w, tensor(DType.F64, new double[]{0.5}, 1), m, v, params(0.1, 0, false, 1, 1));
        double w1 = 1 - 0.1 * 0.5 / (0.5 + 1e-8);
        assertEquals(0.05, m.toDoubles()[0], 1e-15);
        assertEquals(0.00025, v.toDoubles()[0], 1e-16);
        assertEquals(w1, w.toDoubles()[0], 1e-15);
        assertEquals(0.9, w1, 1e-7);

        CPU.adamStep(w, tensor(DType.F64, new double[]{-0.25}, 1), m, v, params(0.1, 0, false, 2, 1));
        assertEquals(0.02, m.toDoubles()[0], 1e-15);
        assertEquals(0.00031225, v.toDoubles()[0], 1e-16);
        double mhat = 0.02 / 0.19, vhat = 0.00031225 / 0.001999;
        double w2 = w1 - 0.1 * mhat / (Math.sqrt(vhat) + 1e-8);
        assertEquals(w2, w.toDoubles()[0], 1e-15);
        // about 0.9 - 0.1 * 0.10526 / 0.39523 = 0.87337
        assertEquals(0.87337, w2, 1e-5);
    }

    /** The update written from its definition, one element at a time. */
    private static void reference(double[] w, double[] g, double[] m, double[] v, AdamParams p) {
        for (int i = 0; i < w.length; i++) {
            double grad = p.gradScale() * g[i] + (p.decoupled() ? 0 : p.weightDecay() * w[i]);
            m[i] = p.beta1() * m[i] + (1 - p.beta1()) * grad;
            v[i] = p.beta2() * v[i] + (1 - p.beta2()) * grad * grad;
            double mhat = m[i] / (1 - Math.pow(p.beta1(), p.step()));
            double vhat = v[i] / (1 - Math.pow(p.beta2(), p.step()));
            w[i] = w[i] * (p.decoupled() ? 1 - p.lr() * p.weightDecay() : 1) - p.lr() * mhat / (Math.sqrt(vhat) + p.eps());
        }
    }

    @Test
    void matchesTheFormulaOverSeveralStepsInBothModes() {
        Random rnd = random("adamFormula");
        int n = 3 * CpuElementwise.CHUNK + 5; // more than one parallel chunk
        for (boolean decoupled : new boolean[]{false, true}) {
            for (DType dt : new DType[]{DType.F64, DType.F32}) {
                double[] w = gaussian(rnd, n), m = new double[n], v = new double[n];
                Tensor tw = tensor(dt, w, n), tm = poisoned(dt, n), tv = poisoned(dt, n);
                CPU.fill(tm, 0);
                CPU.fill(tv, 0);
                w = tw.toDoubles();
                for (int step = 1; step <= 3; step++) {
                    AdamParams p = params(1e-2, 5e-2, decoupled, step, 0.7);
                    Tensor tg = tensor(dt, gaussian(rnd, n), n);
                    CPU.adamStep(tw, tg, tm, tv, p);
                    reference(w, tg.toDoubles(), m, v, p);
                    double tol = dt == DType.F64 ? F64_TOL : F32_TOL;
                    assertClose(tw, w, tol, "param " + dt + " decoupled " + decoupled + " step " + step);
                    assertClose(tm, m, tol, "m " + dt);
                    assertClose(tv, v, tol, "v " + dt);
                    if (dt == DType.F32) {
                        // the float32 state is what the next step starts from
                        w = tw.toDoubles();
                        m = tm.toDoubles();
                        v = tv.toDoubles();
                    }
                }
            }
        }
    }

    @Test
    void l2DecayAndDecoupledDecayDifferAsTheyShould() {
        // zero gradient: L2 decay becomes the whole Adam gradient, so its step is about lr whatever the
        // weight (Adam normalises it away); decoupled decay shrinks the weight by lr * wd * w and Adam
        // itself moves nothing
        double lr = 0.01, wd = 0.1;
        double[] start = {3, -0.5};
        Tensor w = tensor(DType.F64, start, 2), zero = CPU.zeros(DType.F64, 2);
        CPU.adamStep(w, zero, CPU.zeros(DType.F64, 2), CPU.zeros(DType.F64, 2), params(lr, wd, false, 1, 1));
        double[] l2 = w.toDoubles();
        assertEquals(3 - lr, l2[0], 1e-8);
        assertEquals(-0.5 + lr, l2[1], 1e-8);

        w = tensor(DType.F64, start, 2);
        Tensor m = CPU.zeros(DType.F64, 2), v = CPU.zeros(DType.F64, 2);
        CPU.adamStep(w, zero, m, v, params(lr, wd, true, 1, 1));
        assertArrayEquals(new double[]{3 * (1 - lr * wd), -0.5 * (1 - lr * wd)}, w.toDoubles(), 1e-15);
        assertArrayEquals(new double[]{0, 0}, m.toDoubles());
        assertArrayEquals(new double[]{0, 0}, v.toDoubles());

        // with no decay both modes are the same Adam
        Tensor a = tensor(DType.F64, start, 2), b = tensor(DType.F64, start, 2), g = tensor(DType.F64, new double[]{0.3, -2}, 2);
        CPU.adamStep(a, g, CPU.zeros(DType.F64, 2), CPU.zeros(DType.F64, 2), params(lr, 0, false, 1, 1));
        CPU.adamStep(b, g, CPU.zeros(DType.F64, 2), CPU.zeros(DType.F64, 2), params(lr, 0, true, 1, 1));
        assertArrayEquals(a.toDoubles(), b.toDoubles(), 0);
        assertTrue(a.toDoubles()[0] < 3);
    }

    @Test
    void gradScaleMultipliesTheGradientBeforeTheMoments() {
        Tensor w = tensor(DType.F64, new double[]{1}, 1), m = CPU.zeros(DType.F64, 1), v = CPU.zeros(DType.F64, 1);
        CPU.adamStep(w, tensor(DType.F64, new double[]{4}, 1), m, v, params(0.1, 0, false, 1, 0.25));
        assertEquals(0.1, m.toDoubles()[0], 1e-16);
        assertEquals(0.001, v.toDoubles()[0], 1e-15);
    }

    @Test
    void badShapesNameTheArgument() {
        Tensor w = CPU.zeros(DType.F64, 2, 3);
        Tensor bad = CPU.zeros(DType.F64, 3, 2);
        AdamParams p = params(1e-3, 0, false, 1, 1);
        assertRejected(() -> CPU.adamStep(w, bad, w, w, p), "grad", "[2, 3]", "[3, 2]");
        assertRejected(() -> CPU.adamStep(w, w, bad, w, p), "m", "[2, 3]");
        assertRejected(() -> CPU.adamStep(w, w, w, bad, p), "v", "[2, 3]");
        assertRejected(() -> params(1e-3, 0, false, 0, 1), "step");
    }
}
