package io.cmamba.data;

import java.util.Arrays;

/**
 * One split of a multimodal dataset, held in host memory. Per modality m: features [size, L_m, F_m]
 * row-major (zero past each sample's true length) and true lengths [size] in [0, L_m]. Labels: a
 * regression target per sample (sentiment in [-3, 3] or [-1, 1]) and/or a class index.
 */
public final class Split {
    private final String name;
    private final int size;
    private final int[] featureSizes;
    private final int[] maxLengths;
    private final float[][] features;
    private final int[][] lengths;
    private final float[] regression;
    private final int[] classes;

    public Split(String name, int[] featureSizes, int[] maxLengths, float[][] features, int[][] lengths,
                 float[] regression, int[] classes) {
        int m = featureSizes.length;
        if (m < 1 || maxLengths.length != m || features.length != m || lengths.length != m)
            throw new IllegalArgumentException(name + ": expected " + m + " modalities in every per-modality array");
        if (regression == null && classes == null) throw new IllegalArgumentException(name + ": no labels");
        int n = lengths[0].length;
        for (int i = 0; i < m; i++) {
            if (lengths[i].length != n)
                throw new IllegalArgumentException(name + ": modality " + i + " has " + lengths[i].length + " lengths, expected " + n);
            long want = (long) n * maxLengths[i] * featureSizes[i];
            if (features[i].length != want)
                throw new IllegalArgumentException(name + ": modality " + i + " has " + features[i].length
                        + " feature values, expected " + n + " x " + maxLengths[i] + " x " + featureSizes[i]);
            for (int s = 0; s < n; s++)
                if (lengths[i][s] < 0 || lengths[i][s] > maxLengths[i])
                    throw new IllegalArgumentException(name + ": sample " + s + " of modality " + i + " has length "
                            + lengths[i][s] + " outside [0, " + maxLengths[i] + "]");
        }
        if (regression != null && regression.length != n)
            throw new IllegalArgumentException(name + ": " + regression.length + " regression labels for " + n + " samples");
        if (classes != null && classes.length != n)
            throw new IllegalArgumentException(name + ": " + classes.length + " class labels for " + n + " samples");
        this.name = name;
        this.size = n;
        this.featureSizes = featureSizes.clone();
        this.maxLengths = maxLengths.clone();
        this.features = features;
        this.lengths = lengths;
        this.regression = regression;
        this.classes = classes;
    }

    public String name() {
        return name;
    }

    public int size() {
        return size;
    }

    public int modalities() {
        return featureSizes.length;
    }

    public int[] featureSizes() {
        return featureSizes.clone();
    }

    public int[] maxLengths() {
        return maxLengths.clone();
    }

    /** Modality m's features [size, L_m, F_m] (shared, not copied). */
    public float[] features(int m) {
        return features[m];
    }

    public int[] lengths(int m) {
        return lengths[m];
    }

    public float[] regression() {
        return regression;
    }

    public int[] classes() {
        return classes;
    }

    /** The samples at {@code indices}, copied into a dense batch. */
    public Batch batch(int[] indices) {
        int m = modalities();
        float[][] f = new float[m][];
        int[][] len = new int[m][];
        for (int i = 0; i < m; i++) {
            int row = maxLengths[i] * featureSizes[i];
            f[i] = new float[indices.length * row];
            len[i] = new int[indices.length];
            for (int j = 0; j < indices.length; j++) {
                int s = indices[j];
                if (s < 0 || s >= size) throw new IndexOutOfBoundsException("sample " + s + " of split " + name + " (" + size + ")");
                System.arraycopy(features[i], s * row, f[i], j * row, row);
                len[i][j] = lengths[i][s];
            }
        }
        float[] r = null;
        int[] c = null;
        if (regression != null) {
            r = new float[indices.length];
            for (int j = 0; j < indices.length; j++) r[j] = regression[indices[j]];
        }
        if (classes != null) {
            c = new int[indices.length];
            for (int j = 0; j < indices.length; j++) c[j] = classes[indices[j]];
        }
        return new Batch(featureSizes.clone(), maxLengths.clone(), f, len, r, c);
    }

    /** A split made of the given modalities only (unimodal baselines, ablations). */
    public Split selectModalities(int... keep) {
        int[] fs = new int[keep.length], ml = new int[keep.length];
        float[][] f = new float[keep.length][];
        int[][] l = new int[keep.length][];
        for (int i = 0; i < keep.length; i++) {
            fs[i] = featureSizes[keep[i]];
            ml[i] = maxLengths[keep[i]];
            f[i] = features[keep[i]];
            l[i] = lengths[keep[i]];
        }
        return new Split(name, fs, ml, f, l, regression, classes);
    }

    @Override
    public String toString() {
        return "Split[" + name + ", " + size + " samples, F " + Arrays.toString(featureSizes) + ", L " + Arrays.toString(maxLengths) + "]";
    }
}
