package io.cmamba.bench;

import io.cmamba.cuda.CachingAllocator;
import io.cmamba.cuda.CudaBackend;
import io.cmamba.cuda.CudaGemm;
import io.cmamba.cuda.CudaModule;
import io.cmamba.cuda.CudaTimer;
import io.cmamba.cuda.KernelCache;
import io.cmamba.cuda.KernelCompiler;
import io.cmamba.cuda.KernelSource;
import io.cmamba.tensor.Activation;
import io.cmamba.tensor.AdamParams;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Random;

/**
 * Roofline figures of the CUDA runtime's own kernels, all timed with device events around the
 * region, after warm-up, as the median of repeated runs:
 * <ol>
 *   <li>measured device-to-device copy bandwidth (cuMemcpyDtoD, read + write bytes), the ceiling
 *       the pointwise kernels are compared with (and the spec-sheet peak from the clocks);</li>
 *   <li>pointwise and reduction kernels on 64 Mi floats: achieved GB/s and its share of the copy;</li>
 *   <li>GEMM at the model's shapes (rows = 1024 x 50 tokens) and a square 4096: the hand-written
 *       tiled kernel against cuBLAS, TFLOP/s and share of the FP32 peak (SMs x 128 lanes x 2 x clock);</li>
 *   <li>kernel compilation of every kernels/*.cu: a cold start (empty cache, NVRTC) against a second
 *       start (CUBINs from the disk cache), wall time including module loading.</li>
 * </ol>
 * Arguments (optional): elements for the pointwise kernels (default 67108864), repeats (20).
 */
public final class CudaOpsBenchmark {
    private CudaOpsBenchmark() {
    }

    private static final String[] KERNEL_FILES = {"elementwise.cu", "norm.cu", "conv1d.cu", "pooling.cu", "loss.cu", "optim.cu", "gemm.cu"};

    public static void main(String[] args) {
        BenchArgs.runMain("CudaOpsBenchmark", () -> run(args));
    }

    private static void run(String[] args) throws Exception {
        long n = args.length > 0 ? BenchArgs.positiveInt(args, 0, "elements") : 1L << 26;
        int repeats = args.length > 1 ? BenchArgs.positiveInt(args, 1, "repeats") : 20;
        try (CudaBackend gpu = new CudaBackend(0)) {
            for (String line : gpu.describeRuntime()) System.out.println(line);
            double fp32Peak = gpu.device().smCount() * 128.0 * 2 * gpu.device().clockKHz() * 1e3;
            System.out.printf("spec peaks: DRAM %.0f GB/s (memory clock x bus), FP32 %.1f TFLOP/s (SMs x 128 x 2 x %d MHz)%n",
                    gpu.device().peakBandwidth() / 1e9, fp32Peak / 1e12, gpu.device().clockKHz() / 1000);
            System.out.printf("timing: device events, %d warm-up runs, median of %d runs%n%n", 3, repeats);

            double copyBw = bandwidth(gpu, n, repeats);
            gemm(gpu, repeats, fp32Peak);
            compileTimes(gpu);
            CachingAllocator.Stats s = gpu.allocator().stats();
            System.out.println("\nallocator: " + s.describe() + "; " + s.allocations() + " requests, " + s.cacheHits()
                    + " served from the cache, " + s.deviceAllocations() + " cuMemAlloc calls");
            System.out.printf("copy bandwidth used as the ceiling: %.0f GB/s%n", copyBw / 1e9);
        }
    }

    private static double time(CudaBackend gpu, int repeats, Runnable body) {
        return CudaTimer.time(gpu.stream(), 3, repeats, body).median();
    }

    private static void row(String name, double bytes, double ms, double ceiling) {
        double bw = bytes / (ms * 1e-3);
        System.out.printf("  %-44s %9.3f ms %8.0f GB/s %6.1f %% of copy%n", name, ms, bw / 1e9, 100 * bw / ceiling);
    }

    /** Copy bandwidth, then the pointwise kernels against it; returns the copy bandwidth in bytes/s. */
    private static double bandwidth(CudaBackend gpu, long n, int repeats) {
        int rows = (int) (n / 512);
        Tensor a = gpu.empty(DType.F32, rows, 512), b = gpu.empty(DType.F32, rows, 512), c = gpu.empty(DType.F32, rows, 512);
        Tensor d = gpu.empty(DType.F32, rows, 512);
        Tensor bias = gpu.empty(DType.F32, 512), scalar = gpu.empty(DType.F32, 1);
        gpu.fill(a, 0.5);
        gpu.fill(b, -0.25);
        gpu.fill(c, 0);
        gpu.fill(d, 0);
        gpu.fill(bias, 0.1);
        double f = 4.0 * n;  // bytes of one array
        System.out.printf("pointwise kernels on %d floats (%.0f MiB per array); bytes counted once per array read or written%n",
                n, f / 1048576);
        double copyMs = time(gpu, repeats, () -> gpu.copy(c, a));
        double copyBw = 2 * f / (copyMs * 1e-3);
        System.out.printf("  %-44s %9.3f ms %8.0f GB/s  (the ceiling)%n", "copy cuMemcpyDtoD (read + write)", copyMs, copyBw / 1e9);
        row("copyBlock kernel, 512-wide rows", 2 * f, time(gpu, repeats, () -> gpu.copyBlock(c, 0, 512, a, 0, 512, rows, 512)), copyBw);
        row("fill", f, time(gpu, repeats, () -> gpu.fill(c, 1.0)), copyBw);
        row("axpby out = 2a - b", 3 * f, time(gpu, repeats, () -> gpu.axpby(c, 2, a, -1, b)), copyBw);
        row("mul", 3 * f, time(gpu, repeats, () -> gpu.mul(c, a, b)), copyBw);
        row("silu forward", 2 * f, time(gpu, repeats, () -> gpu.activationForward(Activation.SILU, c, a)), copyBw);
        row("silu backward", 3 * f, time(gpu, repeats, () -> gpu.activationBackward(Activation.SILU, c, b, a)), copyBw);
        row("gelu forward", 2 * f, time(gpu, repeats, () -> gpu.activationForward(Activation.GELU, c, a)), copyBw);
        row("softplus forward", 2 * f, time(gpu, repeats, () -> gpu.activationForward(Activation.SOFTPLUS, c, a)), copyBw);
        row("addBias [" + rows + ", 512]", 2 * f, time(gpu, repeats, () -> gpu.addBias(c, bias)), copyBw);
        row("sumRows [" + rows + ", 512] -> [512]", f, time(gpu, repeats, () -> gpu.sumRows(bias, a)), copyBw);
        row("sumSquares (float64 partials)", f, time(gpu, repeats, () -> gpu.sumSquares(scalar, a)), copyBw);
        row("countNonFinite", f, time(gpu, repeats, () -> gpu.countNonFinite(scalar, a)), copyBw);
        AdamParams p = new AdamParams(1e-9, 0.9, 0.999, 1e-8, 0, false, 1, 1);
        row("adam step (param, grad, m, v: 4 reads, 3 writes)", 7 * f, time(gpu, repeats, () -> gpu.adamStep(c, a, b, d, p)), copyBw);
        Tensor rowsView = a.reshape((int) (n / 256), 256), outView = c.reshape((int) (n / 256), 256);
        Tensor gamma = gpu.empty(DType.F32, 256), rstd = gpu.empty(DType.F32, (int) (n / 256)), mean = gpu.empty(DType.F32, (int) (n / 256));
        gpu.fill(gamma, 1);
        row("layerNorm forward, rows of 256", 2 * f, time(gpu, repeats,
                () -> gpu.layerNormForward(outView, mean, rstd, rowsView, gamma, null, 1e-5)), copyBw);
        row("rmsNorm forward, rows of 256", 2 * f, time(gpu, repeats,
                () -> gpu.rmsNormForward(outView, rstd, rowsView, gamma, 1e-5)), copyBw);
        int samples = (int) (n / (50L * 256));
        Tensor conv = a.reshape((int) n).narrow(0, samples * 50 * 256).reshape(samples, 50, 256);
        Tensor convOut = c.reshape((int) n).narrow(0, samples * 50 * 256).reshape(samples, 50, 256);
        Tensor w = gpu.empty(DType.F32, 256, 4), cb = gpu.empty(DType.F32, 256);
        gpu.fill(w, 0.25);
        gpu.fill(cb, 0);
        double convBytes = 2.0 * conv.size() * 4;
        row("causal conv1d forward [" + conv.dim(0) + ", 50, 256], K 4", convBytes,
                time(gpu, repeats, () -> gpu.causalConv1dForward(convOut, conv, w, cb)), copyBw);
        Tensor dconv = d.reshape((int) n).narrow(0, samples * 50 * 256).reshape(samples, 50, 256);
        Tensor dw = gpu.empty(DType.F32, 256, 4), dcb = gpu.empty(DType.F32, 256);
        row("causal conv1d backward (dx, dw, dbias; 4 arrays)", 2 * convBytes,
                time(gpu, repeats, () -> gpu.causalConv1dBackward(dconv, dw, dcb, convOut, conv, w)), copyBw);
        Tensor dRows = d.reshape((int) (n / 256), 256), dgamma = gpu.empty(DType.F32, 256), dbeta = gpu.empty(DType.F32, 256);
        gpu.layerNormForward(outView, mean, rstd, rowsView, gamma, null, 1e-5);
        row("layerNorm backward (dx, dgamma, dbeta; 5 arrays)", 5 * f, time(gpu, repeats,
                () -> gpu.layerNormBackward(dRows, dgamma, dbeta, outView, rowsView, mean, rstd, gamma)), copyBw);
        for (Tensor t : new Tensor[]{a, b, c, d, bias, scalar, gamma, rstd, mean, w, cb, dw, dcb, dgamma, dbeta}) t.close();
        System.out.println();
        return copyBw;
    }

    private record GemmShape(String name, int m, int n, int k, boolean ta, boolean tb) {
    }

    private static void gemm(CudaBackend gpu, int repeats, double fp32Peak) {
        int rows = 1024 * 50;
        List<GemmShape> shapes = List.of(
                new GemmShape("in_proj  y = x W^T   [51200,128] x [512,128]^T", rows, 512, 128, false, true),
                new GemmShape("out_proj y = o W^T   [51200,256] x [128,256]^T", rows, 128, 256, false, true),
                new GemmShape("in_proj  dx = dy W   [51200,512] x [512,128]", rows, 128, 512, false, false),
                new GemmShape("in_proj  dW = dy^T x [51200,512]^T x [51200,128]", 512, 128, rows, true, false),
                new GemmShape("square   4096 x 4096 x 4096", 4096, 4096, 4096, false, false));
        CudaGemm engine = gpu.gemmEngine();
        System.out.println("GEMM (FP32), TFLOP/s = 2 M N K / time; " + engine.describe());
        System.out.printf("  %-50s %12s %12s %8s %12s%n", "shape", "tiled", "cuBLAS", "ratio", "cuBLAS/peak");
        Random rnd = new Random(7);
        for (GemmShape s : shapes) {
            Tensor a = random(gpu, rnd, s.ta() ? new int[]{s.k(), s.m()} : new int[]{s.m(), s.k()});
            Tensor b = random(gpu, rnd, s.tb() ? new int[]{s.n(), s.k()} : new int[]{s.k(), s.n()});
            Tensor c = gpu.empty(DType.F32, s.m(), s.n());
            double flops = 2.0 * s.m() * s.n() * s.k();
            double tiled = flops / (time(gpu, repeats, () -> engine.tiled(s.ta(), s.tb(), 1, a, b, 0, c)) * 1e-3);
            double blas = engine.cublasAvailable()
                    ? flops / (time(gpu, repeats, () -> engine.cublas(s.ta(), s.tb(), 1, a, b, 0, c)) * 1e-3) : Double.NaN;
            System.out.printf("  %-50s %9.2f TF %9.2f TF %7.2fx %11.1f %%%n", s.name(), tiled / 1e12, blas / 1e12,
                    tiled / blas, 100 * blas / fp32Peak);
            a.close();
            b.close();
            c.close();
        }
        System.out.println();
    }

    private static Tensor random(CudaBackend gpu, Random rnd, int... shape) {
        long size = 1;
        for (int d : shape) size *= d;
        float[] v = new float[(int) size];
        for (int i = 0; i < v.length; i++) v[i] = (float) rnd.nextGaussian();
        return gpu.fromFloats(v, shape);
    }

    /** Wall time to get every module: a cold start (NVRTC, empty cache) against a second start (disk cache). */
    private static void compileTimes(CudaBackend gpu) throws Exception {
        Path dir = Files.createTempDirectory("cmamba-kernel-cache");
        try {
            List<KernelSource> sources = new ArrayList<>();
            for (String f : KERNEL_FILES) sources.add(KernelSource.load(f));
            double[] ms = new double[2];
            long[] compiles = new long[2];
            for (int start = 0; start < 2; start++) {
                KernelCompiler c = new KernelCompiler(gpu.compiler().nvrtc(), new KernelCache(dir), gpu.device().arch());
                long t0 = System.nanoTime();
                for (KernelSource s : sources) new CudaModule(gpu.context(), s.fileName(), c.cubin(s)).close();
                ms[start] = (System.nanoTime() - t0) / 1e6;
                compiles[start] = c.compiles();
            }
            System.out.printf("kernel compilation, %d files (%s), wall time to load every module:%n", sources.size(),
                    gpu.compiler().nvrtc().describe());
            System.out.printf("  first start, empty cache:  %8.1f ms (%d NVRTC compilations)%n", ms[0], compiles[0]);
            System.out.printf("  second start, disk cache:  %8.1f ms (%d NVRTC compilations)%n", ms[1], compiles[1]);
        } finally {
            try (var files = Files.walk(dir)) {
                files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }
}
