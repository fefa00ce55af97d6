package io.cmamba.data;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

class SyntheticDatasetTest {
    @Test
    void deterministicFromTheSeedAndDifferentAcrossSeeds() {
        Dataset a = SyntheticDataset.create(5, 50, 10, 10), b = SyntheticDataset.create(5, 50, 10, 10);
        Dataset c = SyntheticDataset.create(6, 50, 10, 10);
        for (Split[] pair : new Split[][]{{a.train(), b.train()}, {a.valid(), b.valid()}, {a.test(), b.test()}})
            for (int m = 0; m < 3; m++) {
                assertArrayEquals(pair[0].features(m), pair[1].features(m));
                assertArrayEquals(pair[0].lengths(m), pair[1].lengths(m));
                assertArrayEquals(pair[0].regression(), pair[1].regression());
            }
        assertFalse(Arrays.equals(a.train().features(0), c.train().features(0)));
        assertFalse(Arrays.equals(a.test().regression(), c.test().regression()));
    }

    @Test
    void aSplitDoesNotDependOnTheOtherSplitsSizes() {
        Dataset small = SyntheticDataset.create(9, 20, 10, 10), large = SyntheticDataset.create(9, 30, 15, 12);
        assertArrayEquals(small.valid().regression(), Arrays.copyOf(large.valid().regression(), 10));
        assertArrayEquals(small.test().features(2), Arrays.copyOf(large.test().features(2), small.test().features(2).length));
        assertArrayEquals(small.train().lengths(1), Arrays.copyOf(large.train().lengths(1), 20));
    }

    @Test
    void shapesLabelsAndLengthsAreAsDocumented() {
        Dataset d = SyntheticDataset.create(1, 1000, 20, 20);
        Split s = d.train();
        assertEquals(3, d.modalities());
        assertArrayEquals(new String[]{"text", "audio", "vision"}, d.modalityNames());
        assertArrayEquals(new int[]{24, 12, 8}, s.featureSizes());
        assertArrayEquals(new int[]{20, 32, 24}, s.maxLengths());
        assertEquals(2, d.classes());
        assertEquals(3.0, d.labelRange());
        int positives = 0;
        double min = 0, max = 0;
        for (int i = 0; i < s.size(); i++) {
            float y = s.regression()[i];
            assertTrue(y >= -3 && y <= 3, "label " + y);
            assertEquals(y >= 0 ? 1 : 0, s.classes()[i]);
            if (y >= 0) positives++;
            min = Math.min(min, y);
            max = Math.max(max, y);
        }
        // the sign is a fair coin: 1000 draws stay within 4.5 standard deviations (16) of 500
        assertTrue(Math.abs(positives - 500) < 72, "labels should be balanced, got " + positives + " of 1000 non-negative");
        assertTrue(min < -2.5 && max > 2.5, "labels should span the scale, got [" + min + ", " + max + "]");
        for (int m = 0; m < 3; m++) {
            Set<Integer> distinct = new HashSet<>();
            int lmax = s.maxLengths()[m], f = s.featureSizes()[m];
            for (int i = 0; i < s.size(); i++) {
                int len = s.lengths(m)[i];
                assertTrue(len >= Math.ceil(0.6 * lmax) && len <= lmax, "length " + len + " of modality " + m);
                distinct.add(len);
                // padding past the true length is zero, the valid steps are not
                for (int t = 0; t < lmax; t++) {
                    double norm = 0;
                    for (int j = 0; j < f; j++) norm += Math.abs(s.features(m)[(i * lmax + t) * f + j]);
                    if (t < len) assertTrue(norm > 0, "sample " + i + " modality " + m + " step " + t + " is empty");
                    else assertEquals(0.0, norm, "sample " + i + " modality " + m + " step " + t + " is padding");
                }
            }
            assertTrue(distinct.size() >= lmax * 0.4 - 1, "lengths of modality " + m + " should vary, got " + distinct);
        }
    }

    @Test
    void classLabelsFollowTheBenchmarkBins() {
        Dataset d3 = SyntheticDataset.create(2, 1400, 10, 10, 3), d7 = SyntheticDataset.create(2, 1400, 10, 10, 7);
        assertEquals(3, d3.classes());
        assertEquals(7, d7.classes());
        float[] y = d3.train().regression();
        assertArrayEquals(y, d7.train().regression(), "the regression labels do not depend on the classes");
        int[] count3 = new int[3], count7 = new int[7];
        for (int i = 0; i < y.length; i++) {
            int c3 = d3.train().classes()[i], c7 = d7.train().classes()[i];
            count3[c3]++;
            count7[c7]++;
            assertEquals((int) Math.rint(y[i]), c7 - 3, "7-class label of " + y[i]);
            assertEquals((int) Math.signum(Math.rint(y[i])) + 1, c3, "3-class label of " + y[i]);
        }
        for (int c = 0; c < 7; c++) assertTrue(count7[c] >= 20, "7 classes: " + Arrays.toString(count7));
        for (int c = 0; c < 3; c++) assertTrue(count3[c] >= 100, "3 classes: " + Arrays.toString(count3));
        assertEquals(1, SyntheticDataset.classOf(0.5, 3)); // rint(0.5) = 0: neutral, like the metrics' rounding
        assertEquals(5, SyntheticDataset.classOf(2.5, 7));
        assertEquals(6, SyntheticDataset.classOf(3.0, 7));
        assertThrows(IllegalArgumentException.class, () -> SyntheticDataset.create(1, 10, 10, 10, 5));
        assertThrows(IllegalArgumentException.class, () -> SyntheticDataset.create(1, 0, 10, 10));
    }

    /**
     * The label's sign is in the timing of events across modalities: a matched-filter rule that reads
     * the text's polarity at the time of the audio response gets it nearly always right, while
     * audio's order-free summary (max over time of its filter) is at chance, and text's summaries
     * (max + min + sum over time, or its switch time as a prior) stay far behind. This is the property that makes coupling
     * over time matter.
     */
    @Test
    void theSignNeedsTheTimingOfEventsAcrossModalities() {
        long seed = 11;
        Split s = SyntheticDataset.create(seed, 2000, 1, 1).train();
        double[][] p = SyntheticDataset.patterns(seed);
        int n = s.size(), temporal = 0, textSummary = 0, textSwitch = 0, audioSummary = 0;
        for (int i = 0; i < n; i++) {
            boolean positive = s.regression()[i] >= 0;
            double[] text = project(s, 0, i, p[0]), audio = project(s, 1, i, p[2]);
            int lt = text.length, la = audio.length;
            int ta = 0; // an event spans two steps: find the best pair
            for (int t = 1; t + 1 < la; t++) if (audio[t] + audio[t + 1] > audio[ta] + audio[ta + 1]) ta = t;
            double response = (double) ta / la;
            // the text's polarity around the response: mean of the filtered steps within +-0.06
            double around = 0;
            for (int t = 0; t < lt; t++) if (Math.abs((double) t / lt - response) <= 0.06) around += text[t];
            if ((around >= 0) == positive) temporal++;
            double max = Arrays.stream(text).max().orElseThrow(), min = Arrays.stream(text).min().orElseThrow();
            double sum = Arrays.stream(text).sum();
            if ((max + min + sum >= 0) == positive) textSummary++;
            // text's best guess without audio: the first polarity if the switch is late, else the second
            double first = 0, last = 0;
            for (int t = 0; t < lt; t++) {
                if (t < lt * SyntheticDataset.SWITCH_MIN) first += text[t];
                if (t >= lt * SyntheticDataset.SWITCH_MAX) last += text[t];
            }
            int flip = 0; // the switch: the step where the running sum of the filtered text changes sign most
            double best = -1, run = 0;
            for (int t = 0; t < lt; t++) {
                run += text[t];
                double score = Math.abs(run) * Math.signum(run * first);
                if (score > best) { best = score; flip = t + 1; }
            }
            double guess = (double) flip / lt > 0.5 ? first : last;
            if ((guess >= 0) == positive) textSwitch++;
            double amax = Arrays.stream(audio).max().orElseThrow();
            if ((amax - 2.0 >= 0) == positive) audioSummary++;
        }
        double temporalAcc = (double) temporal / n;
        assertTrue(temporalAcc > 0.94, "the temporal rule should find the sign, got " + temporalAcc);
        // chance: 2000 fair coins stay within 4.5 standard deviations (0.05) of 0.5
        assertTrue((double) textSummary / n < 0.74, "text summaries should be well short of the temporal rule, got " + (double) textSummary / n);
        double textAcc = (double) textSwitch / n; // about 0.66 in expectation: the switch time is a prior, not the answer
        assertTrue(textAcc > 0.58 && textAcc < 0.74, "text alone should be well short of the temporal rule, got " + textAcc);
        assertEquals(0.5, (double) audioSummary / n, 0.05, "audio summaries should not know the sign");
    }

    /** <x_t, pattern> for every valid step t of sample i in modality m. */
    private static double[] project(Split s, int m, int i, double[] pattern) {
        int f = s.featureSizes()[m], lmax = s.maxLengths()[m], len = s.lengths(m)[i];
        double[] r = new double[len];
        for (int t = 0; t < len; t++)
            for (int j = 0; j < f; j++) r[t] += s.features(m)[(i * lmax + t) * f + j] * pattern[j];
        return r;
    }
}
