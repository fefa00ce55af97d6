package io.cmamba.cuda;

import io.cmamba.cpu.CpuBackend;
import io.cmamba.testing.GradCheck;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.function.Executable;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What the GPU tests share: one CUDA backend for the whole run (skipping, not failing, where no
 * GPU or NVRTC is usable), the CPU reference, the same random float32 inputs on both, outputs
 * poisoned with NaN before each op, and a comparison that first checks every element was written.
 */
final class GpuTestSupport {
    private GpuTestSupport() {
    }

    static final CpuBackend CPU = new CpuBackend();

    /** Float32 kernels against the float64 reference rounded to float32, norm-wise. */
    static final double TOL = 1e-5;
    /** Sums over many terms (reductions, GEMM with long K): float32 accumulation error grows as sqrt(terms). */
    static final double SUM_TOL = 5e-5;

    private static CudaBackend gpu;
    private static String unavailable;

    /** The shared backend; skips the calling test when the machine has no usable GPU. */
    static synchronized CudaBackend gpu() {
        if (gpu == null && unavailable == null) {
            unavailable = new CudaBackendProvider().unavailableReason();
            if (unavailable == null) {
                gpu = new CudaBackend(0);
                System.out.println("GPU tests on " + String.join("; ", gpu.describeRuntime()));
            }
        }
        Assumptions.assumeTrue(unavailable == null, () -> "no usable GPU: " + unavailable);
        return gpu;
    }

    /** A fresh seed per run (-Dcmamba.seed=N replays one), printed for reproduction. */
    static Random random(String test) {
        String fixed = System.getProperty("cmamba.seed");
        long seed = fixed != null ? Long.parseLong(fixed) : System.nanoTime();
        System.out.println(test + ": seed " + seed);
        return new Random(seed);
    }

    static double[] gaussian(Random rnd, int n) {
        double[] a = new double[n];
        for (int i = 0; i < n; i++) a[i] = rnd.nextGaussian();
        return a;
    }

    static double[] uniform(Random rnd, int n, double lo, double hi) {
        double[] a = new double[n];
        for (int i = 0; i < n; i++) a[i] = lo + (hi - lo) * rnd.nextDouble();
        return a;
    }

    /** The same tensor on the CPU and on the GPU. */
    record Pair(Tensor cpu, Tensor gpu) implements AutoCloseable {
        int[] shape() {
            return cpu.shape().dims();
        }

        @Override
        public void close() {
            gpu.close();
        }
    }

    /** Float32 values (rounded once) on both backends. */
    static Pair pair(double[] values, int... shape) {
        return new Pair(CPU.fromDoubles(DType.F32, values, shape), gpu().fromDoubles(DType.F32, values, shape));
    }

    static Pair pairInts(int[] values, int... shape) {
        return new Pair(CPU.fromInts(values, shape), gpu().fromInts(values, shape));
    }

    static Pair gaussianPair(Random rnd, int... shape) {
        long n = 1;
        for (int d : shape) n *= d;
        return pair(gaussian(rnd, (int) n), shape);
    }

    /** An output on both backends, filled with NaN so that an element the op skips shows. */
    static Pair poisoned(int... shape) {
        return poisoned(DType.F32, shape);
    }

    static Pair poisoned(DType dtype, int... shape) {
        Tensor c = CPU.empty(dtype, shape), g = gpu().empty(dtype, shape);
        CPU.fill(c, dtype == DType.I32 ? -7 : Double.NaN);
        gpu().fill(g, dtype == DType.I32 ? -7 : Double.NaN);
        return new Pair(c, g);
    }

    /** Every element written (no NaN where the reference has none), then norm-wise relative difference <= tol. */
    static void assertMatches(Pair p, double tol, String what) {
        assertMatches(p.gpu(), p.cpu().toDoubles(), tol, what);
    }

    static void assertMatches(Tensor gpuTensor, double[] expected, double tol, String what) {
        double[] actual = gpuTensor.toDoubles();
        assertEquals(expected.length, actual.length, what + ": length");
        for (int i = 0; i < actual.length; i++) {
            if (Double.isNaN(actual[i]) != Double.isNaN(expected[i]))
                throw new AssertionError(what + " " + gpuTensor.shape() + ": element " + i + " is " + actual[i]
                        + ", expected " + expected[i] + (Double.isNaN(actual[i]) ? " (not written?)" : ""));
        }
        double[] a = actual.clone(), e = expected.clone();
        for (int i = 0; i < a.length; i++)
            if (Double.isNaN(e[i]) || Double.isInfinite(e[i])) {
                assertEquals(e[i], a[i], what + ": element " + i);
                a[i] = 0;
                e[i] = 0;
            }
        double rel = GradCheck.relativeDifference(a, e);
        assertTrue(rel <= tol, what + " " + gpuTensor.shape() + ": relative difference " + rel + " > " + tol);
    }

    /** Integer outputs: exactly equal. */
    static void assertSameInts(Pair p, String what) {
        int[] a = p.gpu().toInts(), e = p.cpu().toInts();
        assertEquals(e.length, a.length, what);
        for (int i = 0; i < a.length; i++)
            if (a[i] != e[i]) throw new AssertionError(what + ": element " + i + " is " + a[i] + ", expected " + e[i]);
    }

    /** The op throws IllegalArgumentException (possibly at the next synchronisation) naming every fragment. */
    static void assertRejected(Executable op, String... fragments) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> {
            op.execute();
            gpu().synchronize();
        });
        for (String f : fragments)
            assertTrue(e.getMessage().contains(f), "message '" + e.getMessage() + "' does not name '" + f + "'");
    }
}
