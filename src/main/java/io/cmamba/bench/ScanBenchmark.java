package io.cmamba.bench;

import io.cmamba.cuda.CudaBackend;
import io.cmamba.cuda.CudaTimer;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Saved;
import io.cmamba.tensor.ScanGrads;
import io.cmamba.tensor.ScanInputs;
import io.cmamba.tensor.Tensor;

import java.util.Locale;
import java.util.Random;

/**
 * Times the CUDA coupled scan, forward and backward, at the paper's setting and at long sequences,
 * against its floor: max(bytes / measured copy bandwidth, exponentials / (16 per SM per clock),
 * FMAs / FP32 rate). Bytes count each input read once and each output written once; the backward
 * reads u, deltaPre, z, B, C, dout and writes du, dDeltaPre, dz, dB, dC. Device events, warm-up,
 * median of the repeats. Usage: java ... io.cmamba.bench.ScanBenchmark [repeats]
 */
public final class ScanBenchmark {
    private ScanBenchmark() {
    }

    public static void main(String[] args) {
        int repeats = args.length > 0 ? Integer.parseInt(args[0]) : 20;
        int[][] cases = {{3, 1024, 50, 256, 64}, {3, 8, 2048, 1536, 16}, {3, 8, 2048, 1536, 64}, {3, 8, 16384, 1536, 16},
                {3, 8, 16384, 1536, 64}};
        try (CudaBackend gpu = new CudaBackend(0)) {
            double copy = copyBandwidth(gpu);
            int sms = gpu.device().smCount();
            // the boost clock: the driver reports it, and the floor should not flatter the kernel

            double clockHz = gpu.device().clockKHz() * 1e3;
            double expRate = 16.0 * sms * clockHz, fmaRate = 128.0 * sms * clockHz;
            System.out.printf(Locale.ROOT, "device %s; copy %.0f GB/s; exp %.2f T/s; FMA %.1f T/s%n", gpu.device().describe(),
                    copy / 1e9, expRate / 1e12, fmaRate / 1e12);
            System.out.println("M     B      L     D    N |  fwd ms floor ms ratio |  bwd ms floor ms ratio");
            for (int[] c : cases) run(gpu, c, repeats, copy, expRate, fmaRate);
        }
    }

    static double copyBandwidth(CudaBackend gpu) {
        long n = 1L << 28; // 1 GiB each way
        try (Tensor a = gpu.empty(DType.F32, (int) n); Tensor b = gpu.empty(DType.F32, (int) n)) {
            gpu.fill(a, 1);
            double ms = CudaTimer.time(gpu.stream(), 3, 10, () -> gpu.copy(b, a)).median();
            return 2.0 * n * 4 / (ms / 1e3);
        }
    }

    static Tensor random(CudaBackend gpu, Random r, double scale, double mean, int... shape) {
        long n = 1;
        for (int s : shape) n *= s;
        float[] v = new float[(int) n];
        for (int i = 0; i < v.length; i++) v[i] = (float) (mean + scale * r.nextGaussian());
        return gpu.fromFloats(v, shape);
    }

    static void run(CudaBackend gpu, int[] c, int repeats, double copy, double expRate, double fmaRate) {
        int m = c[0], b = c[1], l = c[2], d = c[3], n = c[4];
        Random r = new Random(1);
        float[] a = new float[m * d * n];
        for (int i = 0; i < a.length; i++) a[i] = (float) -(1 + i % n);
        ScanInputs in = new ScanInputs(random(gpu, r, 1, 0, m, b, l, d), random(gpu, r, 1, -4, m, b, l, d),
                random(gpu, r, 1, 0, m, b, l, d), gpu.fromFloats(a, m, d, n), random(gpu, r, 1, 0, m, b, l, n),
                random(gpu, r, 1, 0, m, b, l, n), random(gpu, r, 0.1, 1, m, d), null, null);
        Tensor out = gpu.empty(DType.F32, m, b, l, d), dout = random(gpu, r, 1, 0, m, b, l, d);
        ScanGrads g = new ScanGrads(gpu.empty(DType.F32, m, b, l, d), gpu.empty(DType.F32, m, b, l, d),
                gpu.empty(DType.F32, m, b, l, d), gpu.empty(DType.F32, m, d, n), gpu.empty(DType.F32, m, b, l, n),
                gpu.empty(DType.F32, m, b, l, n), gpu.empty(DType.F32, m, d), null);
        Saved[] saved = {gpu.coupledScanForward(in, out, null)};
        double fwd = CudaTimer.time(gpu.stream(), 3, repeats, () -> {
            saved[0].close();
            saved[0] = gpu.coupledScanForward(in, out, null);
        }).median();
        double bwd = CudaTimer.time(gpu.stream(), 3, repeats, () -> gpu.coupledScanBackward(in, saved[0], dout, null, g)).median();
        double x = (double) m * b * l * d, xn = x * n, bn = (double) m * b * l * n;
        double fwdBytes = 4 * (4 * x + 2 * bn), bwdBytes = 4 * (7 * x + 4 * bn);
        // forward: M exps and ~4 FMAs per (m, t, d, n); backward: recompute plus ~12 FMAs, 2 M exps
        double fwdFloor = Math.max(fwdBytes / copy, Math.max(xn / expRate, 4 * xn / fmaRate)) * 1e3;
        double bwdFloor = Math.max(bwdBytes / copy, Math.max(2 * xn / expRate, 16 * xn / fmaRate)) * 1e3;
        System.out.printf(Locale.ROOT, "%d %6d %6d %5d %4d | %7.3f %8.3f %5.1f | %7.3f %8.3f %5.1f%n", m, b, l, d, n, fwd, fwdFloor,
                fwd / fwdFloor, bwd, bwdFloor, bwd / bwdFloor);
        saved[0].close();
        for (Tensor t : new Tensor[]{in.u(), in.deltaPre(), in.z(), in.A(), in.B(), in.C(), in.Dskip(), out, dout, g.du(),
                g.dDeltaPre(), g.dz(), g.dA(), g.dB(), g.dC(), g.dDskip()}) t.close();
    }
}
