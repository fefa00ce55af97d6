package io.cmamba.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Unmatched;

import java.util.List;
import java.util.concurrent.Callable;

/** {@code cmamba bench}: reserved for the model-level benchmarks (memory and speed against length). */
@Command(mixinStandardHelpOptions = true, name = "bench", description = "Model benchmarks (not built yet).")
final class BenchCommand implements Callable<Integer> {
    @ParentCommand
    Main main;
    @Unmatched
    List<String> ignored;

    @Override
    public Integer call() {
        main.err.println("bench: not built yet; the kernels run on their own with: cmamba kernel coupled-scan|global-conv");
        return Main.USAGE;
    }
}
