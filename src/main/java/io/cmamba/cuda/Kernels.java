package io.cmamba.cuda;

import jcuda.Pointer;
import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;
import jcuda.driver.JCudaDriver;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The kernels of one device: the .cu files under "kernels/" on the class path, compiled by NVRTC to a
 * CUBIN for the device's own arch (cached on disk), loaded once, and their functions looked up by name.
 * Options: -lineinfo (profilers map back to the source), C++17, the arch; property cmamba.nvrtcOptions
 * appends more.
 */
public final class Kernels {
    private static final Pattern INCLUDE = Pattern.compile("^\\s*#\\s*include\\s+\"([^\"]+)\"", Pattern.MULTILINE);

    private final CudaDevice device;
    private final NvrtcProvider nvrtc;
    private final KernelCache cache = new KernelCache();
    private final Map<String, CUmodule> modules = new ConcurrentHashMap<>();
    private final Map<String, Kernel> functions = new ConcurrentHashMap<>();
    private long compiles, cacheHits, compileNanos;

    Kernels(CudaDevice device, NvrtcProvider nvrtc) {
        this.device = device;
        this.nvrtc = nvrtc;
    }

    public NvrtcProvider nvrtc() {
        return nvrtc;
    }

    List<String> options() {
        List<String> o = new ArrayList<>(List.of("--gpu-architecture=" + device.arch(), "-lineinfo", "--std=c++17"));
        String extra = System.getProperty("cmamba.nvrtcOptions", "").trim();
        if (!extra.isEmpty()) o.addAll(List.of(extra.split("\\s+")));
        return o;
    }

    static String resource(String name) {
        try (InputStream in = Kernels.class.getClassLoader().getResourceAsStream("kernels/" + name)) {
            if (in == null) throw new CudaException("kernel source kernels/" + name + " is not on the class path");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new CudaException("cannot read kernels/" + name, e);
        }
    }

    /** Every file a source includes with #include "x", transitively. */
    static Map<String, String> headers(String source) {
        Map<String, String> found = new LinkedHashMap<>();
        List<String> todo = new ArrayList<>(List.of(source));
        while (!todo.isEmpty()) {
            Matcher m = INCLUDE.matcher(todo.remove(todo.size() - 1));
            while (m.find()) {
                String name = m.group(1);
                if (!found.containsKey(name)) {
                    String text = resource(name);
                    found.put(name, text);
                    todo.add(text);
                }
            }
        }
        return found;
    }

    /** The CUBIN of kernels/{file} built with the given -D defines, from the disk cache or compiled now. */
    public byte[] cubin(String file, String... defines) {
        String source = resource(file);
        Map<String, String> headers = headers(source);
        List<String> options = options();
        for (String d : defines) options.add("-D" + d);
        String key = KernelCache.key(nvrtc.name() + " " + nvrtc.version(), device.arch(), options, file, source, headers);
        byte[] bin = cache.get(key);
        if (bin != null) {
            synchronized (this) {
                cacheHits++;
            }
            return bin;
        }
        long t0 = System.nanoTime();
        bin = nvrtc.compileToCubin(file, source, headers, options);
        synchronized (this) {
            compiles++;
            compileNanos += System.nanoTime() - t0;
        }
        cache.put(key, bin);
        return bin;
    }

    CUmodule module(String file, String... defines) {
        return modules.computeIfAbsent(file + " " + String.join(" ", defines), key -> {
            device.makeCurrent();
            CUmodule m = new CUmodule();
            Driver.check(JCudaDriver.cuModuleLoadData(m, cubin(file, defines)), "cuModuleLoadData(" + key.trim() + ")");
            return m;
        });
    }

    /**
     * The function {@code name} of kernels/{file}, compiled with the given defines ("SCAN_NP=64"):
     * files with many template instantiations build only the one a call needs.
     */
    public Kernel get(String file, String name, String... defines) {
        return functions.computeIfAbsent(file + " " + String.join(" ", defines) + ":" + name, k -> {
            CUfunction fn = new CUfunction();
            Driver.check(JCudaDriver.cuModuleGetFunction(fn, module(file, defines), name),
                    "cuModuleGetFunction(" + file + ", " + name + ")");
            return new Kernel(device, name, fn);
        });
    }

    /** Compiles counted since start, cache hits, and milliseconds spent compiling. */
    public synchronized long[] stats() {
        return new long[]{compiles, cacheHits, compileNanos / 1_000_000};
    }

    /** One compiled function with checked launches. */
    public static final class Kernel {
        private final CudaDevice device;
        private final String name;
        private final CUfunction fn;
        private static final boolean SYNC = Boolean.getBoolean("cmamba.syncLaunches");

        Kernel(CudaDevice device, String name, CUfunction fn) {
            this.device = device;
            this.name = name;
            this.fn = fn;
        }

        /**
         * Launches on the default stream. Arguments: {@link io.cmamba.tensor.Tensor} (its device address),
         * Long, Integer, Float, Double (passed as float), Boolean (as int).
         */
        public void launch(int gx, int gy, int gz, int bx, int by, int bz, int sharedBytes, Object... args) {
            String shape = name + " grid [" + gx + ", " + gy + ", " + gz + "] block [" + bx + ", " + by + ", " + bz + "] shared " + sharedBytes;
            if (gx < 1 || gy < 1 || gz < 1 || gy > 65535 || gz > 65535 || bx < 1 || by < 1 || bz < 1 || (long) bx * by * bz > 1024)
                throw new CudaException("bad launch shape for " + shape);
            device.makeCurrent();
            Pointer[] ps = new Pointer[args.length];
            for (int i = 0; i < args.length; i++) ps[i] = argument(args[i], i);
            Driver.check(JCudaDriver.cuLaunchKernel(fn, gx, gy, gz, bx, by, bz, sharedBytes, null, Pointer.to(ps), null),
                    "cuLaunchKernel(" + shape + ")");
            if (SYNC) Driver.check(JCudaDriver.cuCtxSynchronize(), "kernel " + shape);
        }

        /** A 1-D launch of enough blocks of {@code threads} to cover n (capped at a grid-stride size). */
        public void launch1d(long n, int threads, Object... args) {
            long blocks = Math.max(1, Math.min((n + threads - 1) / threads, 65535L * 32));
            launch((int) blocks, 1, 1, threads, 1, 1, 0, args);
        }

        private Pointer argument(Object a, int i) {
            if (a instanceof io.cmamba.tensor.Tensor t) return Pointer.to(new long[]{CudaBackend.address(t)});
            if (a instanceof Long l) return Pointer.to(new long[]{l});
            if (a instanceof Integer v) return Pointer.to(new int[]{v});
            if (a instanceof Float f) return Pointer.to(new float[]{f});
            if (a instanceof Double d) return Pointer.to(new float[]{d.floatValue()});
            if (a instanceof Boolean b) return Pointer.to(new int[]{b ? 1 : 0});
            throw new IllegalArgumentException("kernel " + name + " argument " + i + ": unsupported type " + (a == null ? "null" : a.getClass().getName()));
        }
    }
}
