package io.cmamba.cli;

import io.cmamba.data.Dataset;
import io.cmamba.data.SyntheticDataset;
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

import io.cmamba.dist.Collective;
import io.cmamba.dist.Collectives;
import io.cmamba.dist.DistEnv;
import io.cmamba.dist.Launcher;
import io.cmamba.dist.Rendezvous;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
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
    int datasetSize = SyntheticDataset.TRAIN;
    @Option(names = "--data-seed", paramLabel = "N", description = "Seed of the built-in dataset.")
    long dataSeed = 7;
    @Option(names = "--classes", paramLabel = "2|3|7", description = "Class labels of the built-in dataset (--task classification): 2, 3 or 7 bins of its score.")
    int classes = 2;
    @Option(names = "--modalities", paramLabel = "I,J,..", split = ",", description = "Modalities the model sees, by index (unimodal runs, ablations); default all.")
    int[] modalities;
    @Option(names = "--device", paramLabel = "auto|cpu|cuda[:N]", description = "Where to train.")
    String device = "auto";
    @Option(names = "--gpus", paramLabel = "N", description = {"Data-parallel training over N worker processes, one per GPU, through NCCL"
            + " (with --device cpu: N CPU workers over TCP); --batch-size is the global batch. This process starts the workers;"
            + " under an external launcher (WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT set) it is one of them."})
    int gpus = 1;
    @Option(names = "--benchmark-steps", paramLabel = "N", description = "Only time N updates (after 3 warm-up updates) and print"
            + " training samples/s; no validation, no checkpoints.")
    int benchmarkSteps = 0;
    @Option(names = "--out", paramLabel = "DIR", description = "Output directory (default runs/train-DATE-TIME; with --resume, the checkpoint's directory).")
    Path out;

    // ------------------------------------------------------------------ optimisation
    @Option(names = "--epochs", paramLabel = "N")
    int epochs = 6;
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
    int patience = 3;
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
            "--resume", "--verbose", "--gpus", "--benchmark-steps");
    /** How long a worker whose job failed waits for its main thread to stop before it halts (a hung collective). */
    private static final Duration STOP_GRACE = Duration.ofSeconds(5);

    @Override
    public Integer call() throws Exception {
        if (stopAfter < 0) throw new Main.UsageException("--stop-after must be >= 0, got " + stopAfter);
        if (gpus < 1) throw new Main.UsageException("--gpus must be >= 1, got " + gpus);
        if (benchmarkSteps < 0) throw new Main.UsageException("--benchmark-steps must be >= 0, got " + benchmarkSteps);
        DistEnv env;
        try {
            env = DistEnv.fromEnvironment();
        } catch (IllegalArgumentException e) {
            throw new Main.UsageException(e.getMessage());
        }
        if (env != null && given("--gpus") && gpus != env.worldSize())
            throw new Main.UsageException("--gpus " + gpus + " but WORLD_SIZE is " + env.worldSize());
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
        if (env == null && gpus > 1) return launch();
        if (env != null) {
            // one GPU per worker: cuda:LOCAL_RANK unless the device names one
            if (device.equals("auto") || device.equals("cuda")) device = device + ":" + env.localRank();
            watchLauncher(env);
        }
        boolean lead = env == null || env.rank() == 0;
        Backends.Choice choice = Main.openBackend(device);
        Progress progress = lead ? new Progress(main.err, Terminal.stderrIsTerminal(), 10, System::nanoTime) : Progress.silent();
        Rendezvous rv = null;
        Collective collective = null;
        try {
            progress.message("device: " + choice.backend().name() + " (" + choice.reason() + ")");
            if (env != null) {
                progress.message("data-parallel: " + env.worldSize() + " ranks, rendezvous at " + env.masterAddr() + ":"
                        + env.masterPort() + ", timeout " + env.timeout().toSeconds() + " s");
                rv = Rendezvous.join(env);
                int rank = env.rank();
                rv.onFailure(msg -> stopLater(msg, rank));
                collective = Collectives.open(rv, choice.backend());
                progress.message("collectives: " + Collectives.describe(collective));
            }
            progress.message("data: " + dataset.name() + " " + String.join("+", dataset.modalityNames()) + ", "
                    + dataset.train().size() + "/" + dataset.valid().size() + "/" + dataset.test().size() + " samples");
            progress.message("model: " + config);
            try (FusionModel model = Models.create(config, choice.backend(), options.seed());
                 Trainer trainer = new Trainer(model, dataset, options, lead ? out : null, progress)) {
                long count = model.parameters().stream().mapToLong(p -> p.value().size()).sum();
                progress.message(String.format(Locale.ROOT, "%,d parameters; %s; %d updates per epoch; output %s", count,
                        options, trainer.stepsPerEpoch(), out));
                if (collective != null) {
                    trainer.distributed(collective, Trainer.defaultBucketBytes());
                    progress.message("gradients all-reduced in " + trainer.buckets().buckets() + " buckets; global batch "
                            + options.batchSize() + " = " + env.worldSize() + " shards of about " + options.batchSize() / env.worldSize());
                }
                if (ck != null) {
                    trainer.resume(ck);
                    progress.message("resumed after epoch " + trainer.state().epoch + " (update " + trainer.state().step + ")");
                }
                if (benchmarkSteps > 0) {
                    double rate = trainer.benchmark(3, benchmarkSteps);
                    if (lead) main.out.println(String.format(Locale.ROOT, "throughput: %.1f samples/s (%d rank%s on %s, global batch %d,"
                                    + " %d timed updates)", rate, env == null ? 1 : env.worldSize(), env == null || env.worldSize() == 1 ? "" : "s",
                            choice.backend().name(), options.batchSize(), benchmarkSteps));
                    return Main.OK;
                }
                TrainerState s = trainer.fit(stopAfter);
                if (!lead) return Main.OK;
                if (s.stopped == null) {
                    main.out.println("paused after epoch " + s.epoch + " of " + options.epochs() + "; continue with: cmamba train --resume "
                            + out.resolve(Trainer.LAST));
                } else {
                    main.out.println(s.stopped + "; best epoch " + s.bestEpoch + " (valid " + options.metric() + " "
                            + String.format(Locale.ROOT, "%.4f", s.bestValue) + "), " + String.format(Locale.ROOT, "%.1f", s.seconds) + " s training");
                    main.out.println("test: " + format(trainer.test().scores()));
                }
                main.out.println("wrote " + out.resolve(Trainer.LAST) + ", " + Trainer.BEST + ", " + Trainer.METRICS + ", " + Trainer.CHART);
            }
        } finally {
            if (collective != null) collective.close();
            if (rv != null) rv.close();
            choice.backend().close();
        }
        return Main.OK;
    }

    /** Starts one worker per GPU with this command line (and the output directory fixed for all). */
    private int launch() {
        List<String> args = new ArrayList<>(Arrays.asList(main.args));
        if (!given("--out")) {
            args.add("--out");
            args.add(out.toString());
        }
        main.err.println("cmamba train: starting " + gpus + " workers (one per GPU; --device " + device + "), output " + out);
        return Launcher.run(gpus, r -> Launcher.javaCommand(Main.class.getName(), args, r), Map.of(), main.out, main.err,
                Duration.ofSeconds(10)) == 0 ? Main.OK : Main.FAILED;
    }

    /** A worker started by our launcher stops when the launcher is gone (killed, or its terminal closed). */
    private void watchLauncher(DistEnv env) {
        String pid = System.getenv("CMAMBA_LAUNCHER_PID");
        if (pid == null || pid.isBlank()) return;
        try {
            ProcessHandle.of(Long.parseLong(pid.trim())).ifPresent(h -> h.onExit().thenRun(() -> {
                System.err.println("train: the launcher (pid " + pid + ") exited; rank " + env.rank() + " stops");
                Runtime.getRuntime().halt(Main.FAILED);
            }));
        } catch (NumberFormatException ignored) {
            // not ours to interpret
        }
    }

    /**
     * The job failed (another rank died, a collective timed out): the main thread normally ends with the
     * same message at once; if it is stuck in a device wait, the process stops by itself after a grace.
     */
    private static void stopLater(String message, int rank) {
        Thread t = new Thread(() -> {
            try {
                Thread.sleep(STOP_GRACE.toMillis());
            } catch (InterruptedException e) {
                return;
            }
            System.err.println("train: " + message + " (rank " + rank + " stops)");
            System.err.flush();
            Runtime.getRuntime().halt(Main.FAILED);
        }, "cmamba-stop-later");
        t.setDaemon(true);
        t.start();
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
