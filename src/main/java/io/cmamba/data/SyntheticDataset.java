package io.cmamba.data;

import java.util.SplittableRandom;

/**
 * The built-in multimodal dataset: three modalities ("text" F 24 L 20, "audio" F 12 L 32, "vision"
 * F 8 L 24) with variable true lengths, whose label needs an interaction between modalities ACROSS
 * TIME. Generative process per sample, in normalised time u in [0, 1) of each modality's true length:
 * <ol>
 *   <li>text carries a cue event of sign a (+1 or -1) at time u0: the pattern +-P_text over two steps;</li>
 *   <li>audio carries a response event (pattern P_audio) at time u1: with probability 1/2 shortly AFTER
 *       the cue (u1 - u0 in [0.04, 0.2]: c = +1), otherwise before it or long after (c = -1);</li>
 *   <li>vision carries a steady level v in [-1, 1] (the pattern P_vision times v at every valid step);</li>
 *   <li>each of text and audio also carries a distractor event of another pattern at a random time; all
 *       features get Gaussian noise (sd 0.5); padding past the true length is zero.</li>
 * </ol>
 * label = clip(2 a c + 0.5 v + N(0, 0.1^2), -3, 3); class = label > 0. Text alone knows a but not c,
 * audio alone knows nothing of a, so a unimodal model is near chance on the sign; max-pooled
 * per-modality summaries keep whether events happened but lose when, which the order needs; a model
 * whose chains share state over time can see the cue's trace when the response arrives.
 * Deterministic from the seed; the three splits come from independent streams of it.
 */
public final class SyntheticDataset {
    public static final String[] MODALITIES = {"text", "audio", "vision"};
    public static final int[] FEATURES = {24, 12, 8};
    public static final int[] LENGTHS = {20, 32, 24};
    private static final double NOISE = 0.5, EVENT = 2.0;

    private SyntheticDataset() {
    }

    /** The default sizes: 2000 / 400 / 400 samples. */
    public static Dataset create(long seed) {
        return create(seed, 2000, 400, 400);
    }

    public static Dataset create(long seed, int train, int valid, int test) {
        if (train < 1 || valid < 1 || test < 1)
            throw new IllegalArgumentException("dataset sizes must be >= 1, got " + train + "/" + valid + "/" + test);
        SplittableRandom root = new SplittableRandom(seed);
        double[][] patterns = new double[MODALITIES.length * 2][];
        for (int m = 0; m < MODALITIES.length; m++) {
            patterns[2 * m] = unit(root, FEATURES[m]);      // the event pattern
            patterns[2 * m + 1] = unit(root, FEATURES[m]);  // the distractor pattern
        }
        return new Dataset("synthetic", MODALITIES.clone(), split("train", train, root.split(), patterns),
                split("valid", valid, root.split(), patterns), split("test", test, root.split(), patterns), 2, 3);
    }

    private static double[] unit(SplittableRandom r, int n) {
        double[] p = new double[n];
        double s = 0;
        for (int i = 0; i < n; i++) s += (p[i] = gaussian(r)) * p[i];
        for (int i = 0; i < n; i++) p[i] /= Math.sqrt(s);
        return p;
    }

    private static double gaussian(SplittableRandom r) {
        // Box-Muller; SplittableRandom has no nextGaussian on Java 17
        double u = 1 - r.nextDouble(), v = r.nextDouble();
        return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    }

    private static Split split(String name, int n, SplittableRandom r, double[][] patterns) {
        int mCount = MODALITIES.length;
        float[][] features = new float[mCount][];
        int[][] lengths = new int[mCount][n];
        for (int m = 0; m < mCount; m++) features[m] = new float[n * LENGTHS[m] * FEATURES[m]];
        float[] labels = new float[n];
        int[] classes = new int[n];
        for (int s = 0; s < n; s++) {
            for (int m = 0; m < mCount; m++) lengths[m][s] = (int) Math.ceil(LENGTHS[m] * (0.6 + 0.4 * r.nextDouble()));
            double a = r.nextBoolean() ? 1 : -1;
            boolean follows = r.nextBoolean();
            double u0 = 0.1 + 0.5 * r.nextDouble();
            double u1 = follows ? u0 + 0.04 + 0.16 * r.nextDouble()
                    : (r.nextBoolean() && u0 > 0.2 ? u0 - 0.08 - 0.12 * r.nextDouble() : Math.min(0.97, u0 + 0.3 + 0.4 * r.nextDouble()));
            double v = 2 * r.nextDouble() - 1;
            for (int m = 0; m < mCount; m++) {
                int len = lengths[m][s], f = FEATURES[m], base = s * LENGTHS[m] * f;
                for (int t = 0; t < len; t++)
                    for (int j = 0; j < f; j++) features[m][base + t * f + j] = (float) (NOISE * gaussian(r));
                if (m == 2) {
                    for (int t = 0; t < len; t++)
                        for (int j = 0; j < f; j++) features[m][base + t * f + j] += (float) (EVENT * v * patterns[4][j]);
                    continue;
                }
                double when = m == 0 ? u0 : u1, sign = m == 0 ? a : 1;
                addEvent(features[m], base, f, len, when, sign * EVENT, patterns[2 * m]);
                addEvent(features[m], base, f, len, r.nextDouble() * 0.95, EVENT, patterns[2 * m + 1]);
            }
            double y = 2 * a * (follows ? 1 : -1) + 0.5 * v + 0.1 * gaussian(r);
            labels[s] = (float) Math.max(-3, Math.min(3, y));
            classes[s] = labels[s] > 0 ? 1 : 0;
        }
        return new Split(name, FEATURES.clone(), LENGTHS.clone(), features, lengths, labels, classes);
    }

    /** Adds amplitude * pattern at the step of normalised time u and the step after it. */
    private static void addEvent(float[] x, int base, int f, int len, double u, double amplitude, double[] pattern) {
        int t0 = Math.min(len - 1, (int) Math.floor(u * len));
        for (int t = t0; t < Math.min(len, t0 + 2); t++)
            for (int j = 0; j < f; j++) x[base + t * f + j] += (float) (amplitude * pattern[j]);
    }
}
