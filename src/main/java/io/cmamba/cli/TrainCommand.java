package io.cmamba.cli;

import io.cmamba.data.Dataset;
import io.cmamba.model.FusionModel;
import io.cmamba.model.ModelConfig;
import io.cmamba.model.Models;
import io.cmamba.tensor.Backends;
import io.cmamba.train.Adam;
import io.cmamba.train.Checkpoint;
import io.cmamba.train.DataSources;
import io.cmamba.train.LrSchedule;
import io.cmamba.train.Progress;
import io.cmamba.train.Scores;
import io.cmamba.train.TrainOptions;
import io.cmamba.train.Trainer;
import io.cmamba.train.TrainerState;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.Callable;

/** {@code cmamba train}: trains a model and writes checkpoints, metrics.json and loss.png. */
@Command(mixinStandardHelpOptions = true, name = "train", sortOptions = false, showDefaultValues = true,
        description = {"Trains a fusion model, keeping the best epoch by a validation score, and tests it.",
                "Writes to --out: last.safetensors (to --resume from), best.safetensors, metrics.json, loss.png."})
final class TrainCommand implements Callable<Integer> {
    @ParentCommand
    Main main;
    @Spec
    CommandSpec spec;

    // ------------------------------------------------------------------ data and device
    @Option(names = "--data", paramLabel = "builtin|DIR", description = "The built-in dataset or a feature directory.")
    String data = DataSources.BUILTIN;
    @Option(names = "--dataset-size", paramLabel = "N", description = "Training samples of the built-in dataset (validation and test get N/5 each).")
    int datasetSize = 2000;
    @Option(names = "--data-seed", paramLabel = "N", description = "Seed of the built-in dataset.")
    long dataSeed = 7;
    @Option(names = "--classes", paramLabel = "2|3|7", description = "Class labels of the built-in dataset (--task classification): 2, 3 or 7 bins of its score.")
    int classes = 2;
    @Option(names = "--modalities", paramLabel = "I,J,..", split = ",", description = "Modalities the model sees, by index (unimodal runs, ablations); default all.")
    int[] modalities;
    @Option(names = "--device", paramLabel = "auto|cpu|cuda[:N]", description = "Where to train.")
    String device = "auto";
    @Option(names = "--out", paramLabel = "DIR", description = "Output directory (default runs/train-DATE-TIME; with --resume, the checkpoint's directory).")
    Path out;

    // ------------------------------------------------------------------ optimisation
    @Option(names = "--epochs", paramLabel = "N")
    int epochs = 12;
    @Option(names = "--batch-size", paramLabel = "N")
    int batchSize = 32;
    @Option(names = "--lr", paramLabel = "X", description = "Peak learning rate.")
    double lr = 2e-3;
    @Option(names = "--weight-decay", paramLabel = "X", description = "L2 decay (adam, the paper's) or decoupled decay (adamw).")
    double weightDecay = 5e-4;
    @Option(names = "--optimizer", paramLabel = "adam|adamw")
    String optimizer = "adam";
    @Option(names = "--schedule", paramLabel = "cosine|constant", description = "Learning rate after the warm-up.")
    String schedule = "cosine";
    @Option(names = "--warmup", paramLabel = "N", description = "Warm-up updates (linear).")
    long warmup = 50;
    @Option(names = "--clip", paramLabel = "X", description = "Maximum global gradient norm; 0 turns clipping off.")
    double clip = 1.0;
    @Option(names = "--seed", paramLabel = "N", description = "Initialisation, shuffling and modality dropout.")
    long seed = 1;
    @Option(names = "--patience", paramLabel = "N", description = "Epochs without improvement before stopping; 0 never stops early.")
    int patience = 4;
    @Option(names = "--metric", paramLabel = "NAME", description = "Validation score that picks the best epoch (default: mae for regression, acc for classification).")
    String metric;
    @Option(names = "--modality-dropout", paramLabel = "P", description = "Probability of removing each modality of a training sample.")
    double modalityDropout = 0;
    @Option(names = "--resume", paramLabel = "FILE", description = "Continue from a last.safetensors (only --epochs, --patience, --out, --device and --stop-after may be given with it).")
    Path resume;
    @Option(names = "--stop-after", paramLabel = "N", description = "Pause after N epochs of this run (resume later); 0: run to the end.")
    int stopAfter = 0;

    // ------------------------------------------------------------------ model
    @Option(names = "--arch", paramLabel = "coupled-mamba|cross-attention")
    String arch = "coupled-mamba";
    @Option(names = "--fusion", paramLabel = "coupled|independent|average|concat", description = "Coupled chains or one of the paper's Table 11 ablations.")
    String fusion = "coupled";
    @Option(names = "--mode", paramLabel = "selective|lti", description = "Selective scan or time-invariant global convolution.")
    String mode = "selective";
    @Option(names = "--d-model", paramLabel = "N")
    int dModel = 32;
    @Option(names = "--d-state", paramLabel = "N")
    int dState = 16;
    @Option(names = "--expand", paramLabel = "N")
    int expand = 2;
    @Option(names = "--layers", paramLabel = "N")
    int layers = 2;
    @Option(names = "--length", paramLabel = "L", description = "Common length the modalities are pooled to.")
    int length = 16;
    @Option(names = "--heads", paramLabel = "N", description = "Attention heads (cross-attention).")
    int heads = 4;
    @Option(names = "--norm", paramLabel = "layer|rms")
    String norm = "layer";
    @Option(names = "--task", paramLabel = "regression|classification")
    String task = "regression";

    /** Options a resumed run may change: they do not alter what is computed, only how long and where. */
    private static final Set<String> RESUMABLE = Set.of("--epochs", "--patience", "--out", "--device", "--stop-after",
            "--resume", "--verbose");

    @Override
    public Integer call() throws Exception {
        if (stopAfter < 0) throw new Main.UsageException("--stop-after must be >= 0, got " + stopAfter);
        Checkpoint ck = null;
        TrainOptions options;
        ModelConfig config;
        if (resume != null) {
            for (OptionSpec o : spec.commandLine().getParseResult().matchedOptions())
                if (!RESUMABLE.contains(o.longestName()))
                    throw new Main.UsageException(o.longestName() + " cannot be given with --resume: the checkpoint fixes it");
            ck = Checkpoint.read(resume);
            options = ck.options();
            if (given("--epochs")) options = options.withEpochs(epochs);
            if (given("--patience")) options = options.withPatience(patience);
            config = ck.config();
            if (out == null) out = resume.toAbsolutePath().getParent();
        } else {
            options = new TrainOptions(epochs, batchSize, lr, weightDecay, Choices.optimizer(optimizer),
                    Choices.schedule(schedule), warmup, clip, seed, patience,
                    metric == null ? Scores.defaultMetric(Choices.task(task)) : metric,
                    modalityDropout, data, datasetSize, dataSeed, classes, modalities);
            config = null;
        }
        Dataset dataset = DataSources.open(options);
        if (config == null) config = modelConfig(dataset);
        if (!Scores.names(config.task(), dataset.labelRange()).contains(options.metric()))
            throw new Main.UsageException("unknown validation metric '" + options.metric() + "' for " + config.task().name().toLowerCase(Locale.ROOT)
                    + "; expected one of " + String.join(", ", Scores.names(config.task(), dataset.labelRange())));
        if (out == null) out = Path.of("runs", "train-" + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
        Backends.Choice choice = Main.openBackend(device);
        Progress progress = new Progress(main.err, Terminal.stderrIsTerminal(), 10, System::nanoTime);
        progress.message("device: " + choice.backend().name() + " (" + choice.reason() + ")");
        progress.message("data: " + dataset.name() + " " + String.join("+", dataset.modalityNames()) + ", "
                + dataset.train().size() + "/" + dataset.valid().size() + "/" + dataset.test().size() + " samples");
        progress.message("model: " + config);
        try (FusionModel model = Models.create(config, choice.backend(), options.seed());
             Trainer trainer = new Trainer(model, dataset, options, out, progress)) {
            long count = model.parameters().stream().mapToLong(p -> p.value().size()).sum();
            progress.message(String.format(Locale.ROOT, "%,d parameters; %s; %d updates per epoch; output %s", count,
                    options, trainer.stepsPerEpoch(), out));
            if (ck != null) {
                trainer.resume(ck);
                progress.message("resumed after epoch " + trainer.state().epoch + " (update " + trainer.state().step + ")");
            }
            TrainerState s = trainer.fit(stopAfter);
            if (s.stopped == null) {
                main.out.println("paused after epoch " + s.epoch + " of " + options.epochs() + "; continue with: cmamba train --resume "
                        + out.resolve(Trainer.LAST));
            } else {
                main.out.println(s.stopped + "; best epoch " + s.bestEpoch + " (valid " + options.metric() + " "
                        + String.format(Locale.ROOT, "%.4f", s.bestValue) + "), " + String.format(Locale.ROOT, "%.1f", s.seconds) + " s training");
                main.out.println("test: " + format(trainer.test().scores()));
            }
            main.out.println("wrote " + out.resolve(Trainer.LAST) + ", " + Trainer.BEST + ", " + Trainer.METRICS + ", " + Trainer.CHART);
        } finally {
            choice.backend().close();
        }
        return Main.OK;
    }

    private boolean given(String name) {
        return spec.commandLine().getParseResult().hasMatchedOption(name);
    }

    private ModelConfig modelConfig(Dataset d) {
        ModelConfig.Task t = Choices.task(task);
        int classes = 0;
        if (t == ModelConfig.Task.CLASSIFICATION) {
            classes = d.classes();
            if (classes < 2) throw new Main.UsageException("--task classification: dataset " + d.name() + " has no class labels");
        }
        return new ModelConfig(d.train().featureSizes(), d.train().maxLengths(), length, dModel, expand, dState, 0, 4,
                layers, Choices.mode(mode), Choices.fusion(fusion), Choices.architecture(arch), heads, Choices.norm(norm), t,
                classes, 64);
    }

    static String format(java.util.Map<String, Double> scores) {
        StringBuilder b = new StringBuilder();
        scores.forEach((k, v) -> b.append(b.length() == 0 ? "" : "  ").append(k).append(' ')
                .append(v == null || !Double.isFinite(v) ? "nan" : String.format(Locale.ROOT, "%.4f", v)));
        return b.toString();
    }
}
