package io.cmamba.data;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class SyntheticDatasetTest {
    @Test
    void deterministicFromTheSeedAndDifferentAcrossSeeds() {
        Dataset a = SyntheticDataset.create(5, 50, 10, 10), b = SyntheticDataset.create(5, 50, 10, 10), c = SyntheticDataset.create(6, 50, 10, 10);
        assertArrayEquals(a.train().features(1), b.train().features(1));
        assertArrayEquals(a.test().regression(), b.test().regression());
        assertFalse(java.util.Arrays.equals(a.train().features(0), c.train().features(0)));
    }

    @Test
    void shapesLabelsAndLengthsAreAsDocumented() {
        Dataset d = SyntheticDataset.create(1, 400, 20, 20);
        Split s = d.train();
        assertEquals(3, d.modalities());
        assertArrayEquals(new int[]{24, 12, 8}, s.featureSizes());
        int positives = 0;
        for (int i = 0; i < s.size(); i++) {
            float y = s.regression()[i];
            assertTrue(y >= -3 && y <= 3, "label " + y);
            assertEquals(y > 0 ? 1 : 0, s.classes()[i]);
            if (y > 0) positives++;
        }
        assertTrue(positives > 150 && positives < 250, "labels should be balanced, got " + positives + " of 400 positive");
        for (int m = 0; m < 3; m++) {
            java.util.Set<Integer> distinct = new java.util.HashSet<>();
            for (int len : s.lengths(m)) {
                assertTrue(len >= 1 && len <= s.maxLengths()[m]);
                distinct.add(len);
            }
            assertTrue(distinct.size() > 3, "lengths of modality " + m + " should vary");
            // padding past the true length is zero
            int f = s.featureSizes()[m], lmax = s.maxLengths()[m];
            for (int i = 0; i < s.size(); i++)
                for (int t = s.lengths(m)[i]; t < lmax; t++)
                    for (int j = 0; j < f; j++) assertEquals(0f, s.features(m)[(i * lmax + t) * f + j]);
        }
    }
}
