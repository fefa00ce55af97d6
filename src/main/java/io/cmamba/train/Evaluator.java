package io.cmamba.train;

import io.cmamba.data.Batch;
import io.cmamba.data.MissingModality;
import io.cmamba.data.Split;
import io.cmamba.model.FusionModel;
import io.cmamba.model.ModelConfig;
import io.cmamba.model.ModelInput;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;

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

    /** The model produced NaN or infinite outputs (diverged weights), so no score means anything. */
    public static final class NonFiniteOutputException extends IllegalStateException {
        public NonFiniteOutputException(String message) {
            super(message);
        }
    }

    public static Result evaluate(FusionModel model, Split split, double labelRange, int batchSize) {
        return evaluate(model, split, labelRange, batchSize, 0, 0);
    }

    /**
     * @param labelRange  3 for labels in [-3, 3], 1 for [-1, 1] (which regression metrics apply)
     * @param missingRate probability of zeroing each modality of each sample (the paper's robustness
     *                    experiment, {@link MissingModality}), drawn from {@code seed}; 0 leaves the data whole
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
            // a function of (seed, sample, modality): the same samples lose the same modalities at any batch size
            if (missingRate > 0) batch = MissingModality.apply(batch, idx, missingRate, seed);
            ModelInput in = Batches.upload(model.backend(), dtype, batch);
            double[] out;
            try (Tensor o = model.predict(in)) {
                out = o.toDoubles();
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
        int bad = 0;
        for (double p : predictions) if (!Double.isFinite(p)) bad++;
        if (bad > 0 || !Double.isFinite(lossSum))
            throw new NonFiniteOutputException("the model's outputs on split " + split.name() + " are NaN or infinite for "
                    + Math.max(bad, 1) + " of " + n + " samples");
        Map<String, Double> scores = new LinkedHashMap<>();
        scores.put("loss", lossSum / n);
        scores.putAll(Scores.compute(c, labelRange, split, predictions));
        return new Result(split.name(), n, lossSum / n, predictions, scores);
    }
}
