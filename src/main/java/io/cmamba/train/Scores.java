package io.cmamba.train;

import io.cmamba.data.Split;
import io.cmamba.model.ModelConfig;

import java.util.List;
import java.util.Map;

/** Names and directions of the validation scores, and the labels each task needs. */
public final class Scores {
    private Scores() {
    }

    /** Scores a split's predictions get besides "loss" (regression: the sentiment metrics; classification: accuracy, F1). */
    static Map<String, Double> compute(ModelConfig c, Split split, double[] predictions) {
        return Map.of();
    }

    /** Whether a larger value is better (loss and MAE are errors; every other score is an accuracy or a correlation). */
    public static boolean higherIsBetter(String metric) {
        return !(metric.equals("loss") || metric.equals("mae"));
    }

    /** The names a metric may take for a task. */
    public static List<String> names(ModelConfig.Task task) {
        return List.of("loss");
    }

    /** The split has the labels the config's task needs, in range. */
    static void checkLabels(ModelConfig c, Split split) {
        if (c.task() == ModelConfig.Task.REGRESSION) {
            if (split.regression() == null)
                throw new IllegalArgumentException("split " + split.name() + " has no regression labels; use --task classification");
            return;
        }
        int[] y = split.classes();
        if (y == null)
            throw new IllegalArgumentException("split " + split.name() + " has no class labels; use --task regression");
        for (int i = 0; i < y.length; i++)
            if (y[i] < 0 || y[i] >= c.classes())
                throw new IllegalArgumentException("split " + split.name() + ": sample " + i + " has class " + y[i]
                        + ", outside [0, " + c.classes() + ")");
    }
}
