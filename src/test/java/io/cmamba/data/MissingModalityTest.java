package io.cmamba.data;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

class MissingModalityTest {
    private static final Split SPLIT = SyntheticDataset.create(8, 3000, 1, 1).train();

    /** Whether sample i's modality m is all zeros in s. */
    private static boolean zeroed(Split s, int m, int i) {
        int row = s.maxLengths()[m] * s.featureSizes()[m];
        for (int j = i * row; j < (i + 1) * row; j++) if (s.features(m)[j] != 0) return false;
        return true;
    }

    @Test
    void theRateIsMetAndOnlyMissingModalitiesChange() {
        float[][] before = new float[3][];
        for (int m = 0; m < 3; m++) before[m] = SPLIT.features(m).clone();
        for (double p : new double[]{0.1, 0.3, 0.5, 0.7}) {
            Split s = MissingModality.apply(SPLIT, p, 42);
            int missing = 0, total = 0;
            for (int m = 0; m < 3; m++) {
                int row = s.maxLengths()[m] * s.featureSizes()[m];
                for (int i = 0; i < s.size(); i++) {
                    total++;
                    boolean gone = MissingModality.isMissing(42, i, m, p);
                    if (gone) {
                        missing++;
                        assertTrue(zeroed(s, m, i), "sample " + i + " modality " + m + " should be zeroed at p " + p);
                    } else {
                        assertArrayEquals(Arrays.copyOfRange(before[m], i * row, (i + 1) * row),
                                Arrays.copyOfRange(s.features(m), i * row, (i + 1) * row));
                    }
                }
                assertSame(SPLIT.lengths(m), s.lengths(m), "lengths are kept");
            }
            assertSame(SPLIT.regression(), s.regression());
            // 9000 Bernoulli(p) draws: within 5 standard deviations (at most 0.027)
            assertEquals(p, (double) missing / total, 5 * Math.sqrt(p * (1 - p) / total), "rate " + p);
        }
        for (int m = 0; m < 3; m++) assertArrayEquals(before[m], SPLIT.features(m), "the input split is not changed");
    }

    @Test
    void zeroAndOneAndBadRates() {
        Split none = MissingModality.apply(SPLIT, 0, 1);
        for (int m = 0; m < 3; m++) assertArrayEquals(SPLIT.features(m), none.features(m));
        Split all = MissingModality.apply(SPLIT, 1, 1);
        for (int m = 0; m < 3; m++) for (float v : all.features(m)) assertEquals(0f, v);
        for (double bad : new double[]{-0.1, 1.5, Double.NaN})
            assertThrows(IllegalArgumentException.class, () -> MissingModality.apply(SPLIT, bad, 1));
    }

    @Test
    void deterministicNestedInTheRateAndIndependentOfBatching() {
        long seed = 7;
        // the same seed drops the same; another seed drops differently
        Split a = MissingModality.apply(SPLIT, 0.4, seed), b = MissingModality.apply(SPLIT, 0.4, seed);
        Split c = MissingModality.apply(SPLIT, 0.4, seed + 1);
        for (int m = 0; m < 3; m++) assertArrayEquals(a.features(m), b.features(m));
        assertFalse(Arrays.equals(a.features(0), c.features(0)));
        // what is missing at p = 0.2 is also missing at p = 0.5
        int agree = 0;
        for (int i = 0; i < SPLIT.size(); i++)
            for (int m = 0; m < 3; m++)
                if (MissingModality.isMissing(seed, i, m, 0.2)) {
                    assertTrue(MissingModality.isMissing(seed, i, m, 0.5));
                    agree++;
                }
        assertTrue(agree > 1000, "about 1800 of 9000 should be missing at 0.2, got " + agree);
        // modalities of one sample are independent: both of two given ones missing about p^2 of the time
        int both = 0;
        for (int i = 0; i < SPLIT.size(); i++) if (MissingModality.isMissing(seed, i, 0, 0.5) && MissingModality.isMissing(seed, i, 1, 0.5)) both++;
        assertEquals(0.25, both / 3000.0, 5 * Math.sqrt(0.25 * 0.75 / 3000));
        // batches in any order drop exactly what the whole split drops
        int[] idx = {2999, 5, 17, 5, 1000};
        Batch batch = MissingModality.apply(SPLIT.batch(idx), idx, 0.4, seed);
        Batch expected = a.batch(idx);
        for (int m = 0; m < 3; m++) assertArrayEquals(expected.features()[m], batch.features()[m]);
        assertThrows(IllegalArgumentException.class, () -> MissingModality.apply(SPLIT.batch(idx), new int[]{1, 2}, 0.4, seed));
    }

    @Test
    void trainingDropoutVariesByStepAndCanKeepOneModality() {
        int[] idx = new int[256];
        for (int i = 0; i < idx.length; i++) idx[i] = i;
        Batch batch = SPLIT.batch(idx);
        float[] text = batch.features()[0].clone();
        Batch s1 = MissingModality.dropout(batch, 0.5, 3, 1, false), s1again = MissingModality.dropout(batch, 0.5, 3, 1, false);
        Batch s2 = MissingModality.dropout(batch, 0.5, 3, 2, false);
        assertArrayEquals(s1.features()[0], s1again.features()[0], "a step's dropout is reproducible");
        assertFalse(Arrays.equals(s1.features()[0], s2.features()[0]), "another step drops other rows");
        assertArrayEquals(text, batch.features()[0], "the input batch is not changed");
        assertSame(batch.lengths(), s1.lengths());
        // at rate 1 with keepOne, every row keeps exactly one modality, whole
        for (Batch d : new Batch[]{MissingModality.dropout(batch, 1.0, 3, 9, true),
                MissingModality.dropout(batch, 1.0, new SplittableRandom(4), true)}) {
            int[] kept = new int[3];
            for (int j = 0; j < batch.size(); j++) {
                int alive = 0;
                for (int m = 0; m < 3; m++) {
                    int row = batch.maxLengths()[m] * batch.featureSizes()[m];
                    float[] got = Arrays.copyOfRange(d.features()[m], j * row, (j + 1) * row);
                    if (Arrays.equals(got, Arrays.copyOfRange(batch.features()[m], j * row, (j + 1) * row))) {
                        alive++;
                        kept[m]++;
                    } else {
                        for (float v : got) assertEquals(0f, v);
                    }
                }
                assertEquals(1, alive, "row " + j);
            }
            for (int m = 0; m < 3; m++) assertTrue(kept[m] > 50, "the kept modality should vary: " + Arrays.toString(kept));
        }
        // without keepOne, rate 1 drops everything; the random-stream form meets the rate
        for (float[] f : MissingModality.dropout(batch, 1.0, 3, 9, false).features()) for (float v : f) assertEquals(0f, v);
        Batch r = MissingModality.dropout(batch, 0.3, new SplittableRandom(5), false);
        int dropped = 0;
        for (int m = 0; m < 3; m++) {
            int row = batch.maxLengths()[m] * batch.featureSizes()[m];
            for (int j = 0; j < batch.size(); j++) {
                boolean zero = true;
                for (int t = j * row; t < (j + 1) * row; t++) zero &= r.features()[m][t] == 0;
                if (zero) dropped++;
            }
        }
        assertEquals(0.3, dropped / 768.0, 5 * Math.sqrt(0.21 / 768));
    }
}
