package io.cmamba.nn;

import io.cmamba.cpu.CpuBackend;
import io.cmamba.tensor.AttentionKind;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;
import io.cmamba.testing.GradCheck;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.function.Executable;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What the layer and model tests share: the CPU backend, seeded inputs, comparisons, gradient checks. */
public final class NnTesting {
    private NnTesting() {
    }

    public static final CpuBackend CPU = new CpuBackend();

    /** A float64 layer against the float64 reference written another way (summation order differs). */
    public static final double F64_TOL = 1e-11;
    /** Central finite differences against an analytic gradient, in float64 (the project's standard). */
    public static final double GRAD_TOL = 1e-6;

    /** A fresh seed per run (-Dcmamba.seed=N replays one), printed so that a failure can be reproduced. */
    public static Random random(String test) {
        String fixed = System.getProperty("cmamba.seed");
        long seed = fixed != null ? Long.parseLong(fixed) : System.nanoTime();
        System.out.println(test + ": seed " + seed);
        return new Random(seed);
    }

    public static double[] gaussian(Random rnd, int n) {
        double[] a = new double[n];
        for (int i = 0; i < n; i++) a[i] = rnd.nextGaussian();
        return a;
    }

    /** A float64 CPU tensor holding the values. */
    public static Tensor f64(double[] values, int... shape) {
        return CPU.fromDoubles(DType.F64, values, shape);
    }

    /** Float64 parameters on the CPU, drawn from the seed. */
    public static Init init(long seed, List<Parameter> sink) {
        return new Init(CPU, DType.F64, seed, sink);
    }

    /** Host copies of the parameters by name. */
    public static Map<String, double[]> values(List<Parameter> ps) {
        Map<String, double[]> v = new LinkedHashMap<>();
        for (Parameter p : ps) v.put(p.name(), p.value().toDoubles());
        return v;
    }

    public static Parameter find(List<Parameter> ps, String name) {
        for (Parameter p : ps) if (p.name().equals(name)) return p;
        throw new AssertionError("no parameter " + name + " among " + ps.stream().map(Parameter::name).toList());
    }

    /** Replaces every parameter value by Gaussian noise of the given scale (so no value sits at its initial constant). */
    public static void perturb(List<Parameter> ps, Random rnd, double scale) {
        for (Parameter p : ps) {
            double[] a = CpuBackend.data(p.value());
            int o = CpuBackend.off(p.value());
            for (int i = 0; i < p.value().size(); i++) a[o + i] += scale * rnd.nextGaussian();
        }
    }

    /**
     * Parameters moved off their initial constants (Gaussian noise of scale 0.3), and the steps of the
     * coupled layers (dt_proj.bias, dt_raw) raised by 4, from softplus in [1e-2, 1] to about [0.05, 5],
     * so that the state, and the coupling through it, weighs in the output as much as the skip does.
     */
    public static void randomise(List<Parameter> ps, Random rnd) {
        perturb(ps, rnd, 0.3);
        for (Parameter p : ps)
            if (p.name().endsWith("dt_proj.bias") || p.name().endsWith("dt_raw")) {
                double[] a = CpuBackend.data(p.value());
                for (int i = 0; i < a.length; i++) a[i] += 4;
            }
    }

    /**
     * Skips the calling test while the CPU backend's attention is not implemented yet (it throws
     * UnsupportedOperationException); once it is, the test runs.
     */
    public static void assumeCpuAttention() {
        try (Tensor q = CPU.zeros(DType.F64, 1, 1, 2); Tensor out = CPU.zeros(DType.F64, 1, 1, 2)) {
            CPU.attentionForward(AttentionKind.FLASH, out, q, q, q, 1).close();
        } catch (UnsupportedOperationException e) {
            Assumptions.abort("CPU attention is not implemented yet: " + e.getMessage());
        }
    }

    /** Norm-wise relative difference at most tol, after checking every element is a number. */
    public static void assertClose(double[] actual, double[] expected, double tol, String what) {
        assertEquals(expected.length, actual.length, what + ": length");
        for (int i = 0; i < actual.length; i++)
            assertFalse(Double.isNaN(actual[i]), what + ": NaN at " + i);
        double rel = GradCheck.relativeDifference(actual, expected);
        assertTrue(rel <= tol, what + ": relative difference " + rel + " > " + tol);
    }

    /** Fills every gradient with NaN, so that a backward that forgets one shows. */
    public static void poisonGradients(List<Parameter> ps) {
        for (Parameter p : ps) CPU.fill(p.grad(), Double.NaN);
    }

    /**
     * Every parameter gradient (computed by the caller's backward, after {@link #poisonGradients}) is
     * fully written and agrees with central differences of {@code loss}, which must rerun the forward.
     */
    public static void assertParameterGradients(List<Parameter> ps, Supplier<Double> loss, String what) {
        for (Parameter p : ps) {
            double[] analytic = p.grad().toDoubles();
            for (int i = 0; i < analytic.length; i++)
                assertFalse(Double.isNaN(analytic[i]), what + ": gradient of " + p.name() + " not written at " + i);
            if (isKeyBias(p)) assertInvariant(p, analytic, loss, what);
            else assertGradient(p.value(), analytic, loss, what + ": " + p.name());
        }
    }

    /**
     * The key projection's bias adds q.b to every score of a query, which softmax ignores: its true
     * gradient is exactly zero, so central differences would compare rounding noise with rounding
     * noise. It is checked for what it is instead: the analytic gradient vanishes and the loss does not
     * move when an entry moves by 0.5.
     */
    static boolean isKeyBias(Parameter p) {
        return p.name().endsWith("k_proj.bias");
    }

    private static void assertInvariant(Parameter p, double[] analytic, Supplier<Double> loss, String what) {
        double[] x = CpuBackend.data(p.value());
        double base = loss.get();
        double tol = 1e-12 * Math.max(1, Math.abs(base));
        for (int i = 0; i < x.length; i++) {
            assertTrue(Math.abs(analytic[i]) <= tol, what + ": " + p.name() + " gradient " + analytic[i] + " at " + i + " should vanish");
            double keep = x[i];
            x[i] = keep + 0.5;
            double moved = loss.get();
            x[i] = keep;
            assertTrue(Math.abs(moved - base) <= 1e-10 * Math.max(1, Math.abs(base)),
                    what + ": loss moved by " + (moved - base) + " with " + p.name() + "[" + i + "]");
        }
    }

    /** The analytic gradient of loss with respect to the float64 tensor x agrees with central differences. */
    public static void assertGradient(Tensor x, double[] analytic, Supplier<Double> loss, String what) {
        assertEquals(DType.F64, x.dtype(), "gradient checks run in float64");
        assertEquals(0, x.offset(), "gradient checks perturb a whole array");
        double[] data = CpuBackend.data(x);
        assertEquals(x.size(), data.length);
        double err = GradCheck.relativeErrorAllowingKinks(data, analytic, loss, GRAD_TOL);
        assertTrue(err <= GRAD_TOL, what + ": gradient relative error " + err + " > " + GRAD_TOL);
    }

    /** sum(w * t): the scalar whose gradient with respect to t is w. */
    public static double weighted(double[] w, Tensor t) {
        return GradCheck.dot(w, t.toDoubles());
    }

    /** The call throws IllegalArgumentException and its message holds every fragment. */
    public static void assertRejected(Executable op, String... fragments) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, op);
        for (String f : fragments)
            assertTrue(e.getMessage().contains(f), "message '" + e.getMessage() + "' does not name '" + f + "'");
    }
}
