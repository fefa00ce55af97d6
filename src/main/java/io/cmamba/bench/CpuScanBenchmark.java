package io.cmamba.bench;

import io.cmamba.cpu.CpuBackend;
import io.cmamba.cpu.CpuScan;
import io.cmamba.cpu.Parallel;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.ScanGrads;
import io.cmamba.tensor.ScanInputs;
import io.cmamba.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;

/**
 * Time of the CPU coupled scan, forward and backward, in its sequential and parallel forms, at the
 * model's shapes (float64, the paper's A = -(n + 1), delta around softplus(-4)). For each: the median
 * wall time and the median CPU time of the process (all threads; on a machine shared with other jobs
 * the wall time stretches, the CPU time much less) over repeats after two warm-up runs; elements
 * (m, b, t, d, n) per second; GFLOP/s at a fixed count per element, an exp counted as one (forward 10:
 * delta A, exp, delta B u, Abar s + Bbar u, C h, the sums for G and V; backward 30: the recomputation,
 * 6, and the local gradients, 23, plus the reverse state update); and the share of the CPU time that the
 * exponentials alone need at this machine's Math.exp rate per CPU second, the ceiling of every form:
 * one exp(delta A) per element and pass (two for the backward that recomputes its checkpoints).
 * <p>
 * Arguments (all optional): repeats (default 7), then any number of shapes "M,B,L,D,N" (default
 * 3,32,50,256,64 and 3,2,2048,256,16).
 */
public final class CpuScanBenchmark {
    private CpuScanBenchmark() {
    }

    /** Arithmetic per element (m, b, t, d, n), an exp counted as one (see above). */
    static final double FORWARD_FLOPS = 10, BACKWARD_FLOPS = 30;

    public static void main(String[] args) {
        BenchArgs.runMain("CpuScanBenchmark", () -> run(args));
    }

    private static void run(String[] args) {
        int repeats = args.length > 0 ? BenchArgs.positiveInt(args, 0, "repeats") : 7;
        String[] shapes = args.length > 1 ? Arrays.copyOfRange(args, 1, args.length) : new String[]{"3,32,50,256,64", "3,2,2048,256,16"};
        List<int[]> sizes = new ArrayList<>();   // every shape checked before any work
        for (String s : shapes) {
            String[] parts = s.split(",");
            if (parts.length != 5) throw new IllegalArgumentException("shape '" + s + "': expected M,B,L,D,N");
            int[] v = new int[5];
            for (int i = 0; i < 5; i++) v[i] = BenchArgs.positiveInt(parts, i, "shape '" + s + "' field " + "MBLDN".charAt(i));
            sizes.add(v);
        }
        System.out.printf("CPU coupled scan, float64, %d threads (%d processors), Java %s, checkpoint every %d steps, scan chunk %d%n",
                Parallel.threads(), Runtime.getRuntime().availableProcessors(), System.getProperty("java.version"),
                CpuScan.CHECKPOINT, CpuScan.SCAN_CHUNK);
        double expPerCpuSecond = expPerCpuSecond();
        for (int[] v : sizes) run(v[0], v[1], v[2], v[3], v[4], repeats, expPerCpuSecond);
    }

    /** Math.exp calls per CPU second, on arguments like delta * A (negative, small). */
    static double expPerCpuSecond() {
        int threads = Parallel.threads(), n = 1 << 22;
        double[] x = new double[n];
        Random rnd = new Random(5);
        for (int i = 0; i < n; i++) x[i] = -rnd.nextDouble() * 5;
        double[] sink = new double[threads];
        Runnable op = () -> IntStream.range(0, threads).parallel().forEach(th -> {
            double s = 0;
            for (int i = 0; i < n; i++) s += Math.exp(x[i]);
            sink[th] += s;
        });
        Timing t = time(5, op);
        if (sink[0] == 42) System.out.print(""); // keep the loop alive
        System.out.printf("Math.exp: %.0f M/s wall on %d threads, %.0f M/s per cpu-second%n", threads * n / t.wall * 1e-6, threads,
                threads * n / t.cpu * 1e-6);
        return threads * n / t.cpu;
    }

    /** Median wall time and median CPU time of the whole process (all threads) over repeats, after warm-up. */
    record Timing(double wall, double cpu) {
    }

    static Timing time(int repeats, Runnable op) {
        for (int i = 0; i < 2; i++) op.run();
        double[] sec = new double[repeats], cpu = new double[repeats];
        for (int i = 0; i < repeats; i++) {
            long c0 = processCpuNanos(), t0 = System.nanoTime();
            op.run();
            sec[i] = (System.nanoTime() - t0) * 1e-9;
            cpu[i] = (processCpuNanos() - c0) * 1e-9;
        }
        Arrays.sort(sec);
        Arrays.sort(cpu);
        return new Timing(sec[repeats / 2], cpu[repeats / 2]);
    }

    /** CPU time of this process, all threads: unlike wall time, not inflated by other jobs on a shared machine. */
    static long processCpuNanos() {
        java.lang.management.OperatingSystemMXBean os = java.lang.management.ManagementFactory.getOperatingSystemMXBean();
        return os instanceof com.sun.management.OperatingSystemMXBean sun ? sun.getProcessCpuTime() : 0;
    }

    static Tensor random(CpuBackend cpu, Random rnd, double scale, double mean, int... shape) {
        Tensor t = cpu.empty(DType.F64, shape);
        double[] a = CpuBackend.data(t);
        for (int i = 0; i < a.length; i++) a[i] = mean + scale * rnd.nextGaussian();
        return t;
    }

    static void run(int m, int b, int l, int d, int n, int repeats, double expPerCpuSecond) {
        CpuBackend cpu = new CpuBackend();
        Random rnd = new Random(1);
        Tensor a = cpu.empty(DType.F64, m, d, n);
        double[] av = CpuBackend.data(a);
        for (int i = 0; i < av.length; i++) av[i] = -(i % n + 1); // the paper's initialisation
        ScanInputs in = new ScanInputs(random(cpu, rnd, 1, 0, m, b, l, d), random(cpu, rnd, 1, -4, m, b, l, d),
                random(cpu, rnd, 1, 0, m, b, l, d), a, random(cpu, rnd, 1, 0, m, b, l, n), random(cpu, rnd, 1, 0, m, b, l, n),
                random(cpu, rnd, 0.1, 1, m, d), null, random(cpu, rnd, 1, 0, b, d, n));
        Tensor out = cpu.empty(DType.F64, m, b, l, d), fin = cpu.empty(DType.F64, b, d, n);
        Tensor dout = random(cpu, rnd, 1, 0, m, b, l, d), dFin = random(cpu, rnd, 1, 0, b, d, n);
        ScanGrads g = new ScanGrads(cpu.empty(DType.F64, m, b, l, d), cpu.empty(DType.F64, m, b, l, d), cpu.empty(DType.F64, m, b, l, d),
                cpu.empty(DType.F64, m, d, n), cpu.empty(DType.F64, m, b, l, n), cpu.empty(DType.F64, m, b, l, n),
                cpu.empty(DType.F64, m, d), cpu.empty(DType.F64, b, d, n));
        CpuScan.Checkpoints saved = CpuScan.forwardSequential(in, out, fin);
        double elements = (double) m * b * l * d * n;
        System.out.printf("%nM %d, B %d, L %d, D %d, N %d: %.1f M elements (m,b,t,d,n); checkpoints %.1f MB (u is %.1f MB)%n",
                m, b, l, d, n, elements * 1e-6, saved.size() * 8e-6, (double) m * b * l * d * 8e-6);
        report("forward  sequential (the backend's)", elements, FORWARD_FLOPS, 1, expPerCpuSecond, time(repeats, () -> CpuScan.forwardSequential(in, out, fin)));
        report("forward  parallel (G,V) form", elements, FORWARD_FLOPS, 1, expPerCpuSecond, time(repeats, () -> CpuScan.forwardParallel(in, out, fin)));
        report("backward sequential from checkpoints (the backend's)", elements, BACKWARD_FLOPS, 1, expPerCpuSecond,
                time(repeats, () -> CpuScan.backwardSequential(in, saved, dout, dFin, g)));
        report("backward sequential, states recomputed", elements, BACKWARD_FLOPS, 2, expPerCpuSecond,
                time(repeats, () -> CpuScan.backwardSequential(in, null, dout, dFin, g)));
        report("backward parallel (G,V) + reverse (G,W) form", elements, BACKWARD_FLOPS, 1, expPerCpuSecond,
                time(repeats, () -> CpuScan.backwardParallel(in, dout, dFin, g)));

        globalConvolution(cpu, rnd, m, b, l, d, n, repeats);
    }

    /**
     * The time-invariant mode at the same shape: the kernel [M, M, D, L] (M^2 D N L multiply-adds) and
     * the direct causal convolution, forward and backward (M^2 B D L(L+1)/2 multiply-adds each; the
     * backward does it twice, for du and dKernel). The direct convolution is quadratic in L, so it runs
     * only up to L = 512.
     */
    static void globalConvolution(CpuBackend cpu, Random rnd, int m, int b, int l, int d, int n, int repeats) {
        Tensor a = random(cpu, rnd, 0.1, -1, m, d, n), delta = cpu.empty(DType.F64, m, d);
        cpu.fill(delta, 0.02);
        Tensor bp = random(cpu, rnd, 1, 0, m, n), cp = random(cpu, rnd, 1, 0, m, n), kernel = cpu.empty(DType.F64, m, m, d, l);
        Tensor dA = cpu.empty(DType.F64, m, d, n), dDelta = cpu.empty(DType.F64, m, d), dB = cpu.empty(DType.F64, m, n), dC = cpu.empty(DType.F64, m, n);
        double kernelMacs = (double) m * m * d * n * l;
        Timing k = time(repeats, () -> cpu.globalConvKernel(kernel, a, delta, bp, cp));
        System.out.printf("  %-52s wall %7.1f ms  cpu %7.1f ms  %5.2f GFLOP/s%n", "global conv kernel", k.wall * 1e3, k.cpu * 1e3,
                2 * kernelMacs / k.wall * 1e-9);
        Timing kb = time(repeats, () -> cpu.globalConvKernelBackward(dA, dDelta, dB, dC, kernel, a, delta, bp, cp));
        System.out.printf("  %-52s wall %7.1f ms  cpu %7.1f ms  %5.2f GFLOP/s (3 M^2 D N L multiply-adds)%n", "global conv kernel backward",
                kb.wall * 1e3, kb.cpu * 1e3, 6 * kernelMacs / kb.wall * 1e-9);
        if (l > 512) {
            System.out.printf("  global conv forward/backward: skipped at L %d (direct convolution, quadratic in L)%n", l);
            return;
        }
        Tensor u = random(cpu, rnd, 1, 0, m, b, l, d), ds = random(cpu, rnd, 1, 0, m, d), y = cpu.empty(DType.F64, m, b, l, d);
        Tensor dy = random(cpu, rnd, 1, 0, m, b, l, d), du = cpu.empty(DType.F64, m, b, l, d), dK = cpu.empty(DType.F64, m, m, d, l), dDs = cpu.empty(DType.F64, m, d);
        double convMacs = (double) m * m * b * d * l * (l + 1) / 2;
        Timing f = time(repeats, () -> cpu.globalConvForward(y, u, kernel, ds));
        System.out.printf("  %-52s wall %7.1f ms  cpu %7.1f ms  %5.2f GFLOP/s%n", "global conv forward (direct)", f.wall * 1e3, f.cpu * 1e3,
                2 * convMacs / f.wall * 1e-9);
        Timing bw = time(repeats, () -> cpu.globalConvBackward(du, dK, dDs, dy, u, kernel, ds));
        System.out.printf("  %-52s wall %7.1f ms  cpu %7.1f ms  %5.2f GFLOP/s%n", "global conv backward (direct)", bw.wall * 1e3, bw.cpu * 1e3,
                4 * convMacs / bw.wall * 1e-9);
    }

    /**
     * One line: wall and CPU time, throughput per wall second and per CPU second, and the share of the CPU
     * time that the exponentials alone take at the machine's measured rate per CPU second.
     */
    static void report(String what, double elements, double flopsPerElement, double expsPerElement, double expPerCpuSecond, Timing t) {
        double expCpu = elements * expsPerElement / expPerCpuSecond;
        System.out.printf("  %-52s wall %7.1f ms  cpu %7.1f ms  %5.1f M elem/s  %5.2f GFLOP/s  %5.1f M elem/cpu-s  exps %3.0f%% of cpu%n",
                what, t.wall * 1e3, t.cpu * 1e3, elements / t.wall * 1e-6, elements * flopsPerElement / t.wall * 1e-9,
                elements / t.cpu * 1e-6, 100 * expCpu / t.cpu);
    }
}
