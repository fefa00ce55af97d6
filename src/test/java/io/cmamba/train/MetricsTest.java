package io.cmamba.train;

import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** Each metric on hand-made values; the expected numbers are worked out in the comments. */
class MetricsTest {
    private static final float[] PRED3 = {2.6f, -0.4f, 0.2f, -2.5f, 0.0f};
    private static final float[] TRUTH3 = {3.0f, -1.0f, 0.0f, -1.6f, 0.5f};

    @Test
    void maeAndCorrOnTheMinus3To3Scale() {
        Map<String, Double> r = Metrics.regression3(PRED3, TRUTH3);
        // |diffs| = 0.4, 0.6, 0.2, 0.9, 0.5 -> MAE 2.6 / 5
        assertEquals(0.52, r.get("mae"), 1e-6);
        // means: pred -0.1 / 5 = -0.02, truth 0.9 / 5 = 0.18
        // deviations a = 2.62, -0.38, 0.22, -2.48, 0.02; b = 2.82, -1.18, -0.18, -1.78, 0.32
        // sum ab = 7.3884 + 0.4484 - 0.0396 + 4.4144 + 0.0064 = 12.218
        // sum aa = 6.8644 + 0.1444 + 0.0484 + 6.1504 + 0.0004 = 13.208
        // sum bb = 7.9524 + 1.3924 + 0.0324 + 3.1684 + 0.1024 = 12.648
        // corr = 12.218 / sqrt(13.208 * 12.648) = 12.218 / 12.92497 = 0.945302
        assertEquals(12.218 / Math.sqrt(13.208 * 12.648), r.get("corr"), 1e-6);
    }

    @Test
    void acc7AndAcc5RoundHalfToEvenAfterClipping() {
        Map<String, Double> r = Metrics.regression3(PRED3, TRUTH3);
        // rint: pred 3, -0, 0, -2 (-2.5 -> -2, half to even), 0; truth 3, -1, 0, -2, 0 (0.5 -> 0): 4 of 5 agree
        assertEquals(0.8, r.get("acc7"), 1e-12);
        // clip to [-2, 2]: pred 2, -0.4, 0.2, -2, 0 -> 2, -0, 0, -2, 0; truth 2, -1, 0, -1.6, 0.5 -> 2, -1, 0, -2, 0: 4 of 5
        assertEquals(0.8, r.get("acc5"), 1e-12);
        // clipping decides: 3.7 -> 3 vs 3 (agree), -4 -> -3 vs -2.6 -> -3 (agree), 2.5 -> 2 vs 2.6 -> 3 (differ);
        // on [-2, 2]: 2 vs 2 (agree), -2 vs -2 (agree), 2 vs 2 (agree)
        Map<String, Double> c = Metrics.regression3(new float[]{3.7f, -4f, 2.5f}, new float[]{3f, -2.6f, 2.6f});
        assertEquals(2.0 / 3, c.get("acc7"), 1e-12);
        assertEquals(1.0, c.get("acc5"), 1e-12);
    }

    @Test
    void binaryScoresWithAndWithoutZeroLabels() {
        Map<String, Double> r = Metrics.regression3(PRED3, TRUTH3);
        // has-0: pred >= 0: 1,0,1,0,1; truth >= 0: 1,0,1,0,1 -> all agree, F1 1
        assertEquals(1.0, r.get("acc2_has0"), 1e-12);
        assertEquals(1.0, r.get("f1_has0"), 1e-12);
        // non-0 drops sample 2 (truth 0): pred > 0: 1,0,0,0 (0.0 is not positive); truth > 0: 1,0,0,1 -> 3 of 4
        assertEquals(0.75, r.get("acc2_non0"), 1e-12);
        // class 0: tp 2, fp 1, fn 0 -> F1 4/5, support 2; class 1: tp 1, fp 0, fn 1 -> F1 2/3, support 2
        assertEquals(0.5 * 0.8 + 0.5 * 2.0 / 3, r.get("f1_non0"), 1e-12);
        // has-0 where it differs from non-0: pred 0.0 and truth -0.5: has-0 says 1 vs 0
        // pred >= 0: 1, 1, 0; truth >= 0: 0, 1, 0 -> 2 of 3; class 0: tp 1 fp 0 fn 1 -> 2/3 (support 2);
        // class 1: tp 1 fp 1 fn 0 -> 2/3 (support 1) -> F1 2/3
        Map<String, Double> h = Metrics.regression3(new float[]{0f, 1f, -1f}, new float[]{-0.5f, 2f, -2f});
        assertEquals(2.0 / 3, h.get("acc2_has0"), 1e-12);
        assertEquals(2.0 / 3, h.get("f1_has0"), 1e-12);
        // every label 0: the non-0 scores are undefined
        Map<String, Double> z = Metrics.regression3(new float[]{0.3f, -0.2f}, new float[]{0f, 0f});
        assertTrue(Double.isNaN(z.get("acc2_non0")) && Double.isNaN(z.get("f1_non0")));
    }

    @Test
    void chSimsBinsAndClippedMaeAndCorr() {
        float[] pred = {-0.8f, -0.05f, 0.3f, 0.95f, 1.4f};
        float[] truth = {-0.6f, 0.0f, 0.05f, 0.8f, 1.0f};
        Map<String, Double> r = Metrics.regression1(pred, truth);
        // the prediction 1.4 is clipped to 1.0 before everything
        // acc2 bins (-1.01, 0], (0, 1.01]: pred 0,0,1,1,1 truth 0,0,1,1,1 -> 1.0
        assertEquals(1.0, r.get("acc2"), 1e-12);
        assertEquals(1.0, r.get("f1"), 1e-12);
        // acc3 bins (-1.01,-0.1],(-0.1,0.1],(0.1,1.01]: pred 0,1,2,2,2 truth 0,1,1,2,2 -> 4/5
        assertEquals(0.8, r.get("acc3"), 1e-12);
        // acc5 edges -0.7,-0.1,0.1,0.7: pred 0,2,3,4,4 truth 1,2,2,4,4 -> 3/5
        assertEquals(0.6, r.get("acc5"), 1e-12);
        // MAE of the clipped values: 0.2, 0.05, 0.25, 0.15, 0 -> 0.65 / 5
        assertEquals(0.13, r.get("mae"), 1e-6);
        // clipped means 1.4 / 5 = 0.28 and 1.25 / 5 = 0.25; sum ab 1.905, sum aa 2.243, sum bb 1.69
        assertEquals(1.905 / Math.sqrt(2.243 * 1.69), r.get("corr"), 1e-6);
    }

    @Test
    void chSimsF1WhenTheBinsDisagree() {
        // acc2 bins: pred 0.2 -> 1, -0.3 -> 0, 0.0 -> 0, 0.6 -> 1; truth -0.2 -> 0, -0.5 -> 0, 0.1 -> 1, 0.9 -> 1: 2 of 4
        // class 0: tp 1, fp 1, fn 1 -> 1/2; class 1: tp 1, fp 1, fn 1 -> 1/2; weighted 1/2
        Map<String, Double> r = Metrics.regression1(new float[]{0.2f, -0.3f, 0.0f, 0.6f}, new float[]{-0.2f, -0.5f, 0.1f, 0.9f});
        assertEquals(0.5, r.get("acc2"), 1e-12);
        assertEquals(0.5, r.get("f1"), 1e-12);
        // acc3: pred 2, 0, 1, 2; truth 0, 0, 1, 2 -> 3 of 4 (0.1f is not above the edge 0.1f: bin 1, as in float32)
        assertEquals(0.75, r.get("acc3"), 1e-12);
        // on the edges themselves: -0.7f -> bin 0 and 0.7f -> bin 3 of acc5 (intervals closed on the right)
        Map<String, Double> e = Metrics.regression1(new float[]{-0.7f, 0.7f, -0.1f}, new float[]{-0.75f, 0.65f, -0.5f});
        assertEquals(1.0, e.get("acc5"), 1e-12);
    }

    @Test
    void classificationAccuracyAndWeightedF1() {
        int[] pred = {0, 1, 2, 2, 1, 0};
        int[] truth = {0, 1, 1, 2, 1, 2};
        Map<String, Double> r = Metrics.classification(pred, truth, 3);
        // samples 2 and 5 are wrong
        assertEquals(4.0 / 6, r.get("acc"), 1e-12);
        // class 0: tp1 fp1 fn0 -> 2/3, support 1; class 1: tp2 fp0 fn1 -> 0.8, support 3; class 2: tp1 fp1 fn1 -> 0.5, support 2
        assertEquals((2.0 / 3 * 1 + 0.8 * 3 + 0.5 * 2) / 6, r.get("f1"), 1e-12);
        // a class never predicted and never true adds nothing; one predicted but never true has weight 0
        Map<String, Double> s = Metrics.classification(new int[]{0, 0, 3}, new int[]{0, 0, 1}, 5);
        // class 0: F1 1 (support 2); class 1: tp0 fp0 fn1 -> 0 (support 1) -> 2/3
        assertEquals(2.0 / 3, s.get("f1"), 1e-12);
        assertThrows(IllegalArgumentException.class, () -> Metrics.classification(new int[]{0, 3}, new int[]{0, 1}, 3));
        assertThrows(IllegalArgumentException.class, () -> Metrics.classification(new int[]{0, 1}, new int[]{0, -1}, 3));
    }

    @Test
    void undefinedAndBadInputs() {
        assertTrue(Double.isNaN(Metrics.regression3(new float[]{1, 1, 1}, new float[]{0.5f, -1, 2}).get("corr")));
        assertThrows(IllegalArgumentException.class, () -> Metrics.regression3(new float[2], new float[3]));
        assertThrows(IllegalArgumentException.class, () -> Metrics.regression3(new float[0], new float[0]));
        IllegalArgumentException nan = assertThrows(IllegalArgumentException.class,
                () -> Metrics.regression3(new float[]{0, Float.NaN}, new float[]{1, 1}));
        assertTrue(nan.getMessage().contains("prediction 1"), nan.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Metrics.regression1(new float[]{0}, new float[]{Float.POSITIVE_INFINITY}));
        assertThrows(IllegalArgumentException.class, () -> Metrics.regression(new float[]{0}, new float[]{0}, 2));
    }

    @Test
    void resultsSerialiseToJsonAndBack() {
        Metrics.Result r = Metrics.regression(new float[]{1, 1, 1}, new float[]{0.5f, -1, 2}, 3);
        assertEquals("regression3", r.task());
        assertEquals(3, r.samples());
        String json = r.toJson();
        // Corr is undefined (constant predictions): JSON has no NaN, so it is written as null
        assertTrue(json.contains("\"corr\":null"), json);
        assertTrue(json.startsWith("{\"task\":\"regression3\",\"samples\":3,\"scores\":{\"mae\":"), json);
        Metrics.Result back = Metrics.Result.fromJson(json);
        assertEquals(r.task(), back.task());
        assertEquals(r.scores().keySet().stream().toList(), back.scores().keySet().stream().toList());
        for (String k : r.scores().keySet()) assertEquals(r.get(k), back.get(k), 0.0, k);
        // MAE: |1 - 0.5| + |1 + 1| + |1 - 2| = 3.5 over 3
        assertEquals(3.5 / 3, back.get("mae"), 1e-12);
        assertEquals("regression1", Metrics.regression(new float[]{0.1f, 0.2f}, new float[]{0.3f, -0.2f}, 1).task());
        assertEquals(1.0, Metrics.classificationResult(new int[]{1, 0}, new int[]{1, 0}, 2).get("acc"));
        assertThrows(IllegalArgumentException.class, () -> r.get("acc3"));
        assertThrows(IllegalArgumentException.class, () -> Metrics.Result.fromJson("{\"task\": 3}"));
    }
}
