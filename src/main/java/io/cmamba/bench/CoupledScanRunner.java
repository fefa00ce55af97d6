package io.cmamba.bench;

import io.cmamba.cuda.CudaBackend;
import io.cmamba.cuda.CudaTimer;
import io.cmamba.files.SafeTensors;
import io.cmamba.tensor.Backend;
import io.cmamba.tensor.Backends;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Saved;
import io.cmamba.tensor.ScanGrads;
import io.cmamba.tensor.ScanInputs;
import io.cmamba.tensor.Tensor;

import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * {@code cmamba kernel coupled-scan --in FILE.safetensors --out FILE.safetensors [--backward]
 * [--device cpu|cuda] [--repeat N]}: runs the coupled scan on tensors from a file, so that an
 * outside implementation (bench/peers/coupled_scan_torch.py) can be compared with this one.
 * <p>
 * Input tensors (float32; delta before softplus): u, delta, z [M,B,L,D], A [M,D,N], B, C [M,B,L,N],
 * Dskip [M,D], optional lengths [B] int32; with --backward also dout [M,B,L,D]. Output: out
 * [M,B,L,D]; with --backward also du, ddelta (before softplus), dz, dA, dB, dC, dDskip. Prints the
 * median time of --repeat runs (device events on cuda, wall clock on cpu). A missing or malformed
 * file, a missing tensor or a wrong shape: one line on stderr and exit code 2.
 */
public final class CoupledScanRunner {
    private CoupledScanRunner() {
    }

    private static final String USAGE = "usage: cmamba kernel coupled-scan --in FILE.safetensors --out FILE.safetensors "
            + "[--backward] [--device cpu|cuda] [--repeat N]";

    /** A problem with the arguments or the input file: reported in one line, exit code 2. */
    static final class BadInput extends Exception {
        BadInput(String message) {
            super(message);
        }
    }

    public static void main(String[] args) {
        System.exit(run(args));
    }

    public static int run(String[] args) {
        try {
            return execute(args);
        } catch (BadInput e) {
            System.err.println("coupled-scan: " + e.getMessage());
            return 2;
        }
    }

    private static int execute(String[] args) throws BadInput {
        String in = null, out = null, device = "cuda";
        boolean backward = false;
        int repeat = 1;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "--in" -> in = value(args, ++i, a);
                case "--out" -> out = value(args, ++i, a);
                case "--device" -> device = value(args, ++i, a);
                case "--backward" -> backward = true;
                case "--repeat" -> {
                    try {
                        repeat = BenchArgs.positiveInt(args, ++i, a);
                    } catch (IllegalArgumentException e) {
                        throw new BadInput(e.getMessage());
                    }
                }
                default -> throw new BadInput("unknown argument '" + a + "'; " + USAGE);
            }
        }
        if (in == null || out == null) throw new BadInput("--in and --out are required; " + USAGE);
        if (!device.equals("cpu") && !device.equals("cuda") && !device.startsWith("cuda:"))
            throw new BadInput("--device must be cpu or cuda, got '" + device + "'");

        SafeTensors file;
        try {
            file = SafeTensors.read(Path.of(in));
        } catch (NoSuchFileException e) {
            throw new BadInput("cannot read " + in + ": no such file");
        } catch (IOException | RuntimeException e) {
            String why = String.valueOf(e.getMessage());
            if (why.startsWith(in + ": ")) why = why.substring(in.length() + 2);   // the path is named once
            throw new BadInput("cannot read " + in + ": " + why);
        }
        SafeTensors.Entry u = need(file, "u", "F32", 4);
        int[] s = u.shape();
        int m = s[0], b = s[1], l = s[2], d = s[3];
        SafeTensors.Entry a = need(file, "A", "F32", 3);
        int n = a.shape()[2];
        shape(a, "A", m, d, n);
        shape(need(file, "delta", "F32", 4), "delta", m, b, l, d);
        shape(need(file, "z", "F32", 4), "z", m, b, l, d);
        shape(need(file, "B", "F32", 4), "B", m, b, l, n);
        shape(need(file, "C", "F32", 4), "C", m, b, l, n);
        shape(need(file, "Dskip", "F32", 2), "Dskip", m, d);
        if (file.has("lengths")) {
            SafeTensors.Entry len = need(file, "lengths", "I32", 1);
            shape(len, "lengths", b);
            for (int i = 0; i < b; i++) {
                int v = (int) len.values()[i];
                if (v < 0 || v > l) throw new BadInput("lengths[" + i + "] is " + v + ", outside [0, " + l + "]");
            }
        }
        if (backward) shape(need(file, "dout", "F32", 4), "dout", m, b, l, d);

        Backends.Choice choice;
        try {
            choice = Backends.open(device);
        } catch (RuntimeException e) {
            throw new BadInput(e.getMessage());
        }
        try (Backend be = choice.backend()) {
            ScanInputs inputs = new ScanInputs(load(be, file, "u"), load(be, file, "delta"), load(be, file, "z"), load(be, file, "A"),
                    load(be, file, "B"), load(be, file, "C"), load(be, file, "Dskip"),
                    file.has("lengths") ? be.fromInts(file.get("lengths").ints(), b) : null, null);
            Tensor o = be.empty(DType.F32, m, b, l, d);
            double fwdMs = time(be, repeat, () -> be.coupledScanForward(inputs, o, null).close());
            SafeTensors result = new SafeTensors();
            result.putFloats("out", new int[]{m, b, l, d}, o.toFloats());
            String times = String.format(Locale.ROOT, "forward %.3f ms", fwdMs);
            if (backward) {
                Tensor dout = load(be, file, "dout");
                ScanGrads g = new ScanGrads(be.empty(DType.F32, m, b, l, d), be.empty(DType.F32, m, b, l, d),
                        be.empty(DType.F32, m, b, l, d), be.empty(DType.F32, m, d, n), be.empty(DType.F32, m, b, l, n),
                        be.empty(DType.F32, m, b, l, n), be.empty(DType.F32, m, d), null);
                Saved saved = be.coupledScanForward(inputs, o, null);
                double bwdMs = time(be, repeat, () -> be.coupledScanBackward(inputs, saved, dout, null, g));
                saved.close();
                result.putFloats("du", new int[]{m, b, l, d}, g.du().toFloats());
                result.putFloats("ddelta", new int[]{m, b, l, d}, g.dDeltaPre().toFloats());
                result.putFloats("dz", new int[]{m, b, l, d}, g.dz().toFloats());
                result.putFloats("dA", new int[]{m, d, n}, g.dA().toFloats());
                result.putFloats("dB", new int[]{m, b, l, n}, g.dB().toFloats());
                result.putFloats("dC", new int[]{m, b, l, n}, g.dC().toFloats());
                result.putFloats("dDskip", new int[]{m, d}, g.dDskip().toFloats());
                times += String.format(Locale.ROOT, ", backward %.3f ms", bwdMs);
            }
            be.synchronize();
            try {
                result.write(Path.of(out));
            } catch (IOException e) {
                throw new BadInput("cannot write " + out + ": " + e.getMessage());
            }
            System.out.printf(Locale.ROOT, "coupled-scan on %s: M=%d B=%d L=%d D=%d N=%d, median of %d: %s%n", be.name(), m, b, l, d, n,
                    repeat, times);
            return 0;
        } catch (IllegalArgumentException e) {
            throw new BadInput(e.getMessage());
        }
    }

    private static String value(String[] args, int i, String flag) throws BadInput {
        try {
            return BenchArgs.value(args, i, flag);
        } catch (IllegalArgumentException e) {
            throw new BadInput(e.getMessage() + "; " + USAGE);
        }
    }

    private static SafeTensors.Entry need(SafeTensors f, String name, String dtype, int rank) throws BadInput {
        if (!f.has(name)) throw new BadInput("input file has no tensor '" + name + "' (it has " + f.entries().keySet() + ")");
        SafeTensors.Entry e = f.get(name);
        if (!e.dtype().equals(dtype)) throw new BadInput("tensor '" + name + "' is " + e.dtype() + ", expected " + dtype);
        if (e.shape().length != rank)
            throw new BadInput("tensor '" + name + "' has shape " + Arrays.toString(e.shape()) + ", expected " + rank + " dimensions");
        return e;
    }

    private static void shape(SafeTensors.Entry e, String name, int... dims) throws BadInput {
        if (!Arrays.equals(e.shape(), dims))
            throw new BadInput("expected " + name + " " + Arrays.toString(dims) + ", got " + Arrays.toString(e.shape()));
    }

    private static Tensor load(Backend be, SafeTensors f, String name) {
        SafeTensors.Entry e = f.get(name);
        return be.fromFloats(e.floats(), e.shape());
    }

    /** Median milliseconds of {@code repeat} runs (device events on the GPU, wall clock on the CPU). */
    private static double time(Backend be, int repeat, Runnable body) {
        if (be instanceof CudaBackend gpu) return CudaTimer.time(gpu.stream(), repeat > 1 ? 1 : 0, repeat, body).median();
        List<Double> ms = new ArrayList<>();
        for (int i = 0; i < repeat; i++) {
            long t0 = System.nanoTime();
            body.run();
            be.synchronize();
            ms.add((System.nanoTime() - t0) / 1e6);
        }
        ms.sort(null);
        return repeat % 2 == 1 ? ms.get(repeat / 2) : 0.5 * (ms.get(repeat / 2 - 1) + ms.get(repeat / 2));
    }
}
