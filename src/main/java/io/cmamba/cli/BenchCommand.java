package io.cmamba.cli;

import io.cmamba.bench.FusionBenchmark;
import io.cmamba.tensor.Backends;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code cmamba bench}: Coupled Mamba against cross-attention fusion, time and peak memory against length. */
@Command(mixinStandardHelpOptions = true, name = "bench",
        description = "Inference and training-step time and peak device memory against sequence length, for Coupled Mamba "
                + "and cross-attention fusion (materialised scores and flash), at equal width, layers and head. "
                + "Writes fusion-bench.csv, fusion-bench.json, speed.png and (GPU) memory.png to --out.")
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
    @Option(names = "--out", paramLabel = "DIR", description = "Output directory.", defaultValue = "runs/bench")
    Path out;

    @Override
    public Integer call() throws Exception {
        Backends.Choice choice = Backends.open(device);
        boolean gpu = !choice.backend().name().equals("cpu");
        int[] ls = lengths != null ? lengths : gpu ? new int[]{64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384} : new int[]{16, 32, 64};
        for (int l : ls) if (l < 1) throw new IllegalArgumentException("--lengths: " + l + " is not a length");
        if (repeats < 1) throw new IllegalArgumentException("--repeats must be >= 1, got " + repeats);
        FusionBenchmark.Settings s = new FusionBenchmark.Settings(ls, batch != null ? batch : gpu ? 8 : 2,
                dModel != null ? dModel : gpu ? 128 : 32, layers, heads, dState != null ? dState : gpu ? 64 : 16, repeats);
        main.out.println("device: " + choice.backend().name() + " (" + choice.reason() + "); " + s);
        try (var be = choice.backend()) {
            List<FusionBenchmark.Row> rows = FusionBenchmark.run(be, s, main.out);
            FusionBenchmark.write(out, s, be.name(), rows);
            for (String line : FusionBenchmark.summary(rows)) main.out.println(line);
            main.out.println("wrote " + out.resolve("fusion-bench.csv") + ", fusion-bench.json, speed.png" + (gpu ? ", memory.png" : ""));
        }
        return 0;
    }
}
