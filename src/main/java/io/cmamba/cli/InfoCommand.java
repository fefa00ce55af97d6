package io.cmamba.cli;

import io.cmamba.tensor.Backend;
import io.cmamba.tensor.BackendProvider;
import io.cmamba.tensor.Backends;
import picocli.CommandLine.Command;
import picocli.CommandLine.ParentCommand;

import java.lang.reflect.InvocationTargetException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.ServiceLoader;
import java.util.concurrent.Callable;

/** {@code cmamba info}: version, Java, and which backends are usable here (and why the GPU is not). */
@Command(mixinStandardHelpOptions = true, name = "info", description = "Version, Java runtime and the backends usable on this machine.")
final class InfoCommand implements Callable<Integer> {
    /**
     * The CUDA classes are looked up by name, so that this command builds and runs without them:
     * a {@code public static String describe()} of {@code CudaInfo} when present, else the opened
     * backend's {@code device()} and the chosen NVRTC's name and version.
     */
    static final String CUDA_INFO = "io.cmamba.cuda.CudaInfo", NVRTC = "io.cmamba.cuda.NvrtcProvider";

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
        boolean cudaUsable = false;
        for (BackendProvider p : ServiceLoader.load(BackendProvider.class))
            if (p.kind().equals("cuda")) cudaUsable = safeReason(p) == null;
        if (!kinds.contains("cuda")) out.println("  cuda: not usable: the CUDA backend is not on the class path");
        String detail = cudaUsable ? cudaDetail() : null;
        if (detail != null) for (String line : detail.split("\n")) out.println("  " + line);
        return Main.OK;
    }

    private static String safeReason(BackendProvider p) {
        try {
            return p.unavailableReason();
        } catch (RuntimeException | LinkageError e) {
            return "probing failed: " + e;
        }
    }

    /** Lines about the usable GPU, or a line saying why they could not be had. */
    static String cudaDetail() {
        try {
            Class<?> c = Class.forName(CUDA_INFO);
            Object r = c.getMethod("describe").invoke(null);
            return r == null ? null : r.toString();
        } catch (ClassNotFoundException e) {
            // no describe(): ask the backend and NVRTC directly
        } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
            return "cuda detail unavailable: " + cause(e);
        }
        StringBuilder b = new StringBuilder();
        try (Backend cuda = Backends.open("cuda").backend()) {
            Object device = cuda.getClass().getMethod("device").invoke(cuda);
            b.append("device: ").append(device);
        } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
            b.append("device: could not be opened: ").append(cause(e));
        }
        try {
            Object nvrtc = Class.forName(NVRTC).getMethod("choose").invoke(null);
            b.append("\nNVRTC: ").append(nvrtc.getClass().getMethod("name").invoke(nvrtc)).append(' ')
                    .append(nvrtc.getClass().getMethod("version").invoke(nvrtc));
        } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
            b.append("\nNVRTC: ").append(cause(e));
        }
        return b.toString();
    }

    private static String cause(Throwable e) {
        Throwable c = e instanceof InvocationTargetException ite && ite.getCause() != null ? ite.getCause() : e;
        return c.getMessage() != null ? c.getMessage() : c.toString();
    }
}
