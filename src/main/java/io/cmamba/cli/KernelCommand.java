package io.cmamba.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code cmamba kernel coupled-scan|global-conv ARGS}: runs one kernel on its own (checks and timings),
 * handing the remaining arguments to the runner's {@code public static ... run(String[])}. The runners
 * are looked up by name so that the command line builds without them.
 */
@Command(mixinStandardHelpOptions = true, name = "kernel", description = "Runs one kernel by itself: coupled-scan or global-conv (the runner's own options follow).")
final class KernelCommand implements Callable<Integer> {
    static final Map<String, String> RUNNERS = Map.of(
            "coupled-scan", "io.cmamba.bench.CoupledScanRunner",
            "global-conv", "io.cmamba.bench.GlobalConvRunner");

    @Parameters(index = "0", paramLabel = "coupled-scan|global-conv")
    String kernel;
    @Parameters(index = "1..*", paramLabel = "ARGS", description = "Passed to the kernel's runner.")
    String[] args = new String[0];

    @Override
    public Integer call() throws Exception {
        String className = RUNNERS.get(kernel);
        if (className == null)
            throw new Main.UsageException("unknown kernel '" + kernel + "': expected coupled-scan or global-conv");
        Method run;
        try {
            run = Class.forName(className).getMethod("run", String[].class);
        } catch (ClassNotFoundException | NoSuchMethodException e) {
            throw new Main.UsageException("the " + kernel + " runner (" + className + ".run(String[])) is not part of this build");
        }
        Object r;
        try {
            r = run.invoke(null, (Object) args);
        } catch (InvocationTargetException e) {
            if (e.getCause() instanceof Exception ex) throw ex;
            throw e;
        }
        return r instanceof Integer code ? code : Main.OK;
    }
}
