package io.cmamba.train;

/**
 * Learning rate per update: a linear warm-up from peak/warmup to peak over the first {@code warmup}
 * updates, then either constant or a half cosine from peak down to {@code floor * peak} at update
 * {@code total}. Updates count from 1; past {@code total} the rate stays at its last value.
 */
public record LrSchedule(Kind kind, double peak, long warmup, long total, double floor) {

    public enum Kind { CONSTANT, COSINE }

    public LrSchedule {
        if (kind == null) throw new IllegalArgumentException("schedule kind is missing");
        if (!(peak > 0) || Double.isInfinite(peak)) throw new IllegalArgumentException("learning rate must be > 0, got " + peak);
        if (warmup < 0) throw new IllegalArgumentException("warm-up must be >= 0 updates, got " + warmup);
        if (total < 1) throw new IllegalArgumentException("total updates must be >= 1, got " + total);
        if (!(floor >= 0 && floor <= 1)) throw new IllegalArgumentException("cosine floor must lie in [0, 1], got " + floor);
    }

    public double at(long step) {
        if (step < 1) throw new IllegalArgumentException("updates count from 1, got " + step);
        if (step <= warmup) return peak * step / warmup;
        if (kind == Kind.CONSTANT) return peak;
        long span = total - warmup;
        if (span <= 0) return peak;
        // step warmup+1 is the first after the warm-up and runs at the peak; step total runs at the floor
        double progress = Math.min(1.0, (double) (step - warmup - 1) / Math.max(1, span - 1));
        double low = floor * peak;
        return low + (peak - low) * 0.5 * (1 + Math.cos(Math.PI * progress));
    }
}
