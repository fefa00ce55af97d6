package io.cmamba.data;

/**
 * A dense batch on the host: per modality m, features [size, L_m, F_m] and true lengths [size];
 * regression targets [size] and/or class labels [size] (either may be null).
 */
public record Batch(int[] featureSizes, int[] maxLengths, float[][] features, int[][] lengths, float[] regression,
                    int[] classes) {
    public int size() {
        return lengths[0].length;
    }

    public int modalities() {
        return featureSizes.length;
    }
}
