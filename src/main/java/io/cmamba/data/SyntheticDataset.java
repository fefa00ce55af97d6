package io.cmamba.data;

import java.util.SplittableRandom;

/**
 * The built-in multimodal dataset, the project's default: three modalities ("text" F 24 L 20,
 * "audio" F 12 L 32, "vision" F 8 L 24) with variable true lengths, whose label needs an interaction
 * between modalities ACROSS TIME.
 *
 * <h2>Generative process</h2>
 * Fixed for a seed: per modality an event pattern and a distractor pattern, unit vectors in R^F_m, the
 * distractor orthogonal to the event. Per sample, with times u in [0, 1) normalised by each modality's
 * own true length (step t of a modality of true length len sits at u = t / len, so after the model's
 * length-aware pooling to a common length the modalities line up):
 * <ol>
 *   <li>true lengths len_m = ceil(L_m * U(0.6, 1)), independently per modality; features past len_m are 0;</li>
 *   <li>text: a polarity that switches once, at tau ~ U(0.3, 0.7): +-{@value #POLARITY} * s1 * P_text
 *       at every valid step before tau and the opposite sign after it, s1 = +-1 with equal odds;</li>
 *   <li>audio: one response event (two steps) at u_r ~ U(0.1, 0.9), redrawn while it lies within
 *       {@value #SWITCH_GAP} of the switch; its amplitude (0.75 + g) * P_audio carries the strength
 *       g ~ U(0.25, 2.75);</li>
 *   <li>vision: a steady level v ~ U(-0.5, 0.5), {@value #EVENT} * v * P_vision at every valid step;</li>
 *   <li>every modality also gets one distractor event ({@value #EVENT} * its distractor pattern, two
 *       steps, at a uniform time) and i.i.d. Gaussian noise of sd {@value #NOISE} at every valid step.</li>
 * </ol>
 * Regression label y = clip(p * g + v + N(0, 0.1^2), -3, 3), where p is the text's polarity at the
 * time of the audio response. Class labels, by the sentiment benchmarks' conventions on y: 2 classes
 * (y >= 0, the "has-0" split), 3 classes (sign of rint(y): negative, neutral, positive) or 7 classes
 * (rint(y) + 3), with rint rounding half to even as the metrics do.
 *
 * <h2>Why it needs coupling over time</h2>
 * The sign of y is the text's polarity WHEN the audio response comes. Text alone knows both polarities
 * and the switch time but not on which side of it the response falls: its best guess (the first
 * polarity when the switch is late, the second when it is early) is right about 66% of the time.
 * Audio alone knows when the response came and how strong it is but not s1: chance.
 * Vision gives only the small offset v. Pooling each modality over time keeps what happened but not
 * when, so late fusion of pooled summaries has to encode times as values to compare them. A model
 * whose chains share state over time has the current polarity in its state when the audio response
 * arrives and can read the sign there.
 *
 * <p>Text's partial knowledge matters for learning: it gives the model a first foothold (about 0.62
 * Acc-2 after an epoch or two) from which it finds the cross-modal rule; with the response placed on
 * either side of the switch with equal odds (text alone at chance) the default model did not leave
 * chance within its budget. The default sizes are large enough that the default model cannot memorise
 * the training split before it finds the rule (with 2000 samples it memorises; bench/NOTES-train.md).
 *
 * <p>Deterministic from the seed: the patterns come first from it, then the three splits from
 * independent streams split off it, so a split's samples do not depend on the other splits' sizes.
 */
public final class SyntheticDataset {
    public static final String[] MODALITIES = {"text", "audio", "vision"};
    public static final int[] FEATURES = {24, 12, 8};
    public static final int[] LENGTHS = {20, 32, 24};
    /** Default split sizes: training the default model on them takes a few minutes on two CPU cores. */
    public static final int TRAIN = 8000, VALID = 1600, TEST = 1600;
    static final double NOISE = 0.5, EVENT = 2.0, POLARITY = 1.0;
    /** The switch lies in [SWITCH_MIN, SWITCH_MAX]; the response in [RESPONSE_MIN, RESPONSE_MAX], SWITCH_GAP off it. */
    static final double SWITCH_MIN = 0.3, SWITCH_MAX = 0.7, SWITCH_GAP = 0.08, RESPONSE_MIN = 0.1, RESPONSE_MAX = 0.9;
    static final int TEXT = 0, AUDIO = 1, VISION = 2;

    private SyntheticDataset() {
    }

    /** The default sizes (8000 / 1600 / 1600 samples), binary class labels. */
    public static Dataset create(long seed) {
        return create(seed, TRAIN, VALID, TEST);
    }

    /** Binary class labels (y >= 0). */
    public static Dataset create(long seed, int train, int valid, int test) {
        return create(seed, train, valid, test, 2);
    }

    /**
     * @param classes 2, 3 or 7: how the class labels are derived from the regression label (see the
     *                class comment); the regression labels are the same for every choice
     */
    public static Dataset create(long seed, int train, int valid, int test, int classes) {
        if (train < 1 || valid < 1 || test < 1)
            throw new IllegalArgumentException("dataset sizes must be >= 1, got " + train + "/" + valid + "/" + test);
        if (classes != 2 && classes != 3 && classes != 7)
            throw new IllegalArgumentException("classes must be 2, 3 or 7, got " + classes);
        SplittableRandom root = new SplittableRandom(seed);
        double[][] patterns = patterns(root);
        return new Dataset("synthetic", MODALITIES.clone(), split("train", train, root.split(), patterns, classes),
                split("valid", valid, root.split(), patterns, classes),
                split("test", test, root.split(), patterns, classes), classes, 3);
    }

    /**
     * The seed's patterns: index 2m is modality m's event pattern, 2m + 1 its distractor pattern
     * (unit vectors, the distractor orthogonal to the event). Tests use them as matched filters.
     */
    static double[][] patterns(long seed) {
        return patterns(new SplittableRandom(seed));
    }

    private static double[][] patterns(SplittableRandom root) {
        double[][] p = new double[MODALITIES.length * 2][];
        for (int m = 0; m < MODALITIES.length; m++) {
            double[] event = unit(root, FEATURES[m]), distractor = unit(root, FEATURES[m]);
            double dot = 0;
            for (int j = 0; j < event.length; j++) dot += event[j] * distractor[j];
            for (int j = 0; j < event.length; j++) distractor[j] -= dot * event[j];
            normalise(distractor);
            p[2 * m] = event;
            p[2 * m + 1] = distractor;
        }
        return p;
    }

    private static double[] unit(SplittableRandom r, int n) {
        double[] p = new double[n];
        for (int i = 0; i < n; i++) p[i] = gaussian(r);
        normalise(p);
        return p;
    }

    private static void normalise(double[] p) {
        double s = 0;
        for (double v : p) s += v * v;
        s = Math.sqrt(s);
        for (int i = 0; i < p.length; i++) p[i] /= s;
    }

    private static double gaussian(SplittableRandom r) {
        // Box-Muller; SplittableRandom has no nextGaussian on Java 17
        double u = 1 - r.nextDouble(), v = r.nextDouble();
        return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    }

    private static double uniform(SplittableRandom r, double lo, double hi) {
        return lo + (hi - lo) * r.nextDouble();
    }

    /** The class of regression label y for 2, 3 or 7 classes (see the class comment). */
    static int classOf(double y, int classes) {
        double k = Math.rint(Math.max(-3, Math.min(3, y)));
        return switch (classes) {
            case 2 -> y >= 0 ? 1 : 0;
            case 3 -> k < 0 ? 0 : k == 0 ? 1 : 2;
            case 7 -> (int) k + 3;
            default -> throw new IllegalArgumentException("classes must be 2, 3 or 7, got " + classes);
        };
    }

    private static Split split(String name, int n, SplittableRandom r, double[][] patterns, int classes) {
        int mCount = MODALITIES.length;
        float[][] features = new float[mCount][];
        int[][] lengths = new int[mCount][n];
        for (int m = 0; m < mCount; m++) features[m] = new float[n * LENGTHS[m] * FEATURES[m]];
        float[] labels = new float[n];
        int[] classLabels = new int[n];
        for (int s = 0; s < n; s++) {
            for (int m = 0; m < mCount; m++) lengths[m][s] = (int) Math.ceil(LENGTHS[m] * uniform(r, 0.6, 1.0));
            double tau = uniform(r, SWITCH_MIN, SWITCH_MAX), s1 = r.nextBoolean() ? 1 : -1;
            double response;
            do response = uniform(r, RESPONSE_MIN, RESPONSE_MAX); while (Math.abs(response - tau) < SWITCH_GAP);
            double polarity = response < tau ? s1 : -s1;
            double strength = uniform(r, 0.25, 2.75), level = uniform(r, -0.5, 0.5);

            for (int m = 0; m < mCount; m++) {
                int len = lengths[m][s], f = FEATURES[m], base = s * LENGTHS[m] * f;
                for (int t = 0; t < len; t++)
                    for (int j = 0; j < f; j++) features[m][base + t * f + j] = (float) (NOISE * gaussian(r));
                addEvent(features[m], base, f, len, r.nextDouble(), EVENT, patterns[2 * m + 1]);
            }
            float[] text = features[TEXT], audio = features[AUDIO], vision = features[VISION];
            int tb = s * LENGTHS[TEXT] * FEATURES[TEXT], ab = s * LENGTHS[AUDIO] * FEATURES[AUDIO];
            int vb = s * LENGTHS[VISION] * FEATURES[VISION];
            for (int t = 0, len = lengths[TEXT][s]; t < len; t++) {
                double p = (double) t / len < tau ? s1 : -s1;
                for (int j = 0; j < FEATURES[TEXT]; j++)
                    text[tb + t * FEATURES[TEXT] + j] += (float) (POLARITY * p * patterns[2 * TEXT][j]);
            }
            addEvent(audio, ab, FEATURES[AUDIO], lengths[AUDIO][s], response, 0.75 + strength, patterns[2 * AUDIO]);
            for (int t = 0; t < lengths[VISION][s]; t++)
                for (int j = 0; j < FEATURES[VISION]; j++)
                    vision[vb + t * FEATURES[VISION] + j] += (float) (EVENT * level * patterns[2 * VISION][j]);

            double y = polarity * strength + level + 0.1 * gaussian(r);
            labels[s] = (float) Math.max(-3, Math.min(3, y));
            classLabels[s] = classOf(labels[s], classes);
        }
        return new Split(name, FEATURES.clone(), LENGTHS.clone(), features, lengths, labels, classLabels);
    }

    /** Adds amplitude * pattern at the step of normalised time u and the step after it. */
    private static void addEvent(float[] x, int base, int f, int len, double u, double amplitude, double[] pattern) {
        int t0 = Math.min(len - 1, (int) Math.floor(u * len));
        for (int t = t0; t < Math.min(len, t0 + 2); t++)
            for (int j = 0; j < f; j++) x[base + t * f + j] += (float) (amplitude * pattern[j]);
    }
}
