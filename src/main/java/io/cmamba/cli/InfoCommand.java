package io.cmamba.cli;

import io.cmamba.tensor.BackendProvider;
import picocli.CommandLine.Command;
import picocli.CommandLine.ParentCommand;

import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.ServiceLoader;
import java.util.concurrent.Callable;

/** {@code cmamba info}: version, Java, and which backends are usable here (and why the GPU is not). */
@Command(mixinStandardHelpOptions = true, name = "info", description = "Version, Java runtime and the backends usable on this machine.")
final class InfoCommand implements Callable<Integer> {
    /**
     * Optional: the CUDA backend may describe the device in more detail through a class with a
     * {@code public static String describe()} method; looked up by name so that this command builds
     * and runs without the CUDA code.
     */
    static final String CUDA_INFO = "io.cmamba.cuda.CudaInfo";

    @ParentCommand
    Main main;

    @Override
    public Integer call() {
        var out = main.out;
        Runtime rt = Runtime.getRuntime();
        out.println("cmamba " + Main.version());
        out.println(String.format(Locale.ROOT, "java %s (%s), %s %s, %d cores, max heap %d MiB",
                System.getProperty("java.version"), System.getProperty("java.vendor"), System.getProperty("os.name"),
                System.getProperty("os.arch"), rt.availableProcessors(), rt.maxMemory() >> 20));
        out.println("backends:");
        List<String> kinds = new ArrayList<>();
        for (BackendProvider p : ServiceLoader.load(BackendProvider.class)) {
            kinds.add(p.kind());
            String why;
            try {
                why = p.unavailableReason();
            } catch (RuntimeException | LinkageError e) {
                why = "probing failed: " + e;
            }
            out.println("  " + p.kind() + ": " + (why == null ? "usable" : "not usable: " + why));
        }
        if (!kinds.contains("cuda")) out.println("  cuda: not usable: the CUDA backend is not on the class path");
        String detail = cudaDetail();
        if (detail != null) for (String line : detail.split("\n")) out.println("  " + line);
        return Main.OK;
    }

    static String cudaDetail() {
        try {
            Class<?> c = Class.forName(CUDA_INFO);
            Method m = c.getMethod("describe");
            Object r = m.invoke(null);
            return r == null ? null : r.toString();
        } catch (ClassNotFoundException e) {
            return null;
        } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
            Throwable cause = e instanceof java.lang.reflect.InvocationTargetException ite && ite.getCause() != null ? ite.getCause() : e;
            return "cuda detail unavailable: " + cause;
        }
    }
}
