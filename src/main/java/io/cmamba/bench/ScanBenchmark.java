package io.cmamba.bench;

import io.cmamba.cuda.Ceilings;
import io.cmamba.cuda.CudaBackend;
import io.cmamba.cuda.CudaDevice;
import io.cmamba.cuda.CudaScan;
import io.cmamba.cuda.KernelWork;
import io.cmamba.cuda.CudaTimer;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Saved;
import io.cmamba.tensor.ScanGrads;
import io.cmamba.tensor.ScanInputs;
import io.cmamba.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.Set;

/**
 * Times the CUDA coupled scan (forward and backward) at the paper's setting and at long sequences
 * with a small batch, against its floor: max(bytes / measured copy bandwidth, exponentials / (16 x
 * SMs x clock), FP32 instructions / (128 x SMs x clock)). Bytes count each input read once and each
 * output written once (the chunk states the forward keeps for the backward are not counted: they
 * are this implementation's choice); exponentials and FP32 operations count what the mathematics
 * needs per (m, b, t, d, n), not what the kernels spend on recomputation.
 * <p>
 * Usage: ScanBenchmark [--quick] [--runs N] [--only NAME[,NAME..]] (NAME: a setting, e.g. paper). Every input exceeds the L2 cache, so the inputs are not
 * rotated. Device events around each run, warm-up first, the median of the runs.
 */
public final class ScanBenchmark {
    private ScanBenchmark() {
    }

    record Setting(String name, int m, int b, int l, int d, int n) {
        /** The forward's least work (bytes, FMAs, exponentials): {@link CudaScan#forwardWork}. */
        KernelWork forward() {
            return CudaScan.forwardWork(m, b, l, d, n);
        }

        /** The backward's least work: {@link CudaScan#backwardWork}. */
        KernelWork backward() {
            return CudaScan.backwardWork(m, b, l, d, n);
        }
    }

    static final List<Setting> SETTINGS = List.of(
            new Setting("paper", 3, 1024, 50, 256, 64),
            new Setting("long2k-n16", 3, 8, 2048, 1536, 16),
            new Setting("long2k-n64", 3, 8, 2048, 1536, 64),
            new Setting("long16k-n16", 3, 8, 16384, 1536, 16),
            new Setting("long16k-n64", 3, 8, 16384, 1536, 64));

    /** A tensor filled with a repeated block of random values (uploaded once, tiled on the device). */
    static Tensor random(CudaBackend gpu, Random rnd, double mean, double scale, int... shape) {
        Tensor t = gpu.empty(DType.F32, shape);
        long n = t.size();
        int block = (int) Math.min(n, 1 << 20);
        float[] v = new float[block];
        for (int i = 0; i < block; i++) v[i] = (float) (mean + scale * rnd.nextGaussian());
        Tensor src = gpu.fromFloats(v, block);
        long rows = n / block;
        Tensor flat = t.reshape(Math.toIntExact(n));
        if (rows > 0) gpu.copyBlock(flat, 0, block, src, 0, 0, Math.toIntExact(rows), block);
        long rest = n - rows * block;
        if (rest > 0) gpu.copyBlock(flat, rows * block, 0, src, 0, 0, 1, (int) rest);
        src.close();
        return t;
    }

    record Row(Setting s, double fwdMs, double bwdMs, double fwdFloor, double bwdFloor, String fwdBound, String bwdBound) {
    }

    /**
     * A setting's result line (ScanReport reads it back): times in ms, each floor as {floor, bytes, exp,
     * fp32} in seconds.
     */
    static String resultLine(Setting s, double fwdMs, double[] fwdFloor, double bwdMs, double[] bwdFloor) {
        return String.format(Locale.ROOT, "%-12s M=%d B=%d L=%d D=%d N=%d: forward %.3f ms (floor %.3f ms: bytes %.3f, exp %.3f, "
                        + "fp32 %.3f), backward %.3f ms (floor %.3f ms: bytes %.3f, exp %.3f, fp32 %.3f)", s.name(), s.m(), s.b(), s.l(),
                s.d(), s.n(), fwdMs, fwdFloor[0] * 1e3, fwdFloor[1] * 1e3, fwdFloor[2] * 1e3, fwdFloor[3] * 1e3,
                bwdMs, bwdFloor[0] * 1e3, bwdFloor[1] * 1e3, bwdFloor[2] * 1e3, bwdFloor[3] * 1e3);
    }

    /** A bad argument, with the usage: BenchArgs.runMain prints it and exits with status 2. */
    private static IllegalArgumentException usage(String why) {
        return new IllegalArgumentException(why + "\nusage: ScanBenchmark [--quick] [--runs N] [--only NAME[,NAME..]]");
    }

    public static void main(String[] args) {
        BenchArgs.runMain("ScanBenchmark", () -> run(args));
    }

    private static void run(String[] args) {
        boolean quick = false;
        int runs = 15;
        Set<String> only = null;
        try {
            for (int i = 0; i < args.length; i++) {
                switch (args[i]) {
                    case "--quick" -> quick = true;
                    case "--runs" -> runs = BenchArgs.positiveInt(args, ++i, "--runs");
                    case "--only" -> only = new HashSet<>(Arrays.asList(BenchArgs.value(args, ++i, "--only").split(",")));
                    default -> throw new IllegalArgumentException("unknown argument '" + args[i] + "'");   // usage added below
                }
            }
        } catch (IllegalArgumentException e) {
            throw usage(e.getMessage());
        }
        if (only != null) {
            List<String> known = SETTINGS.stream().map(Setting::name).toList();
            for (String name : only)
                if (!known.contains(name)) throw usage("--only: no setting '" + name + "'; known: " + known);
        }
        try (CudaBackend gpu = new CudaBackend(0)) {
            CudaDevice dev = gpu.device();
            Ceilings spec = Ceilings.spec(dev);
            if (spec == null) throw new IllegalStateException("the driver does not report the SM clock of " + dev.name()
                    + "; the floor's exponential and FP32 rates need it");
            // the floor: measured copy bandwidth, exponential and FP32 rates from the clock
            Ceilings probed = Ceilings.measure(gpu);
            Ceilings c = new Ceilings(probed.bytesPerSecond(), spec.fmasPerSecond(), spec.expsPerSecond(),
                    "copy measured, rates from the clock");
            System.out.printf(Locale.ROOT, "device %s: %d SMs, clock %.2f GHz; copy bandwidth %.2f TB/s (measured); "
                            + "exp rate %.2f T/s, FP32 rate %.1f T FMA/s (from the clock; probes measured %.2f and %.1f)%n",
                    dev.name(), dev.smCount(), dev.clockKHz() / 1e6, c.bytesPerSecond() / 1e12, c.expsPerSecond() / 1e12,
                    c.fmasPerSecond() / 1e12, probed.expsPerSecond() / 1e12, probed.fmasPerSecond() / 1e12);
            List<Row> rows = new ArrayList<>();
            Random rnd = new Random(1);
            for (Setting s : SETTINGS) {
                if (quick && s.l() > 2048 || only != null && !only.contains(s.name())) continue;
                int m = s.m(), b = s.b(), l = s.l(), d = s.d(), n = s.n();
                double[] aVals = new double[m * d * n];
                for (int i = 0; i < aVals.length; i++) aVals[i] = -Math.exp(Math.log(i % n + 1.0) + 0.1 * rnd.nextGaussian());
                ScanInputs in = new ScanInputs(random(gpu, rnd, 0, 1, m, b, l, d), random(gpu, rnd, -3, 1, m, b, l, d),
                        random(gpu, rnd, 0, 1, m, b, l, d), gpu.fromDoubles(DType.F32, aVals, m, d, n),
                        random(gpu, rnd, 0, 1, m, b, l, n), random(gpu, rnd, 0, 1, m, b, l, n),
                        random(gpu, rnd, 1, 0.1, m, d), null, null);
                Tensor out = gpu.empty(DType.F32, m, b, l, d);
                Tensor dout = random(gpu, rnd, 0, 1, m, b, l, d);
                ScanGrads g = new ScanGrads(gpu.empty(DType.F32, m, b, l, d), gpu.empty(DType.F32, m, b, l, d),
                        gpu.empty(DType.F32, m, b, l, d), gpu.empty(DType.F32, m, d, n), gpu.empty(DType.F32, m, b, l, n),
                        gpu.empty(DType.F32, m, b, l, n), gpu.empty(DType.F32, m, d), null);
                int r = l > 2048 ? Math.max(3, runs / 4) : runs;
                double fwd = CudaTimer.time(gpu.stream(), 2, r, () -> gpu.coupledScanForward(in, out, null).close()).median();
                Saved saved = gpu.coupledScanForward(in, out, null);
                double bwd = CudaTimer.time(gpu.stream(), 1, Math.max(3, r / 2), () -> gpu.coupledScanBackward(in, saved, dout, null, g)).median();
                gpu.synchronize();
                saved.close();
                KernelWork fw = s.forward(), bw = s.backward();
                double fb = fw.bytes() / c.bytesPerSecond(), fe = fw.exps() / c.expsPerSecond(), ff = fw.fmas() / c.fmasPerSecond();
                double bb = bw.bytes() / c.bytesPerSecond(), be = bw.exps() / c.expsPerSecond(), bf = bw.fmas() / c.fmasPerSecond();
                double fFloor = fw.floorMillis(c) / 1e3, bFloor = bw.floorMillis(c) / 1e3;
                String fBound = fw.bound(c), bBound = bw.bound(c);
                rows.add(new Row(s, fwd, bwd, fFloor * 1e3, bFloor * 1e3, fBound, bBound));
                System.out.println(resultLine(s, fwd, new double[]{fFloor, fb, fe, ff}, bwd, new double[]{bFloor, bb, be, bf}));
                for (Tensor t : new Tensor[]{in.u(), in.deltaPre(), in.z(), in.A(), in.B(), in.C(), in.Dskip(), out, dout,
                        g.du(), g.dDeltaPre(), g.dz(), g.dA(), g.dB(), g.dC(), g.dDskip()})
                    t.close();
            }
            System.out.println();
            System.out.println("setting       forward ms   floor  bound  ratio |  backward ms   floor  bound  ratio");
            for (Row x : rows)
                System.out.printf(Locale.ROOT, "%-12s  %10.3f %7.3f %6s %6.2f | %12.3f %7.3f %6s %6.2f%n", x.s().name(), x.fwdMs(),
                        x.fwdFloor(), x.fwdBound(), x.fwdMs() / x.fwdFloor(), x.bwdMs(), x.bwdFloor(), x.bwdBound(), x.bwdMs() / x.bwdFloor());
        }
    }
}
