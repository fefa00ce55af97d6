package io.cmamba.train;

import io.cmamba.cpu.CpuBackend;
import io.cmamba.nn.Parameter;
import io.cmamba.tensor.DType;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Adam (L2 decay, the paper's) and AdamW against steps computed here by hand, on the CPU backend. */
class AdamTest {
    final CpuBackend cpu = new CpuBackend();

    Parameter param(String name, double[] w, double[] g, boolean decay) {
        return new Parameter(name, cpu.fromDoubles(DType.F64, w, w.length), cpu.fromDoubles(DType.F64, g, g.length), decay);
    }

    /** Two updates by the textbook formulas, written out independently of the backend. */
    static double[] reference(double[] w0, double[][] grads, double lr, double wd, boolean decoupled, double scale) {
        double b1 = 0.9, b2 = 0.999, eps = 1e-8;
        double[] w = w0.clone(), m = new double[w.length], v = new double[w.length];
        for (int t = 1; t <= grads.length; t++) {
            for (int i = 0; i < w.length; i++) {
                double g = grads[t - 1][i] * scale + (decoupled ? 0 : wd * w[i]);
                m[i] = b1 * m[i] + (1 - b1) * g;
                v[i] = b2 * v[i] + (1 - b2) * g * g;
                double mh = m[i] / (1 - Math.pow(b1, t)), vh = v[i] / (1 - Math.pow(b2, t));
                w[i] = w[i] * (decoupled ? 1 - lr * wd : 1) - lr * mh / (Math.sqrt(vh) + eps);
            }
        }
        return w;
    }

    @Test
    void firstAdamStepMovesEachWeightByTheLearningRate() {
        // the first bias-corrected step is lr * g / (|g| + eps): a move of lr against the sign of g + wd w
        Parameter p = param("w", new double[]{0.5, -1.0}, new double[]{0.1, -0.2}, true);
        try (Adam adam = new Adam(List.of(p), Adam.Settings.of(Adam.Kind.ADAM, 0.1))) {
            adam.step(0.01, 1);
            double[] w = p.value().toDoubles();
            // g + wd w = 0.15 and -0.3
            assertEquals(0.5 - 0.01 * 0.15 / (0.15 + 1e-8), w[0], 1e-15);
            assertEquals(-1.0 + 0.01 * 0.3 / (0.3 + 1e-8), w[1], 1e-15);
            assertArrayEquals(new double[]{0.1 * 0.15, 0.1 * -0.3}, adam.firstMoment(0).toDoubles(), 1e-16);
            assertArrayEquals(new double[]{0.001 * 0.15 * 0.15, 0.001 * 0.09}, adam.secondMoment(0).toDoubles(), 1e-18);
            assertEquals(1, adam.steps());
        }
    }

    @Test
    void threeStepsOfAdamAndAdamWMatchTheFormulas() {
        double[] w0 = {0.3, -0.7, 1.5};
        double[][] grads = {{0.2, -0.1, 0.05}, {-0.4, 0.3, 0.0}, {0.1, 0.1, -0.6}};
        for (Adam.Kind kind : Adam.Kind.values()) {
            for (double scale : new double[]{1.0, 0.25}) {
                Parameter p = param("w", w0, grads[0], true);
                try (Adam adam = new Adam(List.of(p), Adam.Settings.of(kind, 0.05))) {
                    for (double[] g : grads) {
                        cpu.copy(p.grad(), cpu.fromDoubles(DType.F64, g, g.length));
                        adam.step(0.02, scale);
                    }
                }
                double[] want = reference(w0, grads, 0.02, 0.05, kind == Adam.Kind.ADAMW, scale);
                assertArrayEquals(want, p.value().toDoubles(), 1e-14, kind + " scale " + scale);
            }
        }
    }

    @Test
    void parametersMarkedWithoutDecayGetNone() {
        Parameter decayed = param("w", new double[]{2.0}, new double[]{0.0}, true);
        Parameter plain = param("norm.gamma", new double[]{2.0}, new double[]{0.0}, false);
        try (Adam adam = new Adam(List.of(decayed, plain), Adam.Settings.of(Adam.Kind.ADAMW, 0.1))) {
            adam.step(0.01, 1);
        }
        // zero gradient: AdamW shrinks only the decayed weight, by lr * wd * w
        assertEquals(2.0 * (1 - 0.01 * 0.1), decayed.value().toDoubles()[0], 1e-15);
        assertEquals(2.0, plain.value().toDoubles()[0], 0);
    }

    @Test
    void badSettingsAreRejectedWithTheValue() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new Adam.Settings(Adam.Kind.ADAM, 1.0, 0.999, 1e-8, 0));
        assertTrue(e.getMessage().contains("1.0"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Adam.Settings.of(Adam.Kind.ADAM, -1));
        assertThrows(IllegalArgumentException.class, () -> new Adam(List.of(), Adam.Settings.of(Adam.Kind.ADAM, 0)));
        Parameter p = param("w", new double[]{1}, new double[]{1}, true);
        try (Adam adam = new Adam(List.of(p), Adam.Settings.of(Adam.Kind.ADAM, 0))) {
            assertThrows(IllegalArgumentException.class, () -> adam.step(0.1, Double.NaN));
        }
    }
}
