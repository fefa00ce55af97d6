package io.cmamba.cuda;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * Chooses the NVRTC binding: the one named by -Dcmamba.nvrtc=jcuda|bytedeco, else the first that
 * loads, trying first the one whose major version matches the driver's (a CUDA 13 driver runs
 * what either compiles; a CUDA 12 driver cannot load a CUBIN from NVRTC 13).
 */
public final class Nvrtc {
    private Nvrtc() {
    }

    /** The system property that forces a binding. */
    public static final String PROPERTY = "cmamba.nvrtc";

    /** What {@link #select} found: the provider, or null and one line saying why none. */
    public record Selection(NvrtcProvider provider, String unavailableReason) {
    }

    private static Selection cached;

    /** The binding chosen for this JVM (probed once). */
    public static synchronized Selection select() {
        if (cached == null) {
            int driver = 0;
            try {
                if (Cuda.probeDriver() == null) driver = Cuda.driverVersion();
            } catch (RuntimeException e) {
                driver = 0;
            }
            cached = select(System.getProperty(PROPERTY), driver >= 13000,
                    List.of(new Candidate("jcuda", "libnvrtc.so.12", JcudaNvrtc::new),
                            new Candidate("bytedeco", "libnvrtc.so.13", BytedecoNvrtc::new)));
        }
        return cached;
    }

    /** The chosen provider; throws with the reason when none loads. */
    public static NvrtcProvider provider() {
        Selection s = select();
        if (s.provider() == null) throw new CudaException("nvrtcVersion", -1, s.unavailableReason());
        return s.provider();
    }

    /** A binding by name, the library it needs, and how to load it. */
    record Candidate(String name, String library, Supplier<NvrtcProvider> loader) {
    }

    /**
     * The selection rule, separate from the real bindings so that it can be tested without them.
     *
     * @param forced        the property's value, or null
     * @param preferNewest  true to try the last candidate first (the driver runs CUDA 13 code)
     */
    static Selection select(String forced, boolean preferNewest, List<Candidate> candidates) {
        List<Candidate> order = new ArrayList<>(candidates);
        if (forced != null && !forced.isBlank()) {
            Candidate pick = null;
            for (Candidate c : candidates) if (c.name().equals(forced.trim())) pick = c;
            if (pick == null) {
                List<String> names = new ArrayList<>();
                for (Candidate c : candidates) names.add(c.name());
                return new Selection(null, "-D" + PROPERTY + "=" + forced + " names no NVRTC binding (expected one of " + names + ")");
            }
            order = List.of(pick);
        } else if (preferNewest) {
            java.util.Collections.reverse(order);
        }
        List<String> failures = new ArrayList<>();
        for (Candidate c : order) {
            try {
                return new Selection(c.loader().get(), null);
            } catch (LinkageError | RuntimeException e) {
                failures.add(c.name() + " needs " + c.library() + ": " + Cuda.firstLine(e));
            }
        }
        return new Selection(null, "no NVRTC: " + String.join("; ", failures));
    }

    /** "sm_90" from an option list holding --gpu-architecture=sm_90 (for messages). */
    static String archOption(List<String> options) {
        for (String o : options)
            if (o.startsWith("--gpu-architecture=")) return o.substring("--gpu-architecture=".length());
        return "the default architecture";
    }
}
