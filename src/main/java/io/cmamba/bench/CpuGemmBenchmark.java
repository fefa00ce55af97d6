package io.cmamba.bench;

import io.cmamba.cpu.CpuBackend;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;

import java.util.Arrays;
import java.util.Random;

/**
 * Throughput of the CPU GEMM at the shapes of a Linear layer of the model: the forward
 * y = x W^T and the two backward products dX = dY W and dW = dY^T X, for rows = batch * length
 * tokens. Prints the median of repeated runs after warm-up, in GFLOP/s (2 M N K per product).
 * <p>
 * Arguments (all optional): rows (default 51200 = 1024 x 50), in features (128), out features
 * (512), repeats (7), dtype (F32).
 */
public final class CpuGemmBenchmark {
    private CpuGemmBenchmark() {
    }

    public static void main(String[] args) {
        BenchArgs.runMain("CpuGemmBenchmark", () -> run(args));
    }

    private static void run(String[] args) {
        int rows = args.length > 0 ? BenchArgs.positiveInt(args, 0, "rows") : 1024 * 50;
        int in = args.length > 1 ? BenchArgs.positiveInt(args, 1, "in features") : 128;
        int out = args.length > 2 ? BenchArgs.positiveInt(args, 2, "out features") : 512;
        int repeats = args.length > 3 ? BenchArgs.positiveInt(args, 3, "repeats") : 7;
        DType dtype = args.length > 4 ? DType.valueOf(args[4]) : DType.F32;
        System.out.printf("CPU GEMM, %s, %d threads (%d processors), Java %s%n", dtype,
                io.cmamba.cpu.Parallel.threads(), Runtime.getRuntime().availableProcessors(),
                System.getProperty("java.version"));
        CpuBackend cpu = new CpuBackend();
        Random rnd = new Random(1);
        Tensor x = random(cpu, rnd, dtype, rows, in), w = random(cpu, rnd, dtype, out, in);
        Tensor dy = random(cpu, rnd, dtype, rows, out);
        Tensor y = cpu.empty(dtype, rows, out), dx = cpu.empty(dtype, rows, in), dw = cpu.empty(dtype, out, in);
        run("forward  y[" + rows + "," + out + "] = x[" + rows + "," + in + "] W[" + out + "," + in + "]^T",
                repeats, 2.0 * rows * out * in, () -> cpu.gemm(false, true, 1, x, w, 0, y));
        run("backward dx[" + rows + "," + in + "] = dy W", repeats, 2.0 * rows * out * in,
                () -> cpu.gemm(false, false, 1, dy, w, 0, dx));
        run("backward dW[" + out + "," + in + "] = dy^T x", repeats, 2.0 * rows * out * in,
                () -> cpu.gemm(true, false, 1, dy, x, 0, dw));
    }

    private static Tensor random(CpuBackend cpu, Random rnd, DType dtype, int r, int c) {
        double[] v = new double[r * c];
        for (int i = 0; i < v.length; i++) v[i] = rnd.nextGaussian();
        return cpu.fromDoubles(dtype, v, r, c);
    }

    private static void run(String what, int repeats, double flops, Runnable op) {
        for (int i = 0; i < 3; i++) op.run(); // warm-up: compilation of the kernels
        double[] seconds = new double[repeats];
        for (int i = 0; i < repeats; i++) {
            long t0 = System.nanoTime();
            op.run();
            seconds[i] = (System.nanoTime() - t0) * 1e-9;
        }
        Arrays.sort(seconds);
        double median = seconds[repeats / 2];
        System.out.printf("%-58s median %8.2f ms (min %.2f, max %.2f) %7.2f GFLOP/s%n", what, median * 1e3,
                seconds[0] * 1e3, seconds[repeats - 1] * 1e3, flops / median * 1e-9);
    }
}
