package io.cmamba.testing;

import java.util.function.Supplier;

/**
 * Central finite differences in float64 against an analytic gradient. The loss is any scalar
 * function of the current contents of {@code x} (the array is perturbed in place and restored).
 */
public final class GradCheck {
    private GradCheck() {
    }

    /** Step for central differences: error O(h^2) ~ 1e-12, rounding eps/h ~ 1e-11 on O(1) values. */
    public static final double H = 1e-5;

    /**
     * Below this gradient norm the comparison becomes absolute. Central differences of a loss of order 1
     * resolve a derivative only to about eps * |loss| / h ~ 1e-11 (float64 rounding over 2h), so a
     * parameter whose true gradient is tiny (those scaled by delta ~ 1e-3, or exactly 0 like a key bias
     * under softmax) cannot show a small ratio; there the check asks ||analytic - numeric|| <= 1e-10.
     */
    public static final double NORM_FLOOR = 1e-4;

    /**
     * Norm-wise relative error ||analytic - numeric|| / max(||numeric||, ||analytic||, NORM_FLOOR) over
     * the entries of x. {@code loss} must read x each time it is called.
     */
    public static double relativeError(double[] x, double[] analytic, Supplier<Double> loss) {
        return relativeError(x, analytic, loss, H);
    }

    /**
     * As {@link #relativeError(double[], double[], Supplier)}, and when that exceeds {@code tol} once
     * more with a step ten times smaller, and once with Richardson extrapolation at 10h. Losses through
     * max-pooling, ReLU or L1 have kinks; a central difference whose +-h straddles one is wrong by O(1)
     * there while the analytic gradient is right almost everywhere. A kink crossed at h is crossed at
     * h/10 only a tenth as often, whereas a wrong gradient stays wrong at every step. Where a
     * parameter's gradient is small (near NORM_FLOOR) the loss's own rounding, amplified by 1/h, can
     * reach 1e-6 of it at h and more at h/10 (measured: 1.0e-6, 7.8e-6); a step of 10h cuts that
     * tenfold, and Richardson extrapolation (4 D(5h) - D(10h)) / 3 cancels the h^2 truncation error
     * the larger step would bring (measured: 2.2e-7). The smallest of the errors is reported.
     */
    public static double relativeErrorAllowingKinks(double[] x, double[] analytic, Supplier<Double> loss, double tol) {
        double err = relativeError(x, analytic, loss, H);
        if (err <= tol) return err;
        err = Math.min(err, relativeError(x, analytic, loss, H / 10));
        return err <= tol ? err : Math.min(err, relativeError(x, analytic, loss, 10 * H, true));
    }

    static double relativeError(double[] x, double[] analytic, Supplier<Double> loss, double h) {
        return relativeError(x, analytic, loss, h, false);
    }

    private static double relativeError(double[] x, double[] analytic, Supplier<Double> loss, double h, boolean extrapolate) {
        if (analytic.length != x.length)
            throw new IllegalArgumentException("gradient has " + analytic.length + " entries, input " + x.length);
        double diff2 = 0, ref2 = 0;
        for (int i = 0; i < x.length; i++) {
            double numeric = central(x, i, loss, h);
            if (extrapolate) numeric = (4 * central(x, i, loss, h / 2) - numeric) / 3;
            double d = analytic[i] - numeric;
            diff2 += d * d;
            ref2 += numeric * numeric;
        }
        double an2 = 0;
        for (double a : analytic) an2 += a * a;
        return Math.sqrt(diff2) / Math.max(Math.max(Math.sqrt(ref2), Math.sqrt(an2)), NORM_FLOOR);
    }

    /** (loss(x + h e_i) - loss(x - h e_i)) / 2h, x restored. */
    private static double central(double[] x, int i, Supplier<Double> loss, double h) {
        double keep = x[i];
        x[i] = keep + h;
        double up = loss.get();
        x[i] = keep - h;
        double down = loss.get();
        x[i] = keep;
        return (up - down) / (2 * h);
    }

    /** Norm-wise relative difference of two arrays (float32-vs-float64 comparisons and the like). */
    public static double relativeDifference(double[] actual, double[] expected) {
        if (actual.length != expected.length)
            throw new IllegalArgumentException("lengths differ: " + actual.length + " vs " + expected.length);
        double d2 = 0, r2 = 0;
        for (int i = 0; i < actual.length; i++) {
            double d = actual[i] - expected[i];
            if (Double.isNaN(actual[i])) return Double.NaN;
            d2 += d * d;
            r2 += expected[i] * expected[i];
        }
        return Math.sqrt(d2) / Math.max(Math.sqrt(r2), 1e-300);
    }

    /** Fixed weights w for a loss sum(w * out), so every output element gets its own gradient. */
    public static double[] randomWeights(java.util.Random rnd, int n) {
        double[] w = new double[n];
        for (int i = 0; i < n; i++) w[i] = rnd.nextGaussian();
        return w;
    }

    public static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += a[i] * b[i];
        return s;
    }
}
