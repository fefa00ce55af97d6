package io.cmamba.data;

import java.util.SplittableRandom;

/**
 * Missing modalities, as in the robustness experiment of the Coupled Mamba paper (its Table 12):
 * for each sample and each modality, independently with probability p, the modality's features are
 * set to zero. The true lengths are kept, so the model still sees a sequence of the usual length with
 * nothing in it (as a dropped sensor gives), and the labels are untouched.
 *
 * <p>Evaluation ({@link #apply(Split, double, long)}, {@link #apply(Batch, int[], double, long)}): whether
 * modality m of sample i is missing is a pure function of (seed, i, m, p), a hash rather than a random
 * stream, so the same samples lose the same modalities whatever the batch size or order, and the missing
 * set at a smaller p is contained in the one at a larger p (a robustness curve over p compares like with
 * like). Training ({@link #dropout}): the same mechanism drawn afresh for every batch (modality dropout),
 * optionally keeping at least one modality of every sample.
 */
public final class MissingModality {
    private MissingModality() {
    }

    /** Whether modality {@code modality} of sample {@code sample} is missing at rate {@code rate} under {@code seed}. */
    public static boolean isMissing(long seed, long sample, int modality, double rate) {
        checkRate(rate);
        return uniform(seed, sample, modality) < rate;
    }

    /** A uniform number in [0, 1) that depends on every bit of (seed, a, b): SplitMix64's finaliser, chained. */
    static double uniform(long seed, long a, long b) {
        long h = mix(seed ^ 0x9E3779B97F4A7C15L);
        h = mix(h ^ a);
        h = mix(h ^ (b * 0xC2B2AE3D27D4EB4FL));
        return (h >>> 11) * 0x1.0p-53;
    }

    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    static void checkRate(double rate) {
        if (!(rate >= 0 && rate <= 1)) throw new IllegalArgumentException("missing rate must be in [0, 1], got " + rate);
    }

    /** The split with the missing modalities of its samples zeroed (a copy; the split is not changed). */
    public static Split apply(Split split, double rate, long seed) {
        checkRate(rate);
        int m = split.modalities(), n = split.size();
        int[] fs = split.featureSizes(), ml = split.maxLengths();
        float[][] features = new float[m][];
        for (int k = 0; k < m; k++) {
            features[k] = split.features(k);
            int row = ml[k] * fs[k];
            for (int i = 0; i < n; i++)
                if (uniform(seed, i, k) < rate) {
                    if (features[k] == split.features(k)) features[k] = features[k].clone();
                    java.util.Arrays.fill(features[k], i * row, (i + 1) * row, 0f);
                }
        }
        int[][] lengths = new int[m][];
        for (int k = 0; k < m; k++) lengths[k] = split.lengths(k);
        return new Split(split.name(), fs, ml, features, lengths, split.regression(), split.classes());
    }

    /**
     * The batch with missing modalities zeroed, where row j of the batch is sample {@code samples[j]} of
     * its split: the rows lose exactly what {@link #apply(Split, double, long)} would take from those samples.
     */
    public static Batch apply(Batch batch, int[] samples, double rate, long seed) {
        checkRate(rate);
        if (samples.length != batch.size())
            throw new IllegalArgumentException(samples.length + " sample indices for a batch of " + batch.size());
        boolean[][] drop = new boolean[batch.modalities()][batch.size()];
        for (int k = 0; k < drop.length; k++)
            for (int j = 0; j < samples.length; j++) drop[k][j] = uniform(seed, samples[j], k) < rate;
        return zero(batch, drop);
    }

    /**
     * Modality dropout for training: each modality of each row is zeroed with probability {@code rate},
     * as a pure function of (seed, step, row, modality), so a resumed run drops the same as an unbroken one.
     *
     * @param keepOne where a row would lose every modality, keep one of them (chosen by the same hash)
     */
    public static Batch dropout(Batch batch, double rate, long seed, long step, boolean keepOne) {
        return dropout(batch, rate, seed, step, keepOne, null);
    }

    /**
     * As {@link #dropout(Batch, double, long, long, boolean)} for a shard of a larger batch: row j of
     * {@code batch} is row {@code rows[j]} of the whole step's batch (null: row j), so each rank of a
     * data-parallel job drops exactly what one process training the whole batch would.
     */
    public static Batch dropout(Batch batch, double rate, long seed, long step, boolean keepOne, int[] rows) {
        checkRate(rate);
        int m = batch.modalities(), b = batch.size();
        if (rows != null && rows.length != b)
            throw new IllegalArgumentException(rows.length + " row positions for a batch of " + b);
        long stream = mix(seed ^ mix(step));
        boolean[][] drop = new boolean[m][b];
        for (int j = 0; j < b; j++) {
            int row = rows == null ? j : rows[j];
            boolean all = true;
            for (int k = 0; k < m; k++) all &= drop[k][j] = uniform(stream, row, k) < rate;
            if (all && keepOne) drop[(int) (uniform(stream, row, m) * m)][j] = false;
        }
        return zero(batch, drop);
    }

    /** Modality dropout drawing from {@code random} (one draw per row and modality, then one per fully dropped row). */
    public static Batch dropout(Batch batch, double rate, SplittableRandom random, boolean keepOne) {
        checkRate(rate);
        int m = batch.modalities(), b = batch.size();
        boolean[][] drop = new boolean[m][b];
        for (int j = 0; j < b; j++) {
            boolean all = true;
            for (int k = 0; k < m; k++) all &= drop[k][j] = random.nextDouble() < rate;
            if (all && keepOne) drop[random.nextInt(m)][j] = false;
        }
        return zero(batch, drop);
    }

    /** A batch sharing the input's arrays except the features of modalities that lose a row (copied, then zeroed). */
    private static Batch zero(Batch batch, boolean[][] drop) {
        int m = batch.modalities();
        float[][] features = batch.features().clone();
        for (int k = 0; k < m; k++) {
            int row = batch.maxLengths()[k] * batch.featureSizes()[k];
            for (int j = 0; j < batch.size(); j++)
                if (drop[k][j]) {
                    if (features[k] == batch.features()[k]) features[k] = features[k].clone();
                    java.util.Arrays.fill(features[k], j * row, (j + 1) * row, 0f);
                }
        }
        return new Batch(batch.featureSizes(), batch.maxLengths(), features, batch.lengths(), batch.regression(), batch.classes());
    }
}
