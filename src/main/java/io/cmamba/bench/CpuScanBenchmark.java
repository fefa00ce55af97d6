package io.cmamba.bench;

import io.cmamba.cpu.CpuBackend;
import io.cmamba.cpu.CpuScan;
import io.cmamba.cpu.Parallel;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.ScanGrads;
import io.cmamba.tensor.ScanInputs;
import io.cmamba.tensor.Tensor;

import java.util.Arrays;
import java.util.Random;
import java.util.stream.IntStream;

/**
 * Time of the CPU coupled scan, forward and backward, in its sequential and parallel forms, at the
 * model's shapes. Prints the median of repeated runs after warm-up, the elements (m, b, t, d, n) per
 * second, the exponentials per second against the machine's measured Math.exp rate (the ceiling: every
 * pass computes one exp(delta A) per element, the backward from its checkpoints too), and GFLOP/s at a
 * stated count per element (an exp counted as one).
 * <p>
 * Arguments (all optional): repeats (default 7), then any number of shapes "M,B,L,D,N" (default
 * 3,32,50,256,64 and 3,2,2048,256,16).
 */
public final class CpuScanBenchmark {
    private CpuScanBenchmark() {
    }

    /** Arithmetic per element (m, b, t, d, n), an exp counted as one: see the Javadoc of CpuScan. */
    static final double FORWARD_FLOPS = 10, BACKWARD_FLOPS = 30;

    public static void main(String[] args) {
        int repeats = args.length > 0 ? Integer.parseInt(args[0]) : 7;
        String[] shapes = args.length > 1 ? Arrays.copyOfRange(args, 1, args.length) : new String[]{"3,32,50,256,64", "3,2,2048,256,16"};
        System.out.printf("CPU coupled scan, float64, %d threads (%d processors), Java %s, checkpoint every %d steps, scan chunk %d%n",
                Parallel.threads(), Runtime.getRuntime().availableProcessors(), System.getProperty("java.version"),
                CpuScan.CHECKPOINT, CpuScan.SCAN_CHUNK);
        double expRate = expRate();
        System.out.printf("Math.exp ceiling: %.0f M/s on %d threads%n", expRate * 1e-6, Parallel.threads());
        for (String s : shapes) {
            int[] v = Arrays.stream(s.split(",")).mapToInt(Integer::parseInt).toArray();
            run(v[0], v[1], v[2], v[3], v[4], repeats, expRate);
        }
    }

    /** Math.exp calls per second over all threads, on arguments like delta * A (negative, small). */
    static double expRate() {
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
        double median = median(5, op);
        if (sink[0] == 42) System.out.print(""); // keep the loop alive
        return (double) threads * n / median;
    }

    static double median(int repeats, Runnable op) {
        for (int i = 0; i < 2; i++) op.run();
        double[] sec = new double[repeats];
        for (int i = 0; i < repeats; i++) {
            long t0 = System.nanoTime();
            op.run();
            sec[i] = (System.nanoTime() - t0) * 1e-9;
        }
        Arrays.sort(sec);
        return sec[repeats / 2];
    }

    static Tensor random(CpuBackend cpu, Random rnd, double scale, double mean, int... shape) {
        Tensor t = cpu.empty(DType.F64, shape);
        double[] a = CpuBackend.data(t);
        for (int i = 0; i < a.length; i++) a[i] = mean + scale * rnd.nextGaussian();
        return t;
    }

    static void run(int m, int b, int l, int d, int n, int repeats, double expRate) {
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
        report("forward  sequential (the backend's)", elements, FORWARD_FLOPS, 1, expRate, median(repeats, () -> CpuScan.forwardSequential(in, out, fin)));
        report("forward  parallel (G,V) form", elements, FORWARD_FLOPS, 1, expRate, median(repeats, () -> CpuScan.forwardParallel(in, out, fin)));
        report("backward sequential from checkpoints (the backend's)", elements, BACKWARD_FLOPS, 1, expRate,
                median(repeats, () -> CpuScan.backwardSequential(in, saved, dout, dFin, g)));
        report("backward sequential, states recomputed", elements, BACKWARD_FLOPS, 2, expRate,
                median(repeats, () -> CpuScan.backwardSequential(in, null, dout, dFin, g)));
        report("backward parallel (G,V) + reverse (G,W) form", elements, BACKWARD_FLOPS, 1, expRate,
                median(repeats, () -> CpuScan.backwardParallel(in, dout, dFin, g)));
    }

    static void report(String what, double elements, double flopsPerElement, double expsPerElement, double expRate, double seconds) {
        double floor = elements * expsPerElement / expRate;
        System.out.printf("  %-54s median %9.2f ms  %6.1f M elem/s  %5.2f GFLOP/s  exp floor %8.2f ms (%3.0f%%)%n", what, seconds * 1e3,
                elements / seconds * 1e-6, elements * flopsPerElement / seconds * 1e-9, floor * 1e3, 100 * floor / seconds);
    }
}
