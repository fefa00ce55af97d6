package io.cmamba.bench;

import io.cmamba.cuda.Ceilings;
import io.cmamba.cuda.KernelProfile;
import io.cmamba.cuda.KernelWork;
import io.cmamba.files.AtomicFiles;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * The roofline line per kernel of {@code cmamba bench}: for each model, length and pass (one inference
 * pass, one training step), every kernel's launches, device time, share of the pass, achieved rates and
 * the fraction of its floor (its {@link KernelWork} at the {@link Ceilings} measured in the same run).
 * Written as kernels.csv (every kernel) and kernels.txt (the table, grouped, for reading).
 */
public final class KernelReport {
    public static final List<String> COLUMNS = List.of("model", "length", "batch", "pass", "kernel", "launches", "ms", "share",
            "bytes", "fmas", "exps", "floor_ms", "bound", "roofline");

    /** One kernel in one profiled pass. */
    public record Row(String model, int length, int batch, String pass, KernelProfile.Entry entry, double passMillis) {
        public Row {
            Objects.requireNonNull(entry, "entry");
        }
    }

    private KernelReport() {
    }

    /** The rows of one profiled pass, the longest kernel first. */
    public static List<Row> rows(String model, int length, int batch, String pass, KernelProfile profile) {
        List<Row> out = new ArrayList<>();
        double total = profile.totalMillis();
        for (KernelProfile.Entry e : profile.entries()) out.add(new Row(model, length, batch, pass, e, total));
        return out;
    }

    public static String csv(List<Row> rows, Ceilings c) {
        StringBuilder sb = new StringBuilder(String.join(",", COLUMNS)).append('\n');
        for (Row r : rows) {
            KernelProfile.Entry e = r.entry();
            KernelWork w = e.work();
            sb.append(String.format(Locale.ROOT, "%s,%d,%d,%s,%s,%d,%.6f,%.5f,%.0f,%.0f,%.0f,%.6f,%s,%.5f%n", r.model(), r.length(),
                    r.batch(), r.pass(), e.kernel(), e.launches(), e.millis(), e.millis() / r.passMillis(), w.bytes(), w.fmas(),
                    w.exps(), w.floorMillis(c), w.bound(c), e.roofline(c)));
        }
        return sb.toString();
    }

    /**
     * The readable table: the ceilings, then per model, length and pass the kernels that take at least
     * {@code minShare} of the pass (the rest summed in one line).
     */
    public static List<String> text(List<Row> rows, Ceilings c, double minShare) {
        List<String> out = new ArrayList<>();
        out.add("ceilings: " + c.describe());
        out.add("roofline = floor / time, floor = max(bytes / copy bandwidth, FMAs / FP32 rate, exps / exp rate); "
                + "work = what the mathematics needs (io.cmamba.cuda.KernelWork), not recomputation");
        out.add("each time runs from an event before the launch to one after it: where the host launches more slowly than "
                + "the GPU runs (small sizes), it includes the wait for the launch");
        String key = null;
        double restMs = 0;
        int rest = 0;
        for (Row r : rows) {
            String k = r.model() + " L " + r.length() + " batch " + r.batch() + ", " + r.pass();
            if (!k.equals(key)) {
                if (rest > 0) out.add(String.format(Locale.ROOT, "  (%d more kernels, %.3f ms)", rest, restMs));
                rest = 0;
                restMs = 0;
                key = k;
                out.add("");
                out.add(String.format(Locale.ROOT, "%s: %.3f ms of kernels", k, r.passMillis()));
            }
            if (r.entry().millis() >= minShare * r.passMillis()) out.add("  " + KernelProfile.line(r.entry(), r.passMillis(), c));
            else {
                rest++;
                restMs += r.entry().millis();
            }
        }
        if (rest > 0) out.add(String.format(Locale.ROOT, "  (%d more kernels, %.3f ms)", rest, restMs));
        return out;
    }

    public static void write(Path dir, List<Row> rows, Ceilings c) throws IOException {
        AtomicFiles.writeString(dir.resolve("kernels.csv"), csv(rows, c));
        AtomicFiles.writeString(dir.resolve("kernels.txt"), String.join("\n", text(rows, c, 0.02)) + "\n");
    }
}
