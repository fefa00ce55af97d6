package io.cmamba.train;

import java.util.Arrays;

/**
 * Everything about a training run besides the model's shape: optimisation, schedule, stopping,
 * augmentation and where the data came from (so that {@code cmamba eval} can rebuild it from a
 * checkpoint). Stored in every checkpoint.
 *
 * @param epochs           passes over the training split (the schedule's length)
 * @param batchSize        samples per update (the last batch of an epoch may be smaller)
 * @param lr               peak learning rate
 * @param weightDecay      L2 decay (Adam) or decoupled decay (AdamW)
 * @param optimizer        ADAM or ADAMW
 * @param schedule         CONSTANT or COSINE after the warm-up
 * @param warmup           warm-up updates
 * @param clip             maximum global gradient norm; 0 turns clipping off
 * @param seed             model initialisation, shuffling and modality dropout
 * @param patience         epochs without improvement of {@code metric} before stopping; 0 never stops early
 * @param metric           validation score that selects the best checkpoint (see {@link Scores})
 * @param modalityDropout  probability of removing each modality of a training sample
 * @param data             "builtin" or a feature directory
 * @param datasetSize      training samples of the built-in dataset (validation and test get a fifth each)
 * @param dataSeed         the built-in dataset's seed
 * @param classes          class labels of the built-in dataset: 2, 3 or 7 bins of its sentiment score
 * @param modalities       the dataset's modalities the model sees, in order (null: all)
 */
public record TrainOptions(int epochs, int batchSize, double lr, double weightDecay, Adam.Kind optimizer,
                           LrSchedule.Kind schedule, long warmup, double clip, long seed, int patience, String metric,
                           double modalityDropout, String data, int datasetSize, long dataSeed, int classes,
                           int[] modalities) {

    public TrainOptions {
        if (epochs < 1) throw new IllegalArgumentException("epochs must be >= 1, got " + epochs);
        if (batchSize < 1) throw new IllegalArgumentException("batch size must be >= 1, got " + batchSize);
        if (!(lr > 0) || Double.isInfinite(lr)) throw new IllegalArgumentException("learning rate must be > 0, got " + lr);
        if (!(weightDecay >= 0) || Double.isInfinite(weightDecay))
            throw new IllegalArgumentException("weight decay must be >= 0, got " + weightDecay);
        if (optimizer == null) throw new IllegalArgumentException("optimizer is missing");
        if (schedule == null) throw new IllegalArgumentException("schedule is missing");
        if (warmup < 0) throw new IllegalArgumentException("warm-up must be >= 0 updates, got " + warmup);
        if (!(clip >= 0) || Double.isInfinite(clip)) throw new IllegalArgumentException("clip must be >= 0 (0 = off), got " + clip);
        if (patience < 0) throw new IllegalArgumentException("patience must be >= 0 (0 = no early stopping), got " + patience);
        if (metric == null || metric.isEmpty()) throw new IllegalArgumentException("validation metric is missing");
        if (!(modalityDropout >= 0 && modalityDropout < 1))
            throw new IllegalArgumentException("modality dropout must lie in [0, 1), got " + modalityDropout);
        if (data == null || data.isEmpty()) throw new IllegalArgumentException("data source is missing");
        if (datasetSize < 1) throw new IllegalArgumentException("dataset size must be >= 1, got " + datasetSize);
        if (classes != 2 && classes != 3 && classes != 7)
            throw new IllegalArgumentException("classes must be 2, 3 or 7, got " + classes);
        if (modalities != null) {
            modalities = modalities.clone();
            if (modalities.length == 0) throw new IllegalArgumentException("modalities: expected at least one index");
            for (int i = 0; i < modalities.length; i++) {
                if (modalities[i] < 0) throw new IllegalArgumentException("modality index must be >= 0, got " + modalities[i]);
                for (int j = 0; j < i; j++)
                    if (modalities[j] == modalities[i])
                        throw new IllegalArgumentException("modality " + modalities[i] + " is listed twice");
            }
        }
    }

    /** The paper's optimisation (Adam, lr 5e-4, weight decay 5e-4) with this project's default run length. */
    public static TrainOptions defaults() {
        return new TrainOptions(20, 32, 5e-4, 5e-4, Adam.Kind.ADAM, LrSchedule.Kind.COSINE, 50, 1.0, 1, 5,
                "mae", 0, "builtin", 2000, 7, 2, null);
    }

    public TrainOptions withEpochs(int e) {
        return new TrainOptions(e, batchSize, lr, weightDecay, optimizer, schedule, warmup, clip, seed, patience, metric,
                modalityDropout, data, datasetSize, dataSeed, classes, modalities);
    }

    public TrainOptions withPatience(int p) {
        return new TrainOptions(epochs, batchSize, lr, weightDecay, optimizer, schedule, warmup, clip, seed, p, metric,
                modalityDropout, data, datasetSize, dataSeed, classes, modalities);
    }

    public TrainOptions withMetric(String m) {
        return new TrainOptions(epochs, batchSize, lr, weightDecay, optimizer, schedule, warmup, clip, seed, patience, m,
                modalityDropout, data, datasetSize, dataSeed, classes, modalities);
    }

    @Override
    public int[] modalities() {
        return modalities == null ? null : modalities.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TrainOptions t && epochs == t.epochs && batchSize == t.batchSize && lr == t.lr
                && weightDecay == t.weightDecay && optimizer == t.optimizer && schedule == t.schedule
                && warmup == t.warmup && clip == t.clip && seed == t.seed && patience == t.patience
                && metric.equals(t.metric) && modalityDropout == t.modalityDropout && data.equals(t.data)
                && datasetSize == t.datasetSize && dataSeed == t.dataSeed && classes == t.classes
                && Arrays.equals(modalities, t.modalities);
    }

    @Override
    public int hashCode() {
        return Long.hashCode(seed) * 31 + epochs * 17 + batchSize;
    }

    @Override
    public String toString() {
        return "TrainOptions[epochs " + epochs + ", batch " + batchSize + ", lr " + lr + ", wd " + weightDecay + ", "
                + optimizer + ", " + schedule + ", warm-up " + warmup + ", clip " + clip + ", seed " + seed
                + ", patience " + patience + " on " + metric + ", modality dropout " + modalityDropout + ", data "
                + data + (data.equals("builtin") ? " (" + datasetSize + ", seed " + dataSeed + ", " + classes + " classes)" : "")
                + (modalities == null ? "" : ", modalities " + Arrays.toString(modalities)) + "]";
    }
}
