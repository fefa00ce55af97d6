package io.cmamba.cuda;

import java.util.Arrays;

/**
 * Device-side timing of a region: warm-up runs first, then each timed run between two events on the
 * stream, and the median of the runs (robust to one slow run). Used by the benchmarks.
 */
public final class CudaTimer {
    private CudaTimer() {
    }

    /** Milliseconds of every timed run, in order. */
    public record Result(double[] millis) {
        public double median() {
            double[] s = millis.clone();
            Arrays.sort(s);
            int n = s.length;
            return n % 2 == 1 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
        }

        public double min() {
            return Arrays.stream(millis).min().orElse(Double.NaN);
        }
    }

    /**
     * Runs {@code body} (which issues work on {@code stream}) {@code warmup} times, then {@code runs}
     * times between events.
     */
    public static Result time(CudaStream stream, int warmup, int runs, Runnable body) {
        if (runs < 1) throw new IllegalArgumentException("runs must be >= 1, got " + runs);
        for (int i = 0; i < warmup; i++) body.run();
        stream.synchronize();
        double[] ms = new double[runs];
        try (CudaEvent start = new CudaEvent(); CudaEvent end = new CudaEvent()) {
            for (int i = 0; i < runs; i++) {
                start.record(stream);
                body.run();
                end.record(stream);
                ms[i] = end.millisSince(start);
            }
        }
        return new Result(ms);
    }
}
