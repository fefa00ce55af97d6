package io.cmamba.cpu;

import io.cmamba.testing.GradCheck;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;
import org.junit.jupiter.api.function.Executable;

import java.util.Random;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What the CPU op tests share: a backend, seeded inputs, poisoned outputs and the comparisons. */
final class CpuTestSupport {
    private CpuTestSupport() {
    }

    static final CpuBackend CPU = new CpuBackend();

    /** Tolerance of a float64 op against a float64 reference written another way. */
    static final double F64_TOL = 1e-12;
    /** Tolerance of a float32 op against the float64 reference on the same (rounded) inputs. */
    static final double F32_TOL = 1e-6;
    /** Central finite differences against an analytic gradient, in float64. */
    static final double GRAD_TOL = 1e-6;

    /**
     * A fresh seed per run (set -Dcmamba.seed=N to replay one), printed so that a failure can be
     * reproduced.
     */
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

    static Tensor tensor(DType dtype, double[] values, int... shape) {
        return CPU.fromDoubles(dtype, values, shape);
    }

    /** An output tensor filled with NaN, so that any element an op forgets to write shows. */
    static Tensor poisoned(DType dtype, int... shape) {
        Tensor t = CPU.empty(dtype, shape);
        CPU.fill(t, Double.NaN);
        return t;
    }

    static void assertAllWritten(Tensor t, String name) {
        double[] a = t.toDoubles();
        for (int i = 0; i < a.length; i++)
            if (Double.isNaN(a[i])) throw new AssertionError(name + " " + t.shape() + ": element " + i + " was not written");
    }

    /** Norm-wise relative difference at most tol, after checking every element is a number. */
    static void assertClose(double[] actual, double[] expected, double tol, String what) {
        assertEquals(expected.length, actual.length, what + ": length");
        for (int i = 0; i < actual.length; i++)
            assertFalse(Double.isNaN(actual[i]) && !Double.isNaN(expected[i]), what + ": NaN at " + i);
        double rel = GradCheck.relativeDifference(actual, expected);
        assertTrue(rel <= tol, what + ": relative difference " + rel + " > " + tol);
    }

    static void assertClose(Tensor actual, double[] expected, double tol, String what) {
        assertClose(actual.toDoubles(), expected, tol, what);
    }

    /**
     * Checks an analytic gradient of loss with respect to the float64 tensor x by central
     * differences; the loss perturbs x's own array.
     */
    static void assertGradient(Tensor x, Tensor analytic, Supplier<Double> loss, String what) {
        assertEquals(DType.F64, x.dtype(), "gradient checks run in float64");
        assertEquals(0, x.offset());
        double[] data = CpuBackend.data(x);
        assertEquals(x.size(), data.length);
        double err = GradCheck.relativeError(data, analytic.toDoubles(), loss);
        assertTrue(err <= GRAD_TOL, what + ": gradient relative error " + err + " > " + GRAD_TOL);
    }

    /** sum(w * t): the scalar whose gradient with respect to t is w. */
    static double weighted(double[] w, Tensor t) {
        return GradCheck.dot(w, t.toDoubles());
    }

    /** The op throws IllegalArgumentException and its message holds every fragment. */
    static void assertRejected(Executable op, String... fragments) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, op);
        for (String f : fragments)
            assertTrue(e.getMessage().contains(f), "message '" + e.getMessage() + "' does not name '" + f + "'");
    }
}
