package io.cmamba.cuda;

import java.util.ArrayList;
import java.util.List;

/**
 * Turns a {@link KernelSource} into a CUBIN for one architecture: from the disk cache when the same
 * source, headers, options, arch and compiler were seen before, else with NVRTC (then stored).
 * Options: the arch, C++17, -lineinfo (so that compute-sanitizer and profilers show source lines;
 * -Dcmamba.lineinfo=false drops it) and -DCMAMBA_NVRTC.
 */
public final class KernelCompiler {
    private final NvrtcProvider nvrtc;
    private final KernelCache cache;
    private final String arch;
    private final List<String> options;
    private long compiles, cacheHits;
    private double compileMillis;

    public KernelCompiler(NvrtcProvider nvrtc, KernelCache cache, String arch) {
        this.nvrtc = nvrtc;
        this.cache = cache;
        this.arch = arch;
        List<String> o = new ArrayList<>();
        o.add("--gpu-architecture=" + arch);
        o.add("--std=c++17");
        if (!"false".equalsIgnoreCase(System.getProperty("cmamba.lineinfo"))) o.add("-lineinfo");
        o.add("-DCMAMBA_NVRTC=1");
        this.options = List.copyOf(o);
    }

    public NvrtcProvider nvrtc() {
        return nvrtc;
    }

    public KernelCache cache() {
        return cache;
    }

    public List<String> options() {
        return options;
    }

    /** The CUBIN of {@code source}: cached, or compiled now and cached. */
    public byte[] cubin(KernelSource source) {
        int[] v = nvrtc.version();
        String key = KernelCache.key(source.fileName(), source.text(), source.headers(), options, arch, v[0] + "." + v[1]);
        byte[] hit = cache.get(key);
        if (hit != null) {
            synchronized (this) {
                cacheHits++;
            }
            return hit;
        }
        long t0 = System.nanoTime();
        byte[] cubin = nvrtc.compileToCubin(source.fileName(), source.text(), source.headers(), options);
        double ms = (System.nanoTime() - t0) / 1e6;
        synchronized (this) {
            compiles++;
            compileMillis += ms;
        }
        String why = cache.put(key, cubin);
        if (why != null && cache.dir() != null) System.err.println("warning: kernel cache: " + why);
        return cubin;
    }

    /** NVRTC compilations so far (a warm cache keeps this at 0). */
    public synchronized long compiles() {
        return compiles;
    }

    public synchronized long cacheHits() {
        return cacheHits;
    }

    /** Wall time spent in NVRTC so far. */
    public synchronized double compileMillis() {
        return compileMillis;
    }
}
