package io.cmamba.cli;

import io.cmamba.bench.FusionBenchmark;
import io.cmamba.bench.FusionReport;
import io.cmamba.bench.KernelReport;
import io.cmamba.cuda.Ceilings;
import io.cmamba.cuda.CudaBackend;
import io.cmamba.tensor.Backends;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code cmamba bench}: Coupled Mamba against cross-attention fusion, time and peak memory against length;
 * peers' tables (bench/peers/bench_fusion_torch.py) joined in; the tables re-drawn without measuring;
 * training throughput with Adam.
 */
@Command(mixinStandardHelpOptions = true, name = "bench",
        description = "Inference and training-step time and peak device memory against sequence length, for Coupled Mamba "
                + "and cross-attention fusion (materialised scores and flash), at equal width, layers and head, with the "
                + "rows of peers' CSVs joined in. Writes fusion-bench.csv, fusion-bench.json, speed.png, train-speed.png, "
                + "(GPU) kernels.csv and kernels.txt (every kernel's time and roofline) and "
                + "(GPU) memory.png, memory-inference.png and memory-driver.png to --out, and prints Coupled Mamba's ratios and the targets check.")
final class BenchCommand implements Callable<Integer> {
    @ParentCommand
    Main main;

    @Option(names = "--device", paramLabel = "auto|cpu|cuda[:N]", description = "Where to measure.", defaultValue = "auto")
    String device;
    @Option(names = "--lengths", split = ",", paramLabel = "L,L,..",
            description = "Sequence lengths (default: 64..16384 doubling on a GPU, 16,32,64 on the CPU).")
    int[] lengths;
    @Option(names = "--batch", paramLabel = "N", description = "Batch size (default: 8 on a GPU, 2 on the CPU).")
    Integer batch;
    @Option(names = "--d-model", paramLabel = "N", description = "Model width (default: 128 on a GPU, 32 on the CPU).")
    Integer dModel;
    @Option(names = "--layers", paramLabel = "N", defaultValue = "3")
    int layers;
    @Option(names = "--heads", paramLabel = "N", defaultValue = "8")
    int heads;
    @Option(names = "--d-state", paramLabel = "N", description = "State size (default: 64 on a GPU, 16 on the CPU).")
    Integer dState;
    @Option(names = "--repeats", paramLabel = "N", description = "Timed runs per size (median); one warm-up run first.", defaultValue = "5")
    int repeats;
    @Option(names = "--models", split = ",", paramLabel = "M,M,..",
            description = "Which of coupled-mamba, cross-attention-plain, cross-attention-flash to measure (default: all).")
    List<String> models;
    @Option(names = "--out", paramLabel = "DIR", description = "Output directory (default: runs/bench, with --join-only the --in directory).")
    Path out;
    @Option(names = "--join", split = ",", paramLabel = "FILE.csv",
            description = "A peer's table with the same columns (e.g. from bench/peers/bench_fusion_torch.py, or a throughput "
                    + "table with --throughput); its rows join ours in the CSV, JSON, plots, summary and targets check. Repeatable.")
    List<Path> join = new ArrayList<>();
    @Option(names = "--join-only", description = "Measure nothing: read --in's fusion-bench.csv (and throughput.csv), join the "
            + "--join files, write the tables, plots, summary and targets check again (works without a GPU).")
    boolean joinOnly;
    @Option(names = "--in", paramLabel = "DIR", description = "With --join-only: the directory of an earlier run (default: --out).")
    Path in;
    @Option(names = "--throughput", split = ",", paramLabel = "BATCHxL,..",
            description = "Instead of the sweep: whole training steps with Adam at these points (e.g. 1024x50,128x500), "
                    + "samples per second, written to throughput.csv.")
    List<String> throughput;

    @Override
    public Integer call() throws Exception {
        if (joinOnly) return joinOnly();
        List<String> ms = models != null ? models : List.of(FusionBenchmark.MODELS);
        for (String m : ms)
            if (!List.of(FusionBenchmark.MODELS).contains(m))
                throw new IllegalArgumentException("--models: unknown model '" + m + "'; known: " + String.join(", ", FusionBenchmark.MODELS));
        if (in != null) throw new IllegalArgumentException("--in is for --join-only");
        List<FusionReport.Table> peers = readJoined(throughput != null ? "throughput" : "sweep");
        Path dir = out != null ? out : Path.of("runs", "bench");
        Backends.Choice choice = Backends.open(device);
        boolean gpu = !choice.backend().name().equals("cpu");
        int[] ls = lengths != null ? lengths : gpu ? new int[]{64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384} : new int[]{16, 32, 64};
        for (int l : ls) if (l < 1) throw new IllegalArgumentException("--lengths: " + l + " is not a length");
        if (repeats < 1) throw new IllegalArgumentException("--repeats must be >= 1, got " + repeats);
        FusionBenchmark.Settings s = new FusionBenchmark.Settings(ls, batch != null ? batch : gpu ? 8 : 2,
                dModel != null ? dModel : gpu ? 128 : 32, layers, heads, dState != null ? dState : gpu ? 64 : 16, repeats);
        if (throughput != null) {
            List<FusionBenchmark.Point> points = new ArrayList<>();
            for (String p : throughput) points.add(FusionBenchmark.Point.parse(p));
            main.out.println("device: " + choice.backend().name() + " (" + choice.reason() + "); training steps with Adam at "
                    + String.join(", ", throughput) + ", d_model " + s.dModel() + ", layers " + s.layers() + ", heads " + s.heads()
                    + ", d_state " + s.dState() + ", " + s.repeats() + " timed steps");
            try (var be = choice.backend()) {
                List<FusionReport.ThroughputRow> rows = FusionBenchmark.throughput(be, s, ms, points, main.out);
                for (FusionReport.Table t : peers) rows = FusionReport.joinThroughput(rows, t.throughput());
                writeThroughput(dir, rows);
            }
            return 0;
        }
        main.out.println("device: " + choice.backend().name() + " (" + choice.reason() + "); " + s);
        try (var be = choice.backend()) {
            Files.createDirectories(dir);
            // the roofline's ceilings, measured in this run; the kernels of each size are profiled after its timings
            Ceilings ceilings = be instanceof CudaBackend cuda ? Ceilings.measure(cuda) : null;
            if (ceilings != null) main.out.println("ceilings: " + ceilings.describe());
            List<KernelReport.Row> kernels = ceilings != null ? new ArrayList<>() : null;
            // the table so far after every row: a run stopped from outside keeps what it measured
            List<FusionBenchmark.Row> rows = FusionBenchmark.run(be, s, ms, main.out, part -> {
                try {
                    io.cmamba.files.AtomicFiles.writeString(dir.resolve("fusion-bench.csv"), FusionReport.csv(part));
                    if (kernels != null) KernelReport.write(dir, kernels, ceilings);
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }, kernels);
            for (FusionReport.Table t : peers) rows = FusionReport.join(rows, t.rows());
            report(dir, be.name(), s, rows);
        }
        return 0;
    }

    /** The --join files; {@code kind} "sweep" or "throughput" says which table they must be (null: either). */
    private List<FusionReport.Table> readJoined(String kind) throws java.io.IOException {
        List<FusionReport.Table> tables = new ArrayList<>();
        for (Path p : join) {
            FusionReport.Table t = FusionReport.read(p);
            if ("sweep".equals(kind) && !t.sweep())
                throw new IllegalArgumentException("--join " + p + " is a throughput table; join it with --throughput or --join-only");
            if ("throughput".equals(kind) && t.sweep())
                throw new IllegalArgumentException("--join " + p + " is a sweep table; with --throughput join throughput tables");
            tables.add(t);
        }
        return tables;
    }

    private int joinOnly() throws java.io.IOException {
        Path from = in != null ? in : out != null ? out : Path.of("runs", "bench");
        Path dir = out != null ? out : from;
        Path sweep = from.resolve("fusion-bench.csv"), tp = from.resolve("throughput.csv");
        if (!Files.exists(sweep) && !Files.exists(tp))
            throw new IllegalArgumentException("--join-only: " + from + " has neither fusion-bench.csv nor throughput.csv");
        List<FusionReport.Table> peers = readJoined(null);
        if (Files.exists(sweep)) {
            List<FusionBenchmark.Row> rows = FusionReport.read(sweep).rows();
            for (FusionReport.Table t : peers) rows = FusionReport.join(rows, t.rows());
            // keep the measuring run's device and settings
            Object settings = null;
            String deviceName = "unknown device";
            Path json = from.resolve("fusion-bench.json");
            if (Files.exists(json)) {
                try {
                    var o = com.google.gson.JsonParser.parseString(Files.readString(json)).getAsJsonObject();
                    if (o.has("device")) deviceName = o.get("device").getAsString();
                    settings = o.get("settings");
                } catch (RuntimeException e) {
                    main.out.println("note: " + json + " is unreadable (" + e.getMessage() + "); device and settings left unknown");
                }
            }
            report(dir, deviceName, settings, rows);
        }
        if (Files.exists(tp)) {
            List<FusionReport.ThroughputRow> rows = FusionReport.read(tp).throughput();
            for (FusionReport.Table t : peers) rows = FusionReport.joinThroughput(rows, t.throughput());
            writeThroughput(dir, rows);
        }
        return 0;
    }

    private void report(Path dir, String deviceName, Object settings, List<FusionBenchmark.Row> rows) throws java.io.IOException {
        List<String> joined = join.stream().map(Path::toString).toList();
        List<String> drawn = FusionReport.write(dir, deviceName, settings, joined, rows, main.out);
        for (String line : FusionReport.summary(rows)) main.out.println(line);
        for (String line : FusionReport.targetLines(rows)) main.out.println(line);
        main.out.println("wrote " + dir.resolve("fusion-bench.csv") + ", fusion-bench.json"
                + (drawn.isEmpty() ? " (no plots)" : ", " + String.join(", ", drawn)));
    }

    private void writeThroughput(Path dir, List<FusionReport.ThroughputRow> rows) throws java.io.IOException {
        Files.createDirectories(dir);
        io.cmamba.files.AtomicFiles.writeString(dir.resolve("throughput.csv"), FusionReport.throughputCsv(rows));
        for (String line : FusionReport.throughputSummary(rows)) main.out.println(line);
        main.out.println("wrote " + dir.resolve("throughput.csv"));
    }
}
