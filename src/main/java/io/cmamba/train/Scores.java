package io.cmamba.train;

import io.cmamba.data.Split;
import io.cmamba.model.ModelConfig;

import java.util.List;
import java.util.Map;

/** Names and directions of the validation scores, and the labels each task needs. */
public final class Scores {
    private Scores() {
    }

    /**
     * Scores a split's predictions get besides "loss": for regression the sentiment metrics of
     * {@link Metrics} for labels in [-labelRange, labelRange] (3 or 1); for classification accuracy and F1.
     */
    static Map<String, Double> compute(ModelConfig c, double labelRange, Split split, double[] predictions) {
        if (c.task() == ModelConfig.Task.CLASSIFICATION) {
            int[] p = new int[predictions.length];
            for (int i = 0; i < p.length; i++) p[i] = (int) predictions[i];
            return Metrics.classificationResult(p, split.classes(), c.classes()).scores();
        }
        float[] p = new float[predictions.length];
        for (int i = 0; i < p.length; i++) p[i] = (float) predictions[i];
        return Metrics.regression(p, split.regression(), labelRange).scores();
    }

    /** Whether a larger value is better (loss and MAE are errors; every other score is an accuracy or a correlation). */
    public static boolean higherIsBetter(String metric) {
        return !(metric.equals("loss") || metric.equals("mae"));
    }

    /** The names a metric may take for a task (and, for regression, the label range: 3 or 1). */
    public static List<String> names(ModelConfig.Task task, double labelRange) {
        if (task == ModelConfig.Task.CLASSIFICATION) return List.of("loss", "acc", "f1");
        if (labelRange == 1) return List.of("loss", "mae", "corr", "acc2", "f1", "acc3", "acc5");
        return List.of("loss", "mae", "corr", "acc7", "acc5", "acc2_has0", "f1_has0", "acc2_non0", "f1_non0");
    }

    /** The few scores shown per epoch (all of them go to metrics.json), the selection metric first. */
    static Map<String, Double> headline(Map<String, Double> all, String metric) {
        Map<String, Double> r = new java.util.LinkedHashMap<>();
        r.put(metric, all.get(metric));
        for (String k : List.of("mae", "corr", "acc2_has0", "acc2", "acc7", "acc", "f1"))
            if (all.containsKey(k) && r.size() < 5) r.putIfAbsent(k, all.get(k));
        return r;
    }

    /** The default selection metric: MAE for regression (the papers' early-stopping choice), accuracy for classification. */
    public static String defaultMetric(ModelConfig.Task task) {
        return task == ModelConfig.Task.REGRESSION ? "mae" : "acc";
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
