package io.cmamba.bench;

import io.cmamba.cuda.CudaBackend;
import io.cmamba.cuda.CudaGlobalConv;
import io.cmamba.cuda.CudaGlobalConv.Path;
import io.cmamba.files.SafeTensors;
import io.cmamba.tensor.Backend;
import io.cmamba.tensor.Backends;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code cmamba kernel global-conv}: runs the global convolution (kernel materialisation, then the
 * convolution, and with --backward both backward passes) on tensors from a safetensors file, so that
 * any implementation (another language, another device) can be compared with this one.
 * <pre>
 *   cmamba kernel global-conv --in F.safetensors --out F.safetensors [--backward] [--device cpu|cuda]
 *                             [--path auto|direct|fft] [--repeat N]
 * </pre>
 * Input tensors: u [M, B, L, D], A [M, D, N], delta [M, D] (after softplus), B [M, N], C [M, N],
 * Dskip [M, D]; with --backward also dy [M, B, L, D]. Output: K [M, M, D, L] and y [M, B, L, D]; with
 * --backward also dK, du, dA, ddelta, dB, dC, dDskip (same shapes as their inputs). The CPU computes
 * and writes float64, CUDA float32. With --repeat N the ops run N more times and the median time
 * (device events on CUDA) is printed. Bad input (a missing file or tensor, a wrong shape, NaN or
 * infinity, an unknown option) prints one line naming it and returns 2.
 */
public final class GlobalConvRunner {
    private GlobalConvRunner() {
    }

    static final String USAGE = "usage: cmamba kernel global-conv --in F.safetensors --out F.safetensors [--backward] "
            + "[--device cpu|cuda] [--path auto|direct|fft] [--repeat N]";

    /** Bad input: the message is the one line the user sees. */
    static final class BadInput extends RuntimeException {
        BadInput(String message) {
            super(message);
        }
    }

    public static void main(String[] args) {
        System.exit(run(args));
    }

    public static int run(String[] args) {
        return run(args, System.out, System.err);
    }

    static int run(String[] args, PrintStream out, PrintStream err) {
        Options o;
        try {
            o = Options.parse(args);
        } catch (BadInput e) {
            err.println("global-conv: " + e.getMessage());
            err.println(USAGE);
            return 2;
        }
        if (!Files.exists(o.in)) {
            err.println("global-conv: input file " + o.in + " does not exist");
            return 2;
        }
        SafeTensors in;
        try {
            in = SafeTensors.read(o.in);
        } catch (IOException | IllegalArgumentException e) {
            err.println("global-conv: cannot read " + o.in + ": " + e.getMessage());
            return 2;
        }
        Backend be;
        try {
            be = Backends.open(o.device).backend();
        } catch (IllegalStateException | IllegalArgumentException e) {
            err.println("global-conv: " + e.getMessage());
            return 2;
        }
        try (be) {
            SafeTensors result = compute(be, in, o, out);
            try {
                result.write(o.out);
            } catch (IOException e) {
                err.println("global-conv: cannot write " + o.out + ": " + e.getMessage());
                return 2;
            }
            out.println("global-conv: wrote " + String.join(", ", result.entries().keySet()) + " to " + o.out);
            return 0;
        } catch (BadInput | IllegalArgumentException e) {
            err.println("global-conv: " + e.getMessage());
            return 2;
        }
    }

    record Options(java.nio.file.Path in, java.nio.file.Path out, boolean backward, String device, Path path, int repeat) {
        static Options parse(String[] args) {
            java.nio.file.Path in = null, out = null;
            boolean backward = false;
            String device = "cpu";
            Path path = Path.AUTO;
            int repeat = 0;
            for (int i = 0; i < args.length; i++) {
                String a = args[i];
                switch (a) {
                    case "--in" -> in = java.nio.file.Path.of(value(args, ++i, a));
                    case "--out" -> out = java.nio.file.Path.of(value(args, ++i, a));
                    case "--backward" -> backward = true;
                    case "--device" -> {
                        device = value(args, ++i, a);
                        if (!device.equals("cpu") && !device.startsWith("cuda"))
                            throw new BadInput("--device must be cpu or cuda, got '" + device + "'");
                    }
                    case "--path" -> {
                        String p = value(args, ++i, a);
                        try {
                            path = Path.valueOf(p.toUpperCase(java.util.Locale.ROOT));
                        } catch (IllegalArgumentException e) {
                            throw new BadInput("--path must be auto, direct or fft, got '" + p + "'");
                        }
                    }
                    case "--repeat" -> {
                        String r = value(args, ++i, a);
                        try {
                            repeat = Integer.parseInt(r);
                        } catch (NumberFormatException e) {
                            throw new BadInput("--repeat must be a whole number, got '" + r + "'");
                        }
                        if (repeat < 0) throw new BadInput("--repeat must be >= 0, got " + repeat);
                    }
                    default -> throw new BadInput("unknown argument '" + a + "'");
                }
            }
            if (in == null) throw new BadInput("--in is required");
            if (out == null) throw new BadInput("--out is required");
            if (!Files.isRegularFile(in) && Files.exists(in)) throw new BadInput("--in " + in + " is not a file");
            return new Options(in, out, backward, device, path, repeat);
        }

        private static String value(String[] args, int i, String option) {
            if (i >= args.length || args[i].startsWith("--")) throw new BadInput(option + " needs a value");
            return args[i];
        }
    }

    /** Reads, checks, uploads, runs and collects the outputs. */
    static SafeTensors compute(Backend be, SafeTensors file, Options o, PrintStream log) {
        boolean cuda = be instanceof CudaBackend;
        if (!cuda && o.path != Path.AUTO) throw new BadInput("--path applies to --device cuda only");
        DType dt = cuda ? DType.F32 : DType.F64;
        SafeTensors.Entry u = entry(file, "u", 4);
        int m = u.shape()[0], b = u.shape()[1], l = u.shape()[2], d = u.shape()[3];
        SafeTensors.Entry a = entry(file, "A", 3);
        int n = a.shape()[2];
        expect("u", u, m, b, l, d);
        expect("A", a, m, d, n);
        expect("delta", entry(file, "delta", 2), m, d);
        expect("B", entry(file, "B", 2), m, n);
        expect("C", entry(file, "C", 2), m, n);
        expect("Dskip", entry(file, "Dskip", 2), m, d);
        if (o.backward) expect("dy", entry(file, "dy", 4), m, b, l, d);
        for (String name : o.backward ? List.of("u", "A", "delta", "B", "C", "Dskip", "dy") : List.of("u", "A", "delta", "B", "C", "Dskip"))
            requireFinite(name, file.get(name));
        double[] dv = file.get("delta").values();
        for (int i = 0; i < dv.length; i++)
            if (!(dv[i] > 0)) throw new BadInput("delta must be positive (after softplus); delta[" + i / d + ", " + i % d + "] = " + dv[i]);

        Map<String, Tensor> t = new LinkedHashMap<>();
        List<Tensor> all = new ArrayList<>();
        try {
            for (String name : o.backward ? List.of("u", "A", "delta", "B", "C", "Dskip", "dy") : List.of("u", "A", "delta", "B", "C", "Dskip")) {
                SafeTensors.Entry e = file.get(name);
                Tensor x = be.fromDoubles(dt, e.values(), e.shape());
                all.add(x);
                t.put(name, x);
            }
            Tensor k = be.empty(dt, m, m, d, l), y = be.empty(dt, m, b, l, d);
            all.add(k);
            all.add(y);
            Runnable fwd = () -> {
                if (cuda) {
                    CudaBackend g = (CudaBackend) be;
                    CudaGlobalConv.kernel(g, k, t.get("A"), t.get("delta"), t.get("B"), t.get("C"));
                    CudaGlobalConv.forward(g, o.path, y, t.get("u"), k, t.get("Dskip"));
                } else {
                    be.globalConvKernel(k, t.get("A"), t.get("delta"), t.get("B"), t.get("C"));
                    be.globalConvForward(y, t.get("u"), k, t.get("Dskip"));
                }
            };
            fwd.run();
            SafeTensors result = new SafeTensors();
            String type = cuda ? "F32" : "F64";
            result.put("K", type, k.shape().dims(), k.toDoubles());
            result.put("y", type, y.shape().dims(), y.toDoubles());
            String pathName = cuda ? " (" + CudaGlobalConv.resolve(o.path, m, l) + " path)" : "";
            if (o.repeat > 0) log.println(timing(be, "forward" + pathName, o.repeat, fwd));
            if (o.backward) {
                Tensor du = be.empty(dt, m, b, l, d), dk = be.empty(dt, m, m, d, l), dds = be.empty(dt, m, d);
                Tensor dA = be.empty(dt, m, d, n), ddelta = be.empty(dt, m, d), dB = be.empty(dt, m, n), dC = be.empty(dt, m, n);
                all.addAll(List.of(du, dk, dds, dA, ddelta, dB, dC));
                Runnable bwd = () -> {
                    if (cuda) {
                        CudaGlobalConv.backward((CudaBackend) be, o.path, du, dk, dds, t.get("dy"), t.get("u"), k, t.get("Dskip"));
                        CudaGlobalConv.kernelBackward((CudaBackend) be, dA, ddelta, dB, dC, dk, t.get("A"), t.get("delta"), t.get("B"), t.get("C"));
                    } else {
                        be.globalConvBackward(du, dk, dds, t.get("dy"), t.get("u"), k, t.get("Dskip"));
                        be.globalConvKernelBackward(dA, ddelta, dB, dC, dk, t.get("A"), t.get("delta"), t.get("B"), t.get("C"));
                    }
                };
                bwd.run();
                for (Object[] p : new Object[][]{{"dK", dk}, {"du", du}, {"dA", dA}, {"ddelta", ddelta}, {"dB", dB}, {"dC", dC}, {"dDskip", dds}}) {
                    Tensor x = (Tensor) p[1];
                    result.put((String) p[0], type, x.shape().dims(), x.toDoubles());
                }
                if (o.repeat > 0) log.println(timing(be, "backward" + pathName, o.repeat, bwd));
            }
            result.metadata().put("device", be.name());
            return result;
        } finally {
            for (Tensor x : all) x.close();
        }
    }

    private static String timing(Backend be, String what, int repeat, Runnable op) {
        double[] ms = new double[repeat];
        if (be instanceof CudaBackend g) {
            ms = io.cmamba.cuda.CudaTimer.time(g.stream(), 1, repeat, op).millis();
        } else {
            op.run();
            for (int i = 0; i < repeat; i++) {
                long t0 = System.nanoTime();
                op.run();
                be.synchronize();
                ms[i] = (System.nanoTime() - t0) * 1e-6;
            }
        }
        double[] s = ms.clone();
        Arrays.sort(s);
        double median = s.length % 2 == 1 ? s[s.length / 2] : 0.5 * (s[s.length / 2 - 1] + s[s.length / 2]);
        return String.format("global-conv %s on %s: median %.3f ms over %d runs (min %.3f)", what, be.name(), median, repeat, s[0]);
    }

    private static SafeTensors.Entry entry(SafeTensors file, String name, int rank) {
        if (!file.has(name)) throw new BadInput("the input file has no tensor '" + name + "' (it has " + file.entries().keySet() + ")");
        SafeTensors.Entry e = file.get(name);
        if (e.shape().length != rank)
            throw new BadInput("tensor '" + name + "' must have " + rank + " dimensions, got " + Arrays.toString(e.shape()));
        if (!e.dtype().equals("F32") && !e.dtype().equals("F64"))
            throw new BadInput("tensor '" + name + "' must be F32 or F64, got " + e.dtype());
        return e;
    }

    private static void expect(String name, SafeTensors.Entry e, int... shape) {
        if (!Arrays.equals(e.shape(), shape))
            throw new BadInput("expected " + name + " " + Arrays.toString(shape) + ", got " + Arrays.toString(e.shape()));
    }

    private static void requireFinite(String name, SafeTensors.Entry e) {
        double[] v = e.values();
        for (int i = 0; i < v.length; i++)
            if (!Double.isFinite(v[i]))
                throw new BadInput("tensor '" + name + "' " + Arrays.toString(e.shape()) + " holds " + v[i] + " at flat index " + i);
    }
}
