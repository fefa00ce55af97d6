package io.cmamba.cuda;

import io.cmamba.tensor.Tensor;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static io.cmamba.cuda.GpuTestSupport.*;

/** LayerNorm and RMSNorm, forward and backward, against the CPU; optional outputs left out in turn. */
@Tag("gpu")
class NormGpuTest {
    /** {rows..., n}: the last dimension is normalised. */
    private static final int[][] SHAPES = {{1, 1}, {5, 7}, {300, 128}, {1031, 256}, {64, 1000}, {2, 50, 33}, {4097, 64}};

    /**
     * dx against the CPU. With n = 1 a row normalises to a constant, so the exact dx is 0 and what
     * either side computes is cancellation noise (the GPU's fused multiply-adds round differently):
     * there, every element must be written and within a small absolute error of the reference, on
     * the scale of dout * gamma * rstd (gamma below 1.5).
     */
    private static void checkDx(Pair dx, int n, Pair dout, Pair rstd, String what) {
        if (n > 1) {
            assertMatches(dx, SUM_TOL, what);
            return;
        }
        double[] g = dx.gpu().toDoubles(), e = dx.cpu().toDoubles(), d = dout.cpu().toDoubles(), r = rstd.cpu().toDoubles();
        for (int i = 0; i < g.length; i++)
            if (!(Math.abs(g[i] - e[i]) <= 1e-4 * Math.abs(d[i]) * r[i] * 1.5 + 1e-30))
                throw new AssertionError(what + ": n = 1, element " + i + " is " + g[i] + ", expected " + e[i]);
    }

    @Test
    void layerNormForwardAndBackward() {
        Random rnd = random("layerNorm");
        for (int[] s : SHAPES) {
            int n = s[s.length - 1];
            int rows = 1;
            for (int i = 0; i < s.length - 1; i++) rows *= s[i];
            String what = "layerNorm " + Arrays.toString(s);
            double[] xv = gaussian(rnd, rows * n);
            for (int i = 0; i < xv.length; i++) xv[i] = 3 + 2 * xv[i];  // an offset mean: the centred variance matters
            try (Pair x = pair(xv, s); Pair gamma = pair(uniform(rnd, n, 0.5, 1.5), n); Pair beta = gaussianPair(rnd, n);
                 Pair out = poisoned(s); Pair mean = poisoned(rows); Pair rstd = poisoned(rows);
                 Pair dout = gaussianPair(rnd, s); Pair dx = poisoned(s); Pair dgamma = poisoned(n); Pair dbeta = poisoned(n)) {
                CPU.layerNormForward(out.cpu(), mean.cpu(), rstd.cpu(), x.cpu(), gamma.cpu(), beta.cpu(), 1e-5);
                gpu().layerNormForward(out.gpu(), mean.gpu(), rstd.gpu(), x.gpu(), gamma.gpu(), beta.gpu(), 1e-5);
                assertMatches(out, TOL, what + " out");
                assertMatches(mean, TOL, what + " mean");
                assertMatches(rstd, TOL, what + " rstd");

                CPU.layerNormBackward(dx.cpu(), dgamma.cpu(), dbeta.cpu(), dout.cpu(), x.cpu(), mean.cpu(), rstd.cpu(), gamma.cpu());
                gpu().layerNormBackward(dx.gpu(), dgamma.gpu(), dbeta.gpu(), dout.gpu(), x.gpu(), mean.gpu(), rstd.gpu(), gamma.gpu());
                checkDx(dx, n, dout, rstd, what + " dx");
                assertMatches(dgamma, SUM_TOL, what + " dgamma");
                assertMatches(dbeta, SUM_TOL, what + " dbeta");

                // optional parts absent: no beta and no mean in the forward, only one parameter gradient
                CPU.layerNormForward(out.cpu(), null, rstd.cpu(), x.cpu(), gamma.cpu(), null, 1e-5);
                gpu().fill(out.gpu(), Double.NaN);
                gpu().layerNormForward(out.gpu(), null, rstd.gpu(), x.gpu(), gamma.gpu(), null, 1e-5);
                assertMatches(out, TOL, what + " out without beta");
                for (int variant = 0; variant < 2; variant++) {
                    Tensor g = variant == 0 ? dgamma.gpu() : null, bb = variant == 0 ? null : dbeta.gpu();
                    gpu().fill(dx.gpu(), Double.NaN);
                    gpu().fill(dgamma.gpu(), Double.NaN);
                    gpu().fill(dbeta.gpu(), Double.NaN);
                    gpu().layerNormBackward(dx.gpu(), g, bb, dout.gpu(), x.gpu(), mean.gpu(), rstd.gpu(), gamma.gpu());
                    checkDx(dx, n, dout, rstd, what + " dx, variant " + variant);
                    if (g != null) assertMatches(dgamma, SUM_TOL, what + " dgamma alone");
                    if (bb != null) assertMatches(dbeta, SUM_TOL, what + " dbeta alone");
                }
            }
        }
    }

    @Test
    void layerNormBackwardWithDxAliasingDout() {
        Random rnd = random("layerNorm alias");
        int[] s = {200, 96};
        try (Pair x = gaussianPair(rnd, s); Pair gamma = gaussianPair(rnd, 96); Pair out = poisoned(s);
             Pair mean = poisoned(200); Pair rstd = poisoned(200); Pair dout = gaussianPair(rnd, s);
             Pair dgamma = poisoned(96); Pair dbeta = poisoned(96); Pair dx = poisoned(s)) {
            CPU.layerNormForward(out.cpu(), mean.cpu(), rstd.cpu(), x.cpu(), gamma.cpu(), null, 1e-5);
            gpu().layerNormForward(out.gpu(), mean.gpu(), rstd.gpu(), x.gpu(), gamma.gpu(), null, 1e-5);
            CPU.layerNormBackward(dx.cpu(), dgamma.cpu(), dbeta.cpu(), dout.cpu(), x.cpu(), mean.cpu(), rstd.cpu(), gamma.cpu());
            gpu().layerNormBackward(dout.gpu(), dgamma.gpu(), dbeta.gpu(), dout.gpu(), x.gpu(), mean.gpu(), rstd.gpu(), gamma.gpu());
            assertMatches(dout.gpu(), dx.cpu().toDoubles(), SUM_TOL, "dx written over dout");
            assertMatches(dgamma, SUM_TOL, "dgamma with aliasing");
            assertMatches(dbeta, SUM_TOL, "dbeta with aliasing");
        }
    }

    @Test
    void rmsNormForwardAndBackward() {
        Random rnd = random("rmsNorm");
        for (int[] s : SHAPES) {
            int n = s[s.length - 1];
            int rows = 1;
            for (int i = 0; i < s.length - 1; i++) rows *= s[i];
            String what = "rmsNorm " + Arrays.toString(s);
            try (Pair x = gaussianPair(rnd, s); Pair gamma = pair(uniform(rnd, n, 0.5, 1.5), n);
                 Pair out = poisoned(s); Pair rstd = poisoned(rows);
                 Pair dout = gaussianPair(rnd, s); Pair dx = poisoned(s); Pair dgamma = poisoned(n)) {
                CPU.rmsNormForward(out.cpu(), rstd.cpu(), x.cpu(), gamma.cpu(), 1e-6);
                gpu().rmsNormForward(out.gpu(), rstd.gpu(), x.gpu(), gamma.gpu(), 1e-6);
                assertMatches(out, TOL, what + " out");
                assertMatches(rstd, TOL, what + " rstd");
                CPU.rmsNormBackward(dx.cpu(), dgamma.cpu(), dout.cpu(), x.cpu(), rstd.cpu(), gamma.cpu());
                gpu().rmsNormBackward(dx.gpu(), dgamma.gpu(), dout.gpu(), x.gpu(), rstd.gpu(), gamma.gpu());
                checkDx(dx, n, dout, rstd, what + " dx");
                assertMatches(dgamma, SUM_TOL, what + " dgamma");
                gpu().fill(dx.gpu(), Double.NaN);
                gpu().rmsNormBackward(dx.gpu(), null, dout.gpu(), x.gpu(), rstd.gpu(), gamma.gpu());
                checkDx(dx, n, dout, rstd, what + " dx without dgamma");
            }
        }
    }
}
