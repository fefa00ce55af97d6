package io.cmamba.cpu;

import io.cmamba.tensor.AttentionKind;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Saved;
import io.cmamba.tensor.Tensor;
import io.cmamba.testing.GradCheck;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class CpuAttentionTest {
    private final CpuBackend cpu = new CpuBackend();
    private final long seed = System.nanoTime();
    private final Random rnd = new Random(seed);

    private double[] randn(int n) {
        double[] a = new double[n];
        for (int i = 0; i < n; i++) a[i] = rnd.nextGaussian();
        return a;
    }

    /** Straight from the definition: softmax(q k^T / sqrt(dh)) v per (b, h). */
    static double[] reference(double[] q, double[] k, double[] v, int nb, int lq, int lk, int w, int heads) {
        int dh = w / heads;
        double[] out = new double[nb * lq * w];
        for (int b = 0; b < nb; b++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < lq; i++) {
                    double[] s = new double[lk];
                    double max = -1e300, sum = 0;
                    for (int j = 0; j < lk; j++) {
                        for (int c = 0; c < dh; c++) s[j] += q[(b * lq + i) * w + h * dh + c] * k[(b * lk + j) * w + h * dh + c];
                        s[j] /= Math.sqrt(dh);
                        max = Math.max(max, s[j]);
                    }
                    for (int j = 0; j < lk; j++) sum += Math.exp(s[j] - max);
                    for (int j = 0; j < lk; j++)
                        for (int c = 0; c < dh; c++)
                            out[(b * lq + i) * w + h * dh + c] += Math.exp(s[j] - max) / sum * v[(b * lk + j) * w + h * dh + c];
                }
        return out;
    }

    @Test
    void forwardMatchesTheDefinitionForBothKinds() {
        int nb = 2, lq = 5, lk = 7, heads = 3, w = 3 * 4;
        double[] q = randn(nb * lq * w), k = randn(nb * lk * w), v = randn(nb * lk * w);
        double[] ref = reference(q, k, v, nb, lq, lk, w, heads);
        for (AttentionKind kind : AttentionKind.values()) {
            Tensor out = cpu.empty(DType.F64, nb, lq, w);
            cpu.fill(out, Double.NaN);
            cpu.attentionForward(kind, out, cpu.fromDoubles(DType.F64, q, nb, lq, w),
                    cpu.fromDoubles(DType.F64, k, nb, lk, w), cpu.fromDoubles(DType.F64, v, nb, lk, w), heads);
            double err = GradCheck.relativeDifference(out.toDoubles(), ref);
            assertTrue(err < 1e-13, kind + " relative error " + err + " (seed " + seed + ")");
        }
    }

    @Test
    void backwardMatchesFiniteDifferencesForBothKinds() {
        int nb = 2, lq = 3, lk = 4, heads = 2, w = 2 * 3;
        double[] q = randn(nb * lq * w), k = randn(nb * lk * w), v = randn(nb * lk * w);
        double[] wts = GradCheck.randomWeights(rnd, nb * lq * w);
        for (AttentionKind kind : AttentionKind.values()) {
            Tensor tq = cpu.fromDoubles(DType.F64, q, nb, lq, w), tk = cpu.fromDoubles(DType.F64, k, nb, lk, w),
                    tv = cpu.fromDoubles(DType.F64, v, nb, lk, w), out = cpu.empty(DType.F64, nb, lq, w);
            Saved s = cpu.attentionForward(kind, out, tq, tk, tv, heads);
            Tensor dq = cpu.empty(DType.F64, nb, lq, w), dk = cpu.empty(DType.F64, nb, lk, w), dv = cpu.empty(DType.F64, nb, lk, w);
            for (Tensor t : new Tensor[]{dq, dk, dv}) cpu.fill(t, Double.NaN);
            cpu.attentionBackward(s, dq, dk, dv, cpu.fromDoubles(DType.F64, wts, nb, lq, w));
            double[][] inputs = {q, k, v};
            Tensor[] grads = {dq, dk, dv};
            for (int a = 0; a < 3; a++) {
                double[] x = inputs[a];
                double err = GradCheck.relativeError(x, grads[a].toDoubles(),
                        () -> GradCheck.dot(wts, reference(q, k, v, nb, lq, lk, w, heads)));
                assertTrue(err < 1e-6, kind + " gradient d" + "qkv".charAt(a) + " relative error " + err + " (seed " + seed + ")");
            }
        }
    }

    @Test
    void widthNotDivisibleByHeadsIsRejected() {
        Tensor q = cpu.zeros(DType.F32, 1, 2, 6);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> cpu.attentionForward(AttentionKind.FLASH, cpu.zeros(DType.F32, 1, 2, 6), q, q, q, 4));
        assertTrue(e.getMessage().contains("4 heads"), e.getMessage());
    }
}
