package io.cmamba.bench;

import io.cmamba.cuda.CudaBackend;
import io.cmamba.cuda.CudaGlobalConv;
import io.cmamba.cuda.CudaGlobalConv.Path;
import io.cmamba.cuda.CudaTimer;
import io.cmamba.cuda.DeviceBuffer;
import io.cmamba.cuda.Dim3;
import io.cmamba.tensor.Activation;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Saved;
import io.cmamba.tensor.ScanGrads;
import io.cmamba.tensor.ScanInputs;
import io.cmamba.tensor.Tensor;
import jcuda.driver.JCudaDriver;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * The time-invariant coupled SSM two ways on the GPU, at the paper's widths (M 3, d_model 128 so
 * D 256, N 64) across lengths L (default 64 .. 16384), forward and backward:
 * <ul>
 *   <li>convolution path: kernel materialisation + global convolution (AUTO: direct below
 *       {@link CudaGlobalConv#FFT_MIN_LENGTH}, FFT from it) + the gate y * silu(z);</li>
 *   <li>scan path: {@code CudaBackend.coupledScanForward/Backward} with delta, B and C constant over
 *       batch and time (the scan's API takes them per (b, t), so they are materialised).</li>
 * </ul>
 * Both sides see the same tensors. The batch is chosen so that B * L = 131072 tokens at every L (B 2048
 * at L 64, B 8 at 16384): enough independent work to fill the GPU at every length. The direct and FFT
 * convolutions are also timed alone, which is where {@link CudaGlobalConv#FFT_MIN_LENGTH} comes from.
 * Times: device events, 2 warm-up runs, then the median of the timed runs.
 * <p>
 * Floors: for each path, max(bytes / measured bandwidth, FLOPs / measured FP32 rate), counting the
 * fewest bytes its algorithm must move (inputs read once, outputs and intermediates it must
 * materialise written once) and its arithmetic (see {@link #convFlops}, {@link #scanFlops}). The two
 * ceilings are measured first: a device-to-device copy (bytes read + written) and an FMA-bound kernel.
 * <p>
 * Arguments (optional): {@code --lengths 64,128,...} {@code --tokens 131072} {@code --runs 10}
 * {@code --no-scan}. With REPORT_DIR set, the table is also written there as gconv-bench.csv.
 */
public final class GlobalConvBenchmark {
    private GlobalConvBenchmark() {
    }

    static final int M = 3, D = 256, N = 64;

    public static void main(String[] args) {
        BenchArgs.runMain("GlobalConvBenchmark", () -> run(args));
    }

    private static void run(String[] args) throws IOException {
        int[] lengths = {64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384};
        int tokens = 131072, runs = 10;
        boolean scan = true;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--lengths" -> lengths = java.util.Arrays.stream(args[++i].split(",")).mapToInt(Integer::parseInt).toArray();
                case "--tokens" -> tokens = Integer.parseInt(args[++i]);
                case "--runs" -> runs = Integer.parseInt(args[++i]);
                case "--no-scan" -> scan = false;
                default -> throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        try (CudaBackend g = new CudaBackend(0); Workspace w = new Workspace(g, tokens)) {
            System.out.println("device: " + g.device().describe());
            double bw = bandwidth(g), fp32 = fp32Rate(g);
            System.out.printf(Locale.ROOT, "ceilings: copy %.0f GB/s (read + write), FP32 FMA %.1f TFLOP/s%n", bw / 1e9, fp32 / 1e12);
            System.out.printf(Locale.ROOT, "M %d, D %d, N %d, B * L = %d tokens; times in ms (median of %d after 2 warm-up runs)%n",
                    M, D, N, tokens, runs);

            // phase 1: the two convolution algorithms alone, and the kernel materialisation
            System.out.println("\nconvolution algorithms (y from u and K; backward du, dK, dDskip), kernel materialisation:");
            System.out.printf(Locale.ROOT, "%6s %5s | %8s %8s %8s %8s | %8s %8s | %6s %6s%n", "L", "B", "dir fwd", "fft fwd",
                    "dir bwd", "fft bwd", "K fwd", "K bwd", "K f/fl", "K b/fl");
            double[][] algo = new double[lengths.length][];
            for (int i = 0; i < lengths.length; i++) {
                int l = lengths[i], b = Math.max(1, tokens / l);
                algo[i] = measureAlgorithms(g, w, b, l, runs);
                double kf = floorMs((double) M * M * D * l * 4, 2.0 * M * M * D * N * l, bw, fp32);
                double kb = floorMs((double) M * M * D * l * 4, 4.0 * M * M * D * N * l, bw, fp32);
                System.out.printf(Locale.ROOT, "%6d %5d | %8.3f %8.3f %8.3f %8.3f | %8.3f %8.3f | %6.2f %6.2f%n", l, b, algo[i][0],
                        algo[i][1], algo[i][2], algo[i][3], algo[i][4], algo[i][5], algo[i][4] / kf, algo[i][5] / kb);
            }
            // the crossover: the shortest length from which FFT wins forward + backward at every longer length
            int crossover = Integer.MAX_VALUE;
            for (int i = lengths.length - 1; i >= 0; i--) {
                if (algo[i][1] + algo[i][3] < algo[i][0] + algo[i][2]) crossover = lengths[i];
                else break;
            }
            System.out.println("direct/FFT crossover (forward + backward): FFT from L = "
                    + (crossover == Integer.MAX_VALUE ? "never in this sweep" : Integer.toString(crossover))
                    + " (CudaGlobalConv.FFT_MIN_LENGTH is " + CudaGlobalConv.FFT_MIN_LENGTH + ")");

            // phase 2: the whole convolution path (on the measured crossover) against the scan path
            System.out.println("\nconvolution path (kernel + convolution + gate) against the scan path:");
            System.out.printf(Locale.ROOT, "%6s %5s %6s | %8s %8s %8s | %8s %8s %8s | %6s %6s %6s %6s%n", "L", "B", "conv", "conv fwd",
                    "scan fwd", "scan/cv", "conv bwd", "scan bwd", "scan/cv", "c f/fl", "s f/fl", "c b/fl", "s b/fl");
            List<String> csv = new ArrayList<>();
            csv.add("L,B,direct_fwd,fft_fwd,direct_bwd,fft_bwd,kernel_fwd,kernel_bwd,conv_algorithm,conv_path_fwd,conv_path_bwd,"
                    + "scan_fwd,scan_bwd,conv_fwd_floor,conv_bwd_floor,scan_fwd_floor,scan_bwd_floor");
            for (int i = 0; i < lengths.length; i++) {
                int l = lengths[i], b = Math.max(1, tokens / l);
                Path path = l >= crossover ? Path.FFT : Path.DIRECT;
                double[] r = measurePaths(g, w, b, l, runs, path, scan);
                double[] cf = convFlops(b, l, path), sf = scanFlops(b, l);
                double cfl = floorMs(convBytes(b, l, false), cf[0], bw, fp32), cbl = floorMs(convBytes(b, l, true), cf[1], bw, fp32);
                double sfl = floorMs(scanBytes(b, l, false), sf[0], bw, fp32), sbl = floorMs(scanBytes(b, l, true), sf[1], bw, fp32);
                System.out.printf(Locale.ROOT, "%6d %5d %6s | %8.3f %8s %8s | %8.3f %8s %8s | %6.2f %6s %6.2f %6s%n", l, b,
                        path == Path.FFT ? "fft" : "direct", r[0], fmt(r[2]), ratio(r[2], r[0]), r[1], fmt(r[3]), ratio(r[3], r[1]),
                        r[0] / cfl, ratio(r[2], sfl), r[1] / cbl, ratio(r[3], sbl));
                csv.add(String.format(Locale.ROOT, "%d,%d,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%s,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f",
                        l, b, algo[i][0], algo[i][1], algo[i][2], algo[i][3], algo[i][4], algo[i][5], path, r[0], r[1], r[2], r[3],
                        cfl, cbl, sfl, sbl));
            }
            System.out.println("scan/cv: scan time over convolution time (> 1: the convolution path is faster); "
                    + "f/fl, b/fl: time over the floor, forward and backward");
            String dir = System.getenv("REPORT_DIR");
            if (dir != null) Files.write(Paths.get(dir, "gconv-bench.csv"), csv);
        }
    }

    private static String fmt(double v) {
        return Double.isNaN(v) ? "n/a" : String.format(Locale.ROOT, "%.3f", v);
    }

    private static String ratio(double t, double floor) {
        return Double.isNaN(t) ? "n/a" : String.format(Locale.ROOT, "%.2f", t / floor);
    }

    /** Tensors of tokens * D elements per modality, reshaped to [M, B, L, D] for each L (B * L fixed). */
    static final class Workspace implements AutoCloseable {
        final Tensor u, z, dout, deltaPre, bt, ct, y, gate, dy, du, dz, dyz, duScan, dDeltaPre, dzScan, dBt, dCt, outScan;
        final Tensor a, delta, bm, cm, dskip, dA, dDelta, dB, dC, dDskip, dAScan, dDskipScan;
        final List<Tensor> all = new ArrayList<>();

        Workspace(CudaBackend g, int tokens) {
            SplittableRandom rnd = new SplittableRandom(1);
            int big = M * tokens * D, small = M * tokens * N;
            u = add(g.fromFloats(uniform(rnd, big, -1, 1), big));
            z = add(g.fromFloats(uniform(rnd, big, -1, 1), big));
            dout = add(g.fromFloats(uniform(rnd, big, -1, 1), big));
            // time-invariant parameters: A S4D-real, delta in [1e-3, 1e-1], B and C random
            float[] av = new float[M * D * N], dv = new float[M * D], bv = uniform(rnd, M * N, -1, 1), cv = uniform(rnd, M * N, -1, 1);
            for (int i = 0; i < av.length; i++) av[i] = -(i % N + 1);
            for (int i = 0; i < dv.length; i++) dv[i] = (float) Math.exp(Math.log(1e-3) + rnd.nextDouble() * Math.log(100));
            a = add(g.fromFloats(av, M, D, N));
            delta = add(g.fromFloats(dv, M, D));
            bm = add(g.fromFloats(bv, M, N));
            cm = add(g.fromFloats(cv, M, N));
            dskip = add(g.fromFloats(uniform(rnd, M * D, 0.5, 1.5), M, D));
            float[] pre = new float[big], bb = new float[small], cc = new float[small], preMD = new float[M * D];
            // the scan applies softplus to deltaPre: its inverse gives back delta
            for (int i = 0; i < preMD.length; i++) preMD[i] = (float) Math.log(Math.expm1(dv[i]));
            for (int m = 0; m < M; m++)
                for (long s = 0; s < tokens; s++) {
                    for (int d = 0; d < D; d++) pre[(int) ((m * (long) tokens + s) * D + d)] = preMD[m * D + d];
                    for (int n = 0; n < N; n++) {
                        bb[(int) ((m * (long) tokens + s) * N + n)] = bv[m * N + n];
                        cc[(int) ((m * (long) tokens + s) * N + n)] = cv[m * N + n];
                    }
                }
            deltaPre = add(g.fromFloats(pre, big));
            bt = add(g.fromFloats(bb, small));
            ct = add(g.fromFloats(cc, small));
            y = add(g.empty(DType.F32, big));
            gate = add(g.empty(DType.F32, big));
            dy = add(g.empty(DType.F32, big));
            du = add(g.empty(DType.F32, big));
            dz = add(g.empty(DType.F32, big));
            dyz = add(g.empty(DType.F32, big));
            outScan = add(g.empty(DType.F32, big));
            duScan = add(g.empty(DType.F32, big));
            dDeltaPre = add(g.empty(DType.F32, big));
            dzScan = add(g.empty(DType.F32, big));
            dBt = add(g.empty(DType.F32, small));
            dCt = add(g.empty(DType.F32, small));
            dA = add(g.empty(DType.F32, M, D, N));
            dDelta = add(g.empty(DType.F32, M, D));
            dB = add(g.empty(DType.F32, M, N));
            dC = add(g.empty(DType.F32, M, N));
            dDskip = add(g.empty(DType.F32, M, D));
            dAScan = add(g.empty(DType.F32, M, D, N));
            dDskipScan = add(g.empty(DType.F32, M, D));
        }

        private Tensor add(Tensor t) {
            all.add(t);
            return t;
        }

        @Override
        public void close() {
            for (Tensor t : all) t.close();
        }
    }

    static float[] uniform(SplittableRandom rnd, int n, double lo, double hi) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (lo + (hi - lo) * rnd.nextDouble());
        return v;
    }

    /** {direct fwd, FFT fwd, direct bwd, FFT bwd, kernel fwd, kernel bwd} in ms. */
    static double[] measureAlgorithms(CudaBackend g, Workspace w, int b, int l, int runs) {
        Tensor u = w.u.reshape(M, b, l, D), y = w.y.reshape(M, b, l, D), du = w.du.reshape(M, b, l, D);
        Tensor dout = w.dout.reshape(M, b, l, D);
        try (Tensor k = g.empty(DType.F32, M, M, D, l); Tensor dk = g.empty(DType.F32, M, M, D, l)) {
            // direct sums grow as L^2: fewer timed runs where one run is long
            int slow = l >= 4096 ? 3 : runs;
            double kFwd = time(g, runs, () -> CudaGlobalConv.kernel(g, k, w.a, w.delta, w.bm, w.cm));
            double kBwd = time(g, runs, () -> CudaGlobalConv.kernelBackward(g, w.dA, w.dDelta, w.dB, w.dC, k, w.a, w.delta, w.bm, w.cm));
            double dirFwd = time(g, slow, () -> CudaGlobalConv.forward(g, Path.DIRECT, y, u, k, w.dskip));
            double fftFwd = time(g, runs, () -> CudaGlobalConv.forward(g, Path.FFT, y, u, k, w.dskip));
            double dirBwd = time(g, slow, () -> CudaGlobalConv.backward(g, Path.DIRECT, du, dk, w.dDskip, dout, u, k, w.dskip));
            double fftBwd = time(g, runs, () -> CudaGlobalConv.backward(g, Path.FFT, du, dk, w.dDskip, dout, u, k, w.dskip));
            return new double[]{dirFwd, fftFwd, dirBwd, fftBwd, kFwd, kBwd};
        }
    }

    /** {conv path fwd, conv path bwd, scan fwd, scan bwd} in ms (NaN where the scan is not built). */
    static double[] measurePaths(CudaBackend g, Workspace w, int b, int l, int runs, Path path, boolean withScan) {
        Tensor u = w.u.reshape(M, b, l, D), z = w.z.reshape(M, b, l, D), dout = w.dout.reshape(M, b, l, D);
        Tensor y = w.y.reshape(M, b, l, D), gate = w.gate.reshape(M, b, l, D), dy = w.dy.reshape(M, b, l, D);
        Tensor du = w.du.reshape(M, b, l, D), dz = w.dz.reshape(M, b, l, D), dyz = w.dyz.reshape(M, b, l, D);
        try (Tensor k = g.empty(DType.F32, M, M, D, l); Tensor dk = g.empty(DType.F32, M, M, D, l)) {
            int slow = l >= 4096 && path == Path.DIRECT ? 3 : runs;
            // the whole convolution path as a layer runs it: kernel, convolution, gate out = y silu(z)
            double convFwd = time(g, slow, () -> {
                CudaGlobalConv.kernel(g, k, w.a, w.delta, w.bm, w.cm);
                CudaGlobalConv.forward(g, path, y, u, k, w.dskip);
                g.activationForward(Activation.SILU, gate, z);
                g.mul(gate, gate, y);
            });
            double convBwd = time(g, slow, () -> {
                // dy = dout silu(z), dz = dout y silu'(z)
                g.activationForward(Activation.SILU, gate, z);
                g.mul(dy, dout, gate);
                g.mul(dyz, dout, y);
                g.activationBackward(Activation.SILU, dz, dyz, z);
                CudaGlobalConv.backward(g, path, du, dk, w.dDskip, dy, u, k, w.dskip);
                CudaGlobalConv.kernelBackward(g, w.dA, w.dDelta, w.dB, w.dC, dk, w.a, w.delta, w.bm, w.cm);
            });
            double scanFwd = Double.NaN, scanBwd = Double.NaN;
            if (withScan) {
                ScanInputs in = new ScanInputs(u, w.deltaPre.reshape(M, b, l, D), z, w.a, w.bt.reshape(M, b, l, N),
                        w.ct.reshape(M, b, l, N), w.dskip, null, null);
                Tensor out = w.outScan.reshape(M, b, l, D);
                try {
                    scanFwd = time(g, runs, () -> {
                        try (Saved s = g.coupledScanForward(in, out, null)) {
                            // the saved states go back to the allocator once the work is queued
                        }
                    });
                    ScanGrads grads = new ScanGrads(w.duScan.reshape(M, b, l, D), w.dDeltaPre.reshape(M, b, l, D),
                            w.dzScan.reshape(M, b, l, D), w.dAScan, w.dBt.reshape(M, b, l, N), w.dCt.reshape(M, b, l, N),
                            w.dDskipScan, null);
                    try (Saved s = g.coupledScanForward(in, out, null)) {
                        scanBwd = time(g, runs, () -> g.coupledScanBackward(in, s, dout, null, grads));
                    }
                } catch (UnsupportedOperationException notBuilt) {
                    System.out.println("scan path skipped: " + notBuilt.getMessage());
                }
            }
            return new double[]{convFwd, convBwd, scanFwd, scanBwd};
        }
    }

    static double time(CudaBackend g, int runs, Runnable body) {
        return CudaTimer.time(g.stream(), 2, runs, body).median();
    }

    static double floorMs(double bytes, double flops, double bw, double fp32) {
        return 1e3 * Math.max(bytes / bw, flops / fp32);
    }

    /**
     * Bytes the convolution path must move. Forward: read u, z; write out; write K and read it back
     * once (M^2 D L). Backward: read u, z, y (recomputing it would cost a convolution), dout, K; write
     * du, dz, dK and read it once more for the kernel backward.
     */
    static double convBytes(int b, int l, boolean backward) {
        double act = (double) M * b * l * D * 4, kern = (double) M * M * D * l * 4;
        return backward ? 7 * act + 3 * kern : 3 * act + 2 * kern;
    }

    /**
     * FLOPs of the convolution path: kernel materialisation 2 M^2 D N L (and twice that for its
     * backward); the convolution by the path AUTO takes: direct 2 M^2 B D L(L+1)/2 multiply-adds per
     * product (the backward has two: du and dK), FFT 2.5 n log2 n per real transform of n points
     * (forward: M B D + M^2 D rows, and M B D inverse; backward: 2 M B D + M^2 D forward, M B D + M^2 D
     * inverse) plus 8 flops per complex multiply-add; the gate about 10 per element.
     * Returns {forward, backward}.
     */
    static double[] convFlops(int b, int l, Path path) {
        double act = (double) M * b * l * D;
        double kern = 2.0 * M * M * D * N * l;
        double conv;
        double convB;
        if (path == Path.DIRECT) {
            conv = 2.0 * M * M * b * D * l * (l + 1.0) / 2;
            convB = 2 * conv;
        } else {
            long n = fftLength(l);
            double t = 2.5 * n * (Math.log(n) / Math.log(2)), f = n / 2 + 1;
            double rowsX = (double) M * b * D, rowsK = (double) M * M * D;
            conv = t * (2 * rowsX + rowsK) + 8.0 * M * M * b * D * f;
            convB = t * (3 * rowsX + 2 * rowsK) + 16.0 * M * M * b * D * f;
        }
        return new double[]{kern + conv + 10 * act, 2 * kern + convB + 15 * act};
    }

    static long fftLength(int l) {
        long need = 2L * l - 1, n = 2;
        while (n < need) n *= 2;
        if (n >= 8 && 3 * n / 4 >= need) n = 3 * n / 4;
        return n;
    }

    /**
     * Bytes of the scan path: forward reads u, deltaPre, z (M B L D each), B, C (M B L N each) and
     * writes out; the backward reads those and dout and writes du, dDeltaPre, dz, dB, dC.
     */
    static double scanBytes(int b, int l, boolean backward) {
        double act = (double) M * b * l * D * 4, st = (double) M * b * l * N * 4;
        return backward ? 7 * act + 4 * st : 4 * act + 2 * st;
    }

    /**
     * FLOPs of the scan: per (m, b, t, d, n) about 11 (delta A, its exponential counted as one, the
     * mean into G, delta B u into V, s = G s + V shared by the M chains, h = Abar s + Bbar u, y += C h);
     * the backward about three times that (it recomputes the states, then runs the reverse scan and
     * the products of MODEL.md). Returns {forward, backward}.
     */
    static double[] scanFlops(int b, int l) {
        double e = (double) M * b * l * D * N;
        return new double[]{11 * e, 33 * e};
    }

    /** Device-to-device copy of 1 GiB, bytes read + written per second. */
    static double bandwidth(CudaBackend g) {
        long bytes = 1L << 30;
        try (DeviceBuffer src = g.scratch(bytes); DeviceBuffer dst = g.scratch(bytes)) {
            JCudaDriver.cuMemsetD32Async(src.pointer(0), 0x3f800000, bytes / 4, g.stream().handle());
            double ms = time(g, 10, () -> check(JCudaDriver.cuMemcpyDtoDAsync(dst.pointer(0), src.pointer(0), bytes,
                    g.stream().handle())));
            return 2.0 * bytes / (ms * 1e-3);
        }
    }

    private static void check(int r) {
        if (r != 0) throw new IllegalStateException("cuMemcpyDtoDAsync failed with " + io.cmamba.cuda.Cuda.name(r));
    }

    /** FP32 FMA rate of an FMA-bound kernel filling every SM. */
    static double fp32Rate(CudaBackend g) {
        int blocks = g.device().smCount() * 8, threads = 256, iters = 1 << 16;
        try (DeviceBuffer out = g.scratch(4L * blocks * threads)) {
            var f = g.kernel("global_conv.cu", "gc_fma_probe");
            double ms = time(g, 5, () -> g.launch(f, Dim3.of(blocks), Dim3.of(threads), 0, out, iters, 0.999f, 1e-3f));
            return (double) blocks * threads * iters * 8 * 2 / (ms * 1e-3);
        }
    }
}
