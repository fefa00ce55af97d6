package io.cmamba.train;

import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** Each metric on hand-made values; the expected numbers are worked out in the comments. */
class MetricsTest {
    @Test
    void regressionOnTheMinus3To3Scale() {
        float[] pred = {2.6f, -0.4f, 0.2f, -2.5f, 0.0f};
        float[] truth = {3.0f, -1.0f, 0.0f, -1.6f, 0.5f};
        Map<String, Double> r = Metrics.regression3(pred, truth);
        // |diffs| = 0.4, 0.6, 0.2, 0.9, 0.5 -> MAE 2.6 / 5
        assertEquals(0.52, r.get("mae"), 1e-6);
        // rint: pred 3, -0, 0, -2 (half-even), 0; truth 3, -1, 0, -2, 0 (0.5 -> 0) -> 4 of 5 agree
        assertEquals(0.8, r.get("acc7"), 1e-12);
        // clip to [-2, 2]: pred 2, -0, 0, -2, 0; truth 2, -1, 0, -2, 0 -> 4 of 5
        assertEquals(0.8, r.get("acc5"), 1e-12);
        // has-0: pred >= 0: 1,0,1,0,1; truth >= 0: 1,0,1,0,1 -> all agree
        assertEquals(1.0, r.get("acc2_has0"), 1e-12);
        assertEquals(1.0, r.get("f1_has0"), 1e-12);
        // non-0 drops sample 2 (truth 0): pred > 0: 1,0,0,0; truth > 0: 1,0,0,1 -> 3 of 4
        assertEquals(0.75, r.get("acc2_non0"), 1e-12);
        // class 0: tp 2, fp 1, fn 0 -> F1 0.8, support 2; class 1: tp 1, fp 0, fn 1 -> F1 2/3, support 2
        assertEquals(0.5 * 0.8 + 0.5 * 2.0 / 3, r.get("f1_non0"), 1e-12);
        // Pearson by hand: see the definition; compare with a direct two-pass computation
        double mp = 0, mt = 0;
        for (int i = 0; i < 5; i++) {
            mp += pred[i] / 5.0;
            mt += truth[i] / 5.0;
        }
        double sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < 5; i++) {
            sxy += (pred[i] - mp) * (truth[i] - mt);
            sxx += (pred[i] - mp) * (pred[i] - mp);
            syy += (truth[i] - mt) * (truth[i] - mt);
        }
        assertEquals(sxy / Math.sqrt(sxx * syy), r.get("corr"), 1e-9);
        assertTrue(r.get("corr") > 0.9);
    }

    @Test
    void chSimsBins() {
        float[] pred = {-0.8f, -0.05f, 0.3f, 0.95f, 1.4f};
        float[] truth = {-0.6f, 0.0f, 0.05f, 0.8f, 1.0f};
        Map<String, Double> r = Metrics.regression1(pred, truth);
        // acc2 bins (-1.01, 0], (0, 1.01]: pred 0,0,1,1,1 truth 0,0,1,1,1 -> 1.0
        assertEquals(1.0, r.get("acc2"), 1e-12);
        // acc3 bins (-1.01,-0.1],(-0.1,0.1],(0.1,1.01]: pred 0,1,2,2,2 truth 0,1,1,2,2 -> 4/5
        assertEquals(0.8, r.get("acc3"), 1e-12);
        // acc5 edges -0.7,-0.1,0.1,0.7: pred 0,2,3,4,4 (1.4 clipped to 1) truth 1,2,2,4,4 -> 3/5
        assertEquals(0.6, r.get("acc5"), 1e-12);
        // MAE with the unclipped prediction: 0.2, 0.05, 0.25, 0.15, 0.4 -> 1.05 / 5
        assertEquals(0.21, r.get("mae"), 1e-6);
    }

    @Test
    void classificationAccuracyAndWeightedF1() {
        int[] pred = {0, 1, 2, 2, 1, 0};
        int[] truth = {0, 1, 1, 2, 1, 2};
        Map<String, Double> r = Metrics.classification(pred, truth, 3);
        assertEquals(4.0 / 6, r.get("acc"), 1e-12);
        // class 0: tp1 fp1 fn0 -> 2/3, support 1; class 1: tp2 fp0 fn1 -> 0.8, support 3; class 2: tp1 fp1 fn1 -> 0.5, support 2
        assertEquals((2.0 / 3 * 1 + 0.8 * 3 + 0.5 * 2) / 6, r.get("f1"), 1e-12);
    }

    @Test
    void constantPredictionsHaveNoCorrelationAndMismatchedInputsAreRejected() {
        assertTrue(Double.isNaN(Metrics.regression3(new float[]{1, 1, 1}, new float[]{0.5f, -1, 2}).get("corr")));
        assertThrows(IllegalArgumentException.class, () -> Metrics.regression3(new float[2], new float[3]));
    }
}
