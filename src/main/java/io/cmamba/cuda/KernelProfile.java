package io.cmamba.cuda;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Device time and work per kernel over a profiled region ({@link KernelProfiler}), summed by kernel
 * name, with each kernel's roofline: the time its {@link KernelWork} needs at the {@link Ceilings}
 * over the time it took.
 */
public final class KernelProfile {
    /** One kernel: how often it ran, its device time in all, and the work of all its launches. */
    public record Entry(String kernel, int launches, double millis, KernelWork work) {
        /** Fraction of the roofline reached: floor time over measured time (1 = at the ceiling). */
        public double roofline(Ceilings c) {
            return millis > 0 ? work.floorMillis(c) / millis : Double.NaN;
        }

        public double bytesPerSecond() {
            return work.bytes() / (millis * 1e-3);
        }

        public double flopsPerSecond() {
            return 2 * work.fmas() / (millis * 1e-3);
        }
    }

    private static final class Sum {
        int launches;
        double millis;
        KernelWork work = KernelWork.NONE;
    }

    private final Map<String, Sum> sums = new LinkedHashMap<>();

    public void add(String kernel, double millis, KernelWork work) {
        if (!(millis >= 0)) throw new IllegalArgumentException("kernel " + kernel + ": time " + millis + " ms");
        Sum s = sums.computeIfAbsent(kernel, k -> new Sum());
        s.launches++;
        s.millis += millis;
        s.work = s.work.plus(work);
    }

    /** Every kernel, the longest first. */
    public List<Entry> entries() {
        List<Entry> out = new ArrayList<>();
        sums.forEach((k, s) -> out.add(new Entry(k, s.launches, s.millis, s.work)));
        out.sort(Comparator.comparingDouble(Entry::millis).reversed());
        return out;
    }

    /** Device time of all launches (gaps between them not counted). */
    public double totalMillis() {
        return sums.values().stream().mapToDouble(s -> s.millis).sum();
    }

    public int launches() {
        return sums.values().stream().mapToInt(s -> s.launches).sum();
    }

    /**
     * "coupled_scan_fwd  x3  1.234 ms  41.0%  2.10 TB/s  3.2 TFLOP/s  exp 1.1 T/s  roofline 31% (exp)":
     * the kernel's share of {@code totalMillis}, its achieved rates, and the fraction of its floor.
     */
    public static String line(Entry e, double totalMillis, Ceilings c) {
        double s = e.millis() * 1e-3;
        return String.format(Locale.ROOT, "%-34s x%-4d %9.3f ms %5.1f%%  %7.1f GB/s  %7.2f TFLOP/s  %6.3f Texp/s  roofline %5.1f%% (%s)",
                e.kernel(), e.launches(), e.millis(), 100 * e.millis() / totalMillis, e.work().bytes() / s / 1e9,
                2 * e.work().fmas() / s / 1e12, e.work().exps() / s / 1e12, 100 * e.roofline(c), e.work().bound(c));
    }
}
