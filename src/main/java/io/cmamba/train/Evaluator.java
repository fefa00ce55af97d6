package io.cmamba.train;

import io.cmamba.data.Batch;
import io.cmamba.data.Split;
import io.cmamba.model.FusionModel;
import io.cmamba.model.ModelConfig;
import io.cmamba.model.ModelInput;
import io.cmamba.tensor.DType;

import java.util.LinkedHashMap;
import java.util.Map;

/** Runs a model over a split and scores its predictions. */
public final class Evaluator {
    private Evaluator() {
    }

    /**
     * Predictions and scores on one split.
     *
     * @param predictions regression: output[:, 0]; classification: the arg-max class
     * @param scores      "loss" (the training loss, L1 or cross entropy, over the split) and the task's metrics
     */
    public record Result(String split, int samples, double loss, double[] predictions, Map<String, Double> scores) {
    }

    public static Result evaluate(FusionModel model, Split split, double labelRange, int batchSize) {
        return evaluate(model, split, labelRange, batchSize, 0, 0);
    }

    /**
     * @param labelRange  3 for labels in [-3, 3], 1 for [-1, 1] (which regression metrics apply)
     * @param missingRate probability of removing each modality of each sample (robustness to missing
     *                    modalities), drawn from {@code seed}; 0 leaves the data whole
     */
    public static Result evaluate(FusionModel model, Split split, double labelRange, int batchSize, double missingRate,
                                  long seed) {
        if (batchSize < 1) throw new IllegalArgumentException("batch size must be >= 1, got " + batchSize);
        ModelConfig c = model.config();
        boolean regression = c.task() == ModelConfig.Task.REGRESSION;
        Scores.checkLabels(c, split);
        int n = split.size(), k = c.outputs();
        DType dtype = model.parameters().get(0).value().dtype();
        double[] predictions = new double[n];
        double lossSum = 0;
        for (int start = 0; start < n; start += batchSize) {
            int size = Math.min(batchSize, n - start);
            int[] idx = new int[size];
            for (int i = 0; i < size; i++) idx[i] = start + i;
            Batch batch = split.batch(idx);
            if (missingRate > 0) batch = Augment.dropModalities(batch, missingRate, Batches.random(seed, 0, start));
            ModelInput in = Batches.upload(model.backend(), dtype, batch);
            double[] out;
            try (FusionModel.Forward f = model.forward(in)) {
                out = f.output().toDoubles();
            } finally {
                Batches.close(in);
            }
            for (int i = 0; i < size; i++) {
                if (regression) {
                    double p = out[i * k];
                    predictions[start + i] = p;
                    lossSum += Math.abs(p - batch.regression()[i]);
                } else {
                    double max = Double.NEGATIVE_INFINITY;
                    int arg = 0;
                    for (int j = 0; j < k; j++)
                        if (out[i * k + j] > max) {
                            max = out[i * k + j];
                            arg = j;
                        }
                    double sum = 0;
                    for (int j = 0; j < k; j++) sum += Math.exp(out[i * k + j] - max);
                    lossSum += max + Math.log(sum) - out[i * k + batch.classes()[i]];
                    predictions[start + i] = arg;
                }
            }
        }
        Map<String, Double> scores = new LinkedHashMap<>();
        scores.put("loss", lossSum / n);
        scores.putAll(Scores.compute(c, labelRange, split, predictions));
        return new Result(split.name(), n, lossSum / n, predictions, scores);
    }
}
