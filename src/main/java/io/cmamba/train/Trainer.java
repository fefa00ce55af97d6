package io.cmamba.train;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.cmamba.data.Batch;
import io.cmamba.data.Dataset;
import io.cmamba.data.MissingModality;
import io.cmamba.data.Split;
import io.cmamba.dist.Collective;
import io.cmamba.dist.DistributedSampler;
import io.cmamba.dist.GradientBuckets;
import io.cmamba.files.AtomicFiles;
import io.cmamba.model.FusionModel;
import io.cmamba.model.ModelConfig;
import io.cmamba.model.ModelInput;
import io.cmamba.nn.Parameter;
import io.cmamba.tensor.Backend;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Trains a model: shuffled epochs over the training split, one optimizer update per batch (loss,
 * backward, global-norm clipping, Adam at the scheduled rate), validation after each epoch, early
 * stopping on a validation score, and a final test of the best epoch's weights.
 *
 * <p>With an output directory it keeps there, after every epoch: {@value #LAST} (everything needed to
 * resume), {@value #BEST} (the best weights so far), {@value #METRICS} and {@value #CHART}.
 * A non-finite loss or gradient stops the run before the update, leaving {@value #LAST} as it was.
 */
public final class Trainer implements AutoCloseable {
    public static final String LAST = "last.safetensors", BEST = "best.safetensors", METRICS = "metrics.json",
            CHART = "loss.png";

    private final FusionModel model;
    private final Dataset data;
    private final TrainOptions options;
    private final Path out;
    private final Progress progress;
    private final Backend backend;
    private final DType dtype;
    private final Adam adam;
    private final LrSchedule schedule;
    private final StepReadout readout;
    private final int stepsPerEpoch;
    private final boolean regression;
    private TrainerState state = new TrainerState();
    /** Data-parallel training: this rank's shard of each batch, and the gradient exchange (null: one process). */
    private DistributedSampler sampler;
    private GradientBuckets buckets;
    /** The best epoch's weights on the host, for the final test without re-reading a file. */
    private double[][] bestWeights;
    private Evaluator.Result test;

    /**
     * @param data     the dataset as the model sees it (modalities already selected)
     * @param out      directory for checkpoints and reports, or null for none
     */
    public Trainer(FusionModel model, Dataset data, TrainOptions options, Path out, Progress progress) {
        this.model = model;
        this.data = data;
        this.options = options;
        this.out = out;
        this.progress = progress;
        ModelConfig c = model.config();
        this.regression = c.task() == ModelConfig.Task.REGRESSION;
        if (data.modalities() != c.modalities())
            throw new IllegalArgumentException("the model has " + c.modalities() + " modalities, the data " + data.modalities());
        for (Split s : new Split[]{data.train(), data.valid(), data.test()}) Scores.checkLabels(c, s);
        if (!Scores.names(c.task(), data.labelRange()).contains(options.metric()))
            throw new IllegalArgumentException("unknown validation metric '" + options.metric() + "' for " + c.task()
                    + "; expected one of " + Scores.names(c.task(), data.labelRange()));
        this.backend = model.backend();
        this.dtype = model.parameters().get(0).value().dtype();
        this.stepsPerEpoch = (data.train().size() + options.batchSize() - 1) / options.batchSize();
        this.adam = new Adam(model.parameters(), new Adam.Settings(options.optimizer(), 0.9, 0.999, 1e-8, options.weightDecay()));
        this.schedule = new LrSchedule(options.schedule(), options.lr(), options.warmup(),
                (long) options.epochs() * stepsPerEpoch, 0);
        this.readout = new StepReadout(model.parameters());
    }

    /** Default size of a gradient bucket: -Dcmamba.dist.bucketMiB (2 MiB). */
    public static long defaultBucketBytes() {
        return (long) (Double.parseDouble(System.getProperty("cmamba.dist.bucketMiB", "2")) * (1 << 20));
    }

    /**
     * Makes this trainer one rank of a data-parallel job over {@code collective}: rank 0's parameters
     * are copied to every rank, each update trains on this rank's shard of the same global batch
     * ({@link DistributedSampler}; {@code options.batchSize()} is the global batch), and gradients are
     * summed over the ranks in buckets of about {@code bucketBytes} during the backward. Every rank
     * then takes the same update, evaluates the whole validation split (so all reach the same early-stopping
     * decision without talking), and only the rank given an output directory writes files. Call before
     * {@link #resume} and {@link #fit}.
     */
    public Trainer distributed(Collective collective, long bucketBytes) {
        if (adam.steps() != 0 || state.step != 0) throw new IllegalStateException("distributed() must come before training or resuming");
        sampler = new DistributedSampler(collective.rank(), collective.worldSize());
        buckets = new GradientBuckets(collective, model.gradientGroups(), bucketBytes);
        List<Tensor> values = new java.util.ArrayList<>();
        for (Parameter p : model.parameters()) values.add(p.value());
        collective.broadcast(values);
        return this;
    }

    /** Gradient buckets of a data-parallel trainer (null otherwise). */
    public GradientBuckets buckets() {
        return buckets;
    }

    /**
     * Times training throughput: {@code warmup} updates, then {@code steps} timed ones, over the epochs'
     * usual batches (no validation, no checkpoints). Returns samples per second over all ranks.
     */
    public double benchmark(int warmup, int steps) throws IOException {
        if (warmup < 0 || steps < 1) throw new IllegalArgumentException("benchmark needs warm-up >= 0 and steps >= 1, got " + warmup + ", " + steps);
        long start = 0, samples = 0;
        int[] order = null;
        int epoch = 0;
        for (int k = 0; k < warmup + steps; k++) {
            if (k == warmup) start = System.nanoTime();
            int e = 1 + k / stepsPerEpoch, b = k % stepsPerEpoch;
            if (e != epoch) order = Batches.shuffled(data.train().size(), options.seed(), epoch = e);
            update(order, b, e);
            if (k >= warmup) samples += batchSize(b);
            if (k == warmup + steps - 1 || (k + 1) % 10 == 0)
                progress.message(String.format(Locale.ROOT, "benchmark update %d/%d", k + 1, warmup + steps));
        }
        return samples / ((System.nanoTime() - start) * 1e-9);
    }

    public TrainerState state() {
        return state;
    }

    public Adam optimizer() {
        return adam;
    }

    public int stepsPerEpoch() {
        return stepsPerEpoch;
    }

    /** The test result of the best weights, once the run has ended (else null). */
    public Evaluator.Result test() {
        return test;
    }

    /**
     * Continues from a checkpoint written by {@link #LAST} of a run with the same model config and the
     * same options apart from epochs and patience: weights, moments, update count, epoch and early-stopping
     * state. The best weights come from {@value #BEST} beside the checkpoint.
     */
    public void resume(Checkpoint ck) throws IOException {
        TrainOptions saved = ck.options();
        if (!saved.withEpochs(options.epochs()).withPatience(options.patience()).equals(options))
            throw new IllegalArgumentException(ck.path() + ": written with " + saved + ", which differs from " + options
                    + " in more than epochs and patience");
        if (ck.state().epoch > options.epochs())
            throw new IllegalArgumentException(ck.path() + ": already trained " + ck.state().epoch + " epochs, more than the "
                    + options.epochs() + " asked for");
        ck.loadModel(model);
        ck.loadOptimizer(adam);
        TrainerState s = ck.state();
        if (s.step != adam.steps())
            throw new IllegalArgumentException(ck.path() + ": trainer state says " + s.step + " updates, the optimizer " + adam.steps());
        if (s.bestEpoch > 0) {
            Path best = ck.path().toAbsolutePath().resolveSibling(BEST);
            Checkpoint b = Checkpoint.read(best);
            if (b.state().bestEpoch != s.bestEpoch)
                throw new IllegalArgumentException(best + ": holds epoch " + b.state().bestEpoch + ", but " + ck.path()
                        + " says the best epoch is " + s.bestEpoch);
            bestWeights = b.weightsFor(model);
            // resuming into another directory: the best weights so far go along, so that it is complete
            if (out != null && !Files.isSameFile(best.getParent(), Files.createDirectories(out)))
                AtomicFiles.write(out.resolve(BEST), Files.readAllBytes(best));
        }
        // an interrupted run's "epochs done" may have been the end of a shorter schedule that is now extended
        if (s.stopped != null && s.stopped.startsWith("finished") && s.epoch < options.epochs()) s.stopped = null;
        // and an early stop is lifted by a patience that has not run out yet
        if (s.stopped != null && s.stopped.startsWith("early stop") && s.epoch < options.epochs()
                && (options.patience() == 0 || s.sinceBest < options.patience())) s.stopped = null;
        state = s;
    }

    /**
     * Trains until the last epoch, an early stop, or {@code maxEpochs} more epochs (0: no limit),
     * then, if the run has ended, tests the best weights.
     *
     * @return the state (its {@code stopped} is null if the run was only paused by maxEpochs)
     */
    public TrainerState fit(int maxEpochs) throws IOException {
        if (out != null) Files.createDirectories(out);
        int ran = 0;
        while (state.stopped == null && state.epoch < options.epochs() && (maxEpochs <= 0 || ran < maxEpochs)) {
            runEpoch(state.epoch + 1);
            ran++;
        }
        if (state.stopped == null && state.epoch >= options.epochs()) state.stopped = "finished " + options.epochs() + " epochs";
        if (state.stopped != null) {
            if (bestWeights != null) restoreBest();
            else progress.message("no validation score improved on the first; testing the last weights");
            test = Evaluator.evaluate(model, data.test(), data.labelRange(), options.batchSize());
            progress.message("test (" + (bestWeights != null ? "best epoch " + state.bestEpoch : "last epoch") + "): "
                    + format(test.scores()));
        }
        // LAST is not rewritten here: the model may now hold the best weights, not the last ones
        if (out != null) writeReports(null);
        return state;
    }

    private void runEpoch(int epoch) throws IOException {
        long start = System.nanoTime();
        Split train = data.train();
        int[] order = Batches.shuffled(train.size(), options.seed(), epoch);
        float[] stepLosses = new float[stepsPerEpoch];
        double lossSum = 0, lr = 0;
        long samples = 0;
        progress.startEpoch(epoch, options.epochs(), stepsPerEpoch);
        for (int b = 0; b < stepsPerEpoch; b++) {
            int size = batchSize(b);
            double loss = update(order, b, epoch);
            stepLosses[b] = (float) loss;
            lossSum += loss * size;
            samples += size;
            lr = schedule.at(state.step);
            progress.step(b + 1, lossSum / samples, samples);
        }
        Evaluator.Result valid;
        try {
            valid = Evaluator.evaluate(model, data.valid(), data.labelRange(), options.batchSize());
        } catch (Evaluator.NonFiniteOutputException e) {
            diverged("epoch " + epoch + ", validation: " + e.getMessage());
            return;
        }
        Double value = valid.scores().get(options.metric());
        if (value == null)
            throw new IllegalStateException("validation produced no '" + options.metric() + "' score (it has " + valid.scores().keySet() + ")");
        boolean improved = Double.isFinite(value) && (state.bestEpoch == 0
                || (Scores.higherIsBetter(options.metric()) ? value > state.bestValue : value < state.bestValue));
        state.epoch = epoch;
        if (improved) {
            state.bestValue = value;
            state.bestEpoch = epoch;
            state.sinceBest = 0;
            keepBest();
        } else {
            state.sinceBest++;
        }
        double seconds = (System.nanoTime() - start) * 1e-9;
        state.seconds += seconds;
        state.history.add(new TrainerState.EpochRecord(epoch, lossSum / samples, stepLosses, valid.scores(), lr, seconds));
        if (options.patience() > 0 && state.sinceBest >= options.patience() && epoch < options.epochs())
            state.stopped = "early stop: " + options.metric() + " did not improve for " + options.patience() + " epochs";
        progress.endEpoch(String.format(Locale.ROOT, "epoch %d/%d  train loss %.4f  valid %s%s  %.1f s", epoch,
                options.epochs(), lossSum / samples, format(Scores.headline(valid.scores(), options.metric())),
                improved ? "  (best)" : "", seconds));
        if (out != null) {
            if (improved) writeCheckpoint(out.resolve(BEST), false);
            writeCheckpoint(out.resolve(LAST), true);
            writeReports(null);
        }
    }

    /** Writes why into metrics.json and stops, naming the last good checkpoint (which is left as it was). */
    private void diverged(String where) throws IOException {
        String keep = out == null ? "" : state.epoch == 0 ? "; no checkpoint was written yet"
                : "; the last good checkpoint is " + out.resolve(LAST) + " (epoch " + state.epoch + ")";
        String msg = "training diverged at " + where + keep;
        if (out != null) writeReports(msg);
        throw new TrainingDivergedException(msg);
    }

    /** Samples in global batch b of an epoch (the last one may be smaller). */
    private int batchSize(int b) {
        return Math.min(options.batchSize(), data.train().size() - b * options.batchSize());
    }

    /**
     * One optimizer update on global batch {@code b} of the epoch's order (this rank's shard of it in a
     * data-parallel job); returns the batch's mean loss over all ranks.
     */
    private double update(int[] order, int b, int epoch) throws IOException {
        int from = b * options.batchSize(), size = batchSize(b);
        int[] idx = java.util.Arrays.copyOfRange(order, from, from + size);
        int[] rows = sampler == null ? null : sampler.rows(size);
        Batch batch = null;
        if (rows == null || rows.length > 0) {
            batch = data.train().batch(rows == null ? idx : sampler.shard(idx));
            if (options.modalityDropout() > 0)
                // keyed by the update number and the row of the whole batch, so a resumed run, and any
                // number of ranks, drop exactly what one unbroken process would
                batch = MissingModality.dropout(batch, options.modalityDropout(), options.seed(), state.step + 1, true, rows);
        }
        StepReadout.Reading r = forwardBackward(batch, size);
        long global = state.step + 1;
        if (!r.finite()) {
            String what = !Double.isFinite(r.loss()) ? "the loss is " + r.loss()
                    : "the gradient norm is " + r.gradNorm() + " (first non-finite gradient: " + r.firstNonFinite() + ")";
            diverged("epoch " + epoch + ", update " + (b + 1) + " of " + stepsPerEpoch + " (update " + global + " overall): " + what);
        }
        adam.step(schedule.at(global), StepReadout.clipScale(r.gradNorm(), options.clip()));
        state.step = global;
        return r.loss();
    }

    /**
     * Forward, loss, backward for this rank's part of a global batch of {@code globalSize} samples
     * (null: an empty shard); returns the loss and gradient norm of the whole batch (one host read).
     * In a data-parallel job each rank weights its loss and gradients by its share of the batch, and
     * the all-reduce sums them: the mean over the global batch, as one process would compute it (with
     * equal shards, the usual sum / world).
     */
    private StepReadout.Reading forwardBackward(Batch batch, int globalSize) {
        if (batch == null) {
            // a rank with no sample in a last, short batch still joins every all-reduce, with zeros
            for (Parameter p : model.parameters()) backend.fill(p.grad(), 0);
            try (Tensor loss = backend.zeros(dtype, 1)) {
                buckets.ready(model.parameters());
                buckets.finish(List.of(loss));
                return readout.read(loss);
            }
        }
        int n = batch.size();
        double share = (double) n / globalSize;
        ModelInput in = Batches.upload(backend, dtype, batch);
        try (Tensor loss = backend.empty(dtype, 1);
             Tensor target = regression ? Batches.floats(backend, dtype, batch.regression(), n) : backend.fromInts(batch.classes(), n);
             FusionModel.Forward f = model.forward(in);
             Tensor dOut = backend.empty(dtype, f.output().shape().dims())) {
            Tensor output = f.output();
            if (regression) {
                Tensor pred = output.reshape(n);
                backend.l1LossForward(loss, pred, target);
                backend.l1LossBackward(dOut.reshape(n), pred, target);
            } else {
                backend.crossEntropyForward(loss, output, target);
                backend.crossEntropyBackward(dOut, output, target);
            }
            if (buckets == null) {
                model.backward(f, dOut);
            } else {
                if (share != 1) {
                    backend.axpby(dOut, share, dOut, 0, dOut);
                    backend.axpby(loss, share, loss, 0, loss);
                }
                model.backward(f, dOut, buckets::ready);
                buckets.finish(List.of(loss));
            }
            return readout.read(loss);
        } finally {
            Batches.close(in);
        }
    }

    private void keepBest() {
        List<Parameter> ps = model.parameters();
        bestWeights = new double[ps.size()][];
        for (int i = 0; i < ps.size(); i++) bestWeights[i] = ps.get(i).value().toDoubles();
    }

    private void restoreBest() {
        List<Parameter> ps = model.parameters();
        for (int i = 0; i < ps.size(); i++) {
            Tensor v = ps.get(i).value();
            try (Tensor t = backend.fromDoubles(dtype, bestWeights[i], v.shape().dims())) {
                backend.copy(v, t);
            }
        }
    }

    private void writeCheckpoint(Path path, boolean withOptimizer) throws IOException {
        Checkpoint.write(path, model, withOptimizer ? adam : null, state, options);
    }

    /** metrics.json and loss.png; {@code failure} says why the run stopped when it diverged. */
    private void writeReports(String failure) throws IOException {
        JsonObject o = new JsonObject();
        o.add("model", JsonParser.parseString(Json.STATE.toJson(model.config())));
        o.add("options", JsonParser.parseString(Json.STATE.toJson(options)));
        o.addProperty("device", backend.name());
        long count = 0;
        for (Parameter p : model.parameters()) count += p.value().size();
        o.addProperty("parameters", count);
        o.addProperty("dataset", data.name());
        o.addProperty("train_samples", data.train().size());
        o.addProperty("updates_per_epoch", stepsPerEpoch);
        JsonArray epochs = new JsonArray();
        for (TrainerState.EpochRecord r : state.history) {
            JsonObject e = new JsonObject();
            e.addProperty("epoch", r.epoch());
            e.add("train_loss", Json.number(r.trainLoss()));
            e.add("lr", Json.number(r.lr()));
            e.add("seconds", Json.number(r.seconds()));
            e.add("valid", Json.numbers(r.valid()));
            epochs.add(e);
        }
        o.add("epochs", epochs);
        JsonObject best = new JsonObject();
        best.addProperty("metric", options.metric());
        best.addProperty("epoch", state.bestEpoch);
        best.add("value", Json.number(state.bestValue));
        o.add("best", best);
        o.add("train_seconds", Json.number(state.seconds));
        if (failure != null) o.addProperty("stopped", failure);
        else if (state.stopped != null) o.addProperty("stopped", state.stopped);
        if (test != null) o.add("test", Json.numbers(test.scores()));
        AtomicFiles.writeString(out.resolve(METRICS), Json.REPORT.toJson(o) + "\n");
        try {
            LossChart.write(out.resolve(CHART), state, options.metric());
        } catch (RuntimeException | Error e) {
            // a chart is a convenience: a broken font setup must not lose the run, so say it and go on
            progress.message("could not draw " + out.resolve(CHART) + ": " + e);
        }
    }

    static String format(Map<String, Double> scores) {
        StringBuilder b = new StringBuilder();
        scores.forEach((k, v) -> {
            if (b.length() > 0) b.append(' ');
            b.append(k).append(' ').append(v == null || !Double.isFinite(v) ? "nan" : String.format(Locale.ROOT, "%.4f", v));
        });
        return b.toString();
    }

    @Override
    public void close() {
        readout.close();
        adam.close();
    }

    /** Training stopped because the loss or a gradient became NaN or infinite. */
    public static final class TrainingDivergedException extends RuntimeException {
        public TrainingDivergedException(String message) {
            super(message);
        }
    }
}
