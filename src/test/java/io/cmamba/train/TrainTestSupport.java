package io.cmamba.train;

import io.cmamba.data.Dataset;
import io.cmamba.data.Split;
import io.cmamba.model.ModelConfig;

import java.util.SplittableRandom;

/** A tiny dataset and model for training tests: seconds, not minutes, on two cores. */
final class TrainTestSupport {
    private TrainTestSupport() {
    }

    static final int[] FEATURES = {3, 2}, LENGTHS = {5, 4};

    /** Two modalities; the label is 2 * (mean of modality 0's first feature) - (mean of modality 1's first feature). */
    static Dataset dataset(long seed, int train, int valid, int test) {
        SplittableRandom r = new SplittableRandom(seed);
        return new Dataset("tiny", new String[]{"a", "b"}, split("train", train, r.split()), split("valid", valid, r.split()),
                split("test", test, r.split()), 2, 3);
    }

    private static Split split(String name, int n, SplittableRandom r) {
        float[][] f = new float[2][];
        int[][] len = new int[2][n];
        float[] y = new float[n];
        int[] c = new int[n];
        for (int m = 0; m < 2; m++) f[m] = new float[n * LENGTHS[m] * FEATURES[m]];
        for (int s = 0; s < n; s++) {
            double[] mean = new double[2];
            for (int m = 0; m < 2; m++) {
                len[m][s] = 1 + r.nextInt(LENGTHS[m]);
                for (int t = 0; t < len[m][s]; t++)
                    for (int j = 0; j < FEATURES[m]; j++) {
                        float v = (float) (2 * r.nextDouble() - 1);
                        f[m][(s * LENGTHS[m] + t) * FEATURES[m] + j] = v;
                        if (j == 0) mean[m] += v / len[m][s];
                    }
            }
            y[s] = (float) Math.max(-3, Math.min(3, 2 * mean[0] - mean[1]));
            c[s] = y[s] > 0 ? 1 : 0;
        }
        return new Split(name, FEATURES.clone(), LENGTHS.clone(), f, len, y, c);
    }

    static ModelConfig config(ModelConfig.Task task) {
        return new ModelConfig(FEATURES.clone(), LENGTHS.clone(), 4, 8, 2, 4, 0, 2, 1, ModelConfig.Mode.SELECTIVE,
                ModelConfig.Fusion.COUPLED, ModelConfig.Architecture.COUPLED_MAMBA, 2, ModelConfig.Norm.LAYER, task,
                task == ModelConfig.Task.CLASSIFICATION ? 2 : 0, 8);
    }

    static TrainOptions options(int epochs, LrSchedule.Kind schedule) {
        return new TrainOptions(epochs, 8, 3e-3, 5e-4, Adam.Kind.ADAM, schedule, 3, 1.0, 11, 0, "mae", 0, "builtin",
                48, 1, 2, null);
    }
}
