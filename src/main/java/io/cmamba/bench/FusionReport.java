package io.cmamba.bench;

import com.google.gson.GsonBuilder;
import io.cmamba.bench.FusionBenchmark.Row;
import io.cmamba.files.AtomicFiles;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.LogAxis;
import org.jfree.chart.axis.NumberTickUnit;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

import java.awt.BasicStroke;
import java.awt.Color;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.DecimalFormat;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.function.ToDoubleFunction;
import java.util.stream.Stream;

/**
 * The tables of {@code cmamba bench} and what is drawn and concluded from them, apart from measuring:
 * reading and joining CSVs (our rows and a peer's, e.g. bench/peers/bench_fusion_torch.py's), the CSV
 * and JSON, the plots (one series per model), the summary line per length (Coupled Mamba's time and
 * memory over every other model's) and the check of the project's targets. Works without a GPU, so
 * that a table measured elsewhere can be re-drawn here.
 */
public final class FusionReport {
    /** The sweep's columns before the driver's figures: still read (their driver figures are NaN). */
    public static final List<String> COLUMNS_WITHOUT_DRIVER =
            List.of("model", "length", "batch", "infer_ms", "train_ms", "infer_peak_mib", "train_peak_mib", "oom");
    /** The sweep's columns, in order; a joined file must have these or {@link #COLUMNS_WITHOUT_DRIVER}. */
    public static final List<String> COLUMNS = Stream.concat(COLUMNS_WITHOUT_DRIVER.stream(),
            Stream.of("infer_driver_mib", "train_driver_mib")).toList();
    /** The throughput table's columns ({@code --throughput}, bench/peers/throughput_torch.py). */
    public static final List<String> THROUGHPUT_COLUMNS = List.of("model", "length", "batch", "train_step_ms", "samples_per_s");

    static final String OURS = "coupled-mamba", PLAIN = "cross-attention-plain", SDPA = "torch-cross-attention-sdpa";
    /** Target 1: Coupled Mamba's peak memory at most this fraction of plain cross-attention's, from {@link #LONG} on. */
    static final double PLAIN_MEMORY_FRACTION = 0.163;
    static final int LONG = 2048;

    /** Training throughput of one model at one point; NaN where it did not run. */
    public record ThroughputRow(String model, int length, int batch, double stepMs, double samplesPerS) {
    }

    /** What one CSV held: sweep rows or throughput rows, as its header says ({@code sweep}). */
    public record Table(boolean sweep, List<Row> rows, List<ThroughputRow> throughput) {
    }

    public enum Status { PASS, FAIL, NA }

    /** One target at one (length, batch): its verdict and the figures behind it. */
    public record Check(int target, int length, int batch, Status status, String detail) {
    }

    static final String[] TARGETS = {
            "peak memory <= 16.3% of cross-attention-plain's at L >= " + LONG,
            "peak memory <= " + SDPA + "'s at every L",
            "inference faster than " + SDPA + "'s at every L"};

    private FusionReport() {
    }

    // ---- reading and joining

    /** A sweep or throughput CSV; any malformed line is an IllegalArgumentException naming file, line and field. */
    public static Table read(Path csv) throws IOException {
        List<String> lines = Files.readAllLines(csv);
        if (lines.isEmpty()) throw new IllegalArgumentException(csv + ": empty file, expected the header " + String.join(",", COLUMNS));
        List<String> header = List.of(lines.get(0).strip().split(",", -1));
        boolean driver = header.equals(COLUMNS), sweep = driver || header.equals(COLUMNS_WITHOUT_DRIVER);
        if (!sweep && !header.equals(THROUGHPUT_COLUMNS))
            throw new IllegalArgumentException(csv + ": header '" + lines.get(0).strip() + "' is neither " + String.join(",", COLUMNS)
                    + " (or that without its two driver columns) nor " + String.join(",", THROUGHPUT_COLUMNS));
        List<Row> rows = new ArrayList<>();
        List<ThroughputRow> tp = new ArrayList<>();
        for (int i = 1; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty()) continue;
            String[] f = line.split(",", -1);
            String where = csv + " line " + (i + 1);
            if (f.length != header.size())
                throw new IllegalArgumentException(where + ": expected " + header.size() + " fields (" + String.join(",", header)
                        + "), got " + f.length + ": '" + line + "'");
            if (f[0].isBlank()) throw new IllegalArgumentException(where + ": the model name is empty");
            int length = count(f[1], "length", where), batch = count(f[2], "batch", where);
            if (sweep) {
                if (!f[7].equals("true") && !f[7].equals("false"))
                    throw new IllegalArgumentException(where + ": oom must be true or false, got '" + f[7] + "'");
                rows.add(new Row(f[0], length, batch, number(f[3], "infer_ms", where), number(f[4], "train_ms", where),
                        number(f[5], "infer_peak_mib", where), number(f[6], "train_peak_mib", where), f[7].equals("true"), "",
                        driver ? number(f[8], "infer_driver_mib", where) : Double.NaN,
                        driver ? number(f[9], "train_driver_mib", where) : Double.NaN));
            } else {
                tp.add(new ThroughputRow(f[0], length, batch, number(f[3], "train_step_ms", where), number(f[4], "samples_per_s", where)));
            }
        }
        return new Table(sweep, rows, tp);
    }

    private static int count(String s, String what, String where) {
        try {
            int v = Integer.parseInt(s.strip());
            if (v >= 1) return v;
        } catch (NumberFormatException ignored) {
            // reported below
        }
        throw new IllegalArgumentException(where + ": " + what + " must be an integer >= 1, got '" + s + "'");
    }

    private static double number(String s, String what, String where) {
        String t = s.strip();
        if (t.isEmpty() || t.equalsIgnoreCase("nan")) return Double.NaN;
        try {
            double v = Double.parseDouble(t);
            if (!Double.isInfinite(v) && v >= 0) return v;
        } catch (NumberFormatException ignored) {
            // reported below
        }
        throw new IllegalArgumentException(where + ": " + what + " must be a number >= 0 or NaN, got '" + s + "'");
    }

    /** Rows of {@code base} then {@code more}; a row of {@code more} replaces one of the same model, length and batch. */
    public static List<Row> join(List<Row> base, List<Row> more) {
        return merge(base, more, r -> r.model() + "|" + r.length() + "|" + r.batch());
    }

    public static List<ThroughputRow> joinThroughput(List<ThroughputRow> base, List<ThroughputRow> more) {
        return merge(base, more, r -> r.model() + "|" + r.length() + "|" + r.batch());
    }

    private static <T> List<T> merge(List<T> base, List<T> more, Function<T, String> key) {
        Map<String, T> m = new LinkedHashMap<>();
        for (T r : base) m.put(key.apply(r), r);
        for (T r : more) m.put(key.apply(r), r);
        return new ArrayList<>(m.values());
    }

    // ---- tables

    public static String csv(List<Row> rows) {
        StringBuilder csv = new StringBuilder(String.join(",", COLUMNS)).append('\n');
        for (Row r : rows)
            csv.append(String.format(Locale.ROOT, "%s,%d,%d,%.4f,%.4f,%.2f,%.2f,%b,%.2f,%.2f%n", r.model(), r.length(), r.batch(),
                    r.inferMs(), r.trainMs(), r.inferPeakMiB(), r.trainPeakMiB(), r.oom(), r.inferDriverMiB(), r.trainDriverMiB()));
        return csv.toString();
    }

    public static String throughputCsv(List<ThroughputRow> rows) {
        StringBuilder csv = new StringBuilder(String.join(",", THROUGHPUT_COLUMNS)).append('\n');
        for (ThroughputRow r : rows)
            csv.append(String.format(Locale.ROOT, "%s,%d,%d,%.4f,%.1f%n", r.model(), r.length(), r.batch(), r.stepMs(), r.samplesPerS()));
        return csv.toString();
    }

    /**
     * fusion-bench.csv, fusion-bench.json (device, settings, the joined files, rows, summary, target checks),
     * speed.png, train-speed.png and (when any peak was measured) memory.png (training step),
     * memory-inference.png and memory-driver.png (the driver's figure, training step). A machine without the font
     * libraries Java2D needs cannot draw the PNGs: that is reported on {@code log}, the tables are written
     * anyway, and {@code cmamba bench --join-only} re-draws them elsewhere. Returns the names of the plots drawn (none there).
     */
    public static List<String> write(Path dir, String device, Object settings, List<String> joined, List<Row> rows, PrintStream log)
            throws IOException {
        Files.createDirectories(dir);
        AtomicFiles.writeString(dir.resolve("fusion-bench.csv"), csv(rows));
        var json = new LinkedHashMap<String, Object>();
        json.put("device", device);
        json.put("settings", settings);
        json.put("joined", joined);
        json.put("rows", rows);
        json.put("summary", summary(rows));
        json.put("targets", targets(rows));
        AtomicFiles.writeString(dir.resolve("fusion-bench.json"),
                new GsonBuilder().setPrettyPrinting().serializeSpecialFloatingPointValues().create().toJson(json));
        List<String> drawn = new ArrayList<>();
        try {
            chart(dir, drawn, "speed.png", "Inference time against sequence length (" + device + ")", "ms per batch (inference)",
                    rows, Row::inferMs);
            chart(dir, drawn, "train-speed.png", "Training-step time against sequence length (" + device + ")",
                    "ms per batch (forward + backward)", rows, Row::trainMs);
            chart(dir, drawn, "memory.png", "Peak device memory (allocator) against sequence length (" + device + ")",
                    "MiB (training step)", rows, Row::trainPeakMiB);
            chart(dir, drawn, "memory-inference.png",
                    "Peak device memory (allocator) in inference against sequence length (" + device + ")",
                    "MiB (inference)", rows, Row::inferPeakMiB);
            // the driver's count: what nvidia-smi would show, the CUDA context and cached blocks included
            chart(dir, drawn, "memory-driver.png", "Device memory in use, by the driver (" + device + ")",
                    "MiB (training step; context and cache included)", rows, Row::trainDriverMiB);
            return drawn;
        } catch (RuntimeException | Error e) { // a missing font library surfaces as an Error from Java2D
            log.println("could not draw the plots here (" + e + "); the tables are written: re-draw them with "
                    + "`cmamba bench --join-only --in " + dir + "` on a machine with fonts");
            return List.of();
        }
    }

    /** The models in order of first appearance. */
    static List<String> models(List<Row> rows) {
        Set<String> m = new LinkedHashSet<>();
        for (Row r : rows) m.add(r.model());
        return new ArrayList<>(m);
    }

    /** Draws dir/name and adds name to drawn, when any row has the value (older tables lack some columns). */
    private static void chart(Path dir, List<String> drawn, String name, String title, String yLabel, List<Row> rows,
                              ToDoubleFunction<Row> value) throws IOException {
        if (rows.stream().noneMatch(r -> Double.isFinite(value.applyAsDouble(r)))) return;
        chart(dir.resolve(name), title, yLabel, rows, value);
        drawn.add(name);
    }

    static void chart(Path png, String title, String yLabel, List<Row> rows, ToDoubleFunction<Row> value) throws IOException {
        System.setProperty("java.awt.headless", "true");
        boolean batches = rows.stream().map(Row::batch).distinct().count() > 1;
        Map<String, XYSeries> series = new LinkedHashMap<>();
        for (Row r : rows) {
            String name = batches ? r.model() + " (batch " + r.batch() + ")" : r.model();
            XYSeries s = series.computeIfAbsent(name, XYSeries::new);
            double v = value.applyAsDouble(r);
            if (Double.isFinite(v) && v > 0) s.add(r.length(), v);
        }
        XYSeriesCollection data = new XYSeriesCollection();
        for (XYSeries s : series.values()) data.addSeries(s);
        JFreeChart chart = ChartFactory.createXYLineChart(title, "sequence length L", yLabel, data, PlotOrientation.VERTICAL,
                true, false, false);
        // both quantities span orders of magnitude over a doubling sweep: log axes show the slopes (L vs L^2)
        LogAxis x = new LogAxis("sequence length L");
        x.setBase(2);
        x.setTickUnit(new NumberTickUnit(1)); // a tick per doubling
        x.setNumberFormatOverride(new DecimalFormat("0"));
        LogAxis y = new LogAxis(yLabel);
        y.setBase(2);
        y.setTickUnit(new NumberTickUnit(1)); // powers of two: round labels at any range
        y.setNumberFormatOverride(new DecimalFormat("0.###"));
        var plot = chart.getXYPlot();
        plot.setDomainAxis(x);
        plot.setRangeAxis(y);
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        XYLineAndShapeRenderer renderer = (XYLineAndShapeRenderer) plot.getRenderer();
        renderer.setDefaultShapesVisible(true);
        int i = 0;
        for (String name : series.keySet()) {
            // a model and its PyTorch peer share a colour; the peer's line is dashed
            Color c = colour(name);
            if (c != null) renderer.setSeriesPaint(i, c);
            if (name.startsWith("torch-"))
                renderer.setSeriesStroke(i, new BasicStroke(2f, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND, 1f, new float[]{7f, 4f}, 0f));
            else
                renderer.setSeriesStroke(i, new BasicStroke(2f));
            i++;
        }
        AtomicFiles.write(png, out -> ChartUtils.writeChartAsPNG(out, chart, 900, 540));
    }

    private static Color colour(String series) {
        String m = series.replaceFirst(" \\(batch .*", "").replaceFirst("^torch-", "");
        return switch (m) {
            case "coupled-mamba" -> new Color(200, 30, 30);
            case "coupled-mamba-chunked" -> new Color(235, 130, 20);
            case "coupled-mamba-compiled" -> new Color(150, 60, 160);
            case "cross-attention-plain" -> new Color(30, 80, 200);
            case "cross-attention-flash", "cross-attention-sdpa" -> new Color(20, 150, 60);
            default -> null;
        };
    }

    // ---- conclusions

    private static String shortName(String model) {
        return model.replace("cross-attention-", "attn-");
    }

    /**
     * One line per (length, batch) with a coupled-mamba row: its inference time (training-step time) and
     * training-step peak memory (inference peak) as a percentage of every other model's at the same size.
     */
    public static List<String> summary(List<Row> rows) {
        List<String> lines = new ArrayList<>();
        for (Row c : rows) {
            if (!c.model().equals(OURS)) continue;
            StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "L %6d B %4d:", c.length(), c.batch()));
            String sep = "";
            for (Row a : rows) {
                if (a.length() != c.length() || a.batch() != c.batch() || a.model().equals(OURS)) continue;
                sb.append(sep.isEmpty() ? " " : sep).append(" vs ").append(shortName(a.model())).append(": ");
                boolean none = !Double.isFinite(a.inferMs()) && !Double.isFinite(a.trainMs());
                if (none) sb.append(a.oom() ? "out of memory" : "not measured");
                else sb.append(String.format(Locale.ROOT, "time %s (train %s), memory %s (infer %s)",
                        ratio(c.inferMs(), a.inferMs(), a.oom()), ratio(c.trainMs(), a.trainMs(), a.oom()),
                        ratio(c.trainPeakMiB(), a.trainPeakMiB(), a.oom()), ratio(c.inferPeakMiB(), a.inferPeakMiB(), a.oom())));
                sep = " |";
            }
            lines.add(sb.toString());
        }
        return lines;
    }

    /** ours / theirs as a percentage; "theirs out of memory" where they have no figure because of it. */
    static String ratio(double ours, double theirs, boolean theirsOom) {
        if (!Double.isFinite(theirs) && theirsOom) return "theirs out of memory";
        if (!Double.isFinite(ours) || !Double.isFinite(theirs) || theirs == 0) return "n/a";
        return String.format(Locale.ROOT, "%.1f%%", 100 * ours / theirs);
    }

    /**
     * The project's targets (all float32, one run), per (length, batch) with a coupled-mamba row: 1. peak
     * memory at most 16.3% of cross-attention-plain's at L >= 2048; 2. peak memory never above
     * torch-cross-attention-sdpa's; 3. inference faster than torch-cross-attention-sdpa's. "Peak memory"
     * is checked both for the inference pass and for the training step: both must hold. A reference that
     * ran out of memory where ours did not counts as passed; a missing figure (no row, a skipped size,
     * no memory figures on the CPU) is NA.
     */
    public static List<Check> targets(List<Row> rows) {
        List<Check> checks = new ArrayList<>();
        for (Row c : rows) {
            if (!c.model().equals(OURS)) continue;
            Row plain = find(rows, PLAIN, c), sdpa = find(rows, SDPA, c);
            if (c.length() >= LONG) checks.add(memoryCheck(1, c, plain, PLAIN_MEMORY_FRACTION));
            checks.add(memoryCheck(2, c, sdpa, 1.0));
            checks.add(speedCheck(c, sdpa));
        }
        return checks;
    }

    private static Row find(List<Row> rows, String model, Row at) {
        Row found = null;
        for (Row r : rows) if (r.model().equals(model) && r.length() == at.length() && r.batch() == at.batch()) found = r;
        return found;
    }

    private static Check memoryCheck(int target, Row ours, Row theirs, double fraction) {
        if (theirs == null) return new Check(target, ours.length(), ours.batch(), Status.NA, "no " + (target == 1 ? PLAIN : SDPA) + " row");
        Status s = Status.PASS;
        List<String> parts = new ArrayList<>();
        for (int phase = 0; phase < 2; phase++) {
            double o = phase == 0 ? ours.inferPeakMiB() : ours.trainPeakMiB(), t = phase == 0 ? theirs.inferPeakMiB() : theirs.trainPeakMiB();
            String name = phase == 0 ? "infer" : "train";
            Status p;
            if (!Double.isFinite(o)) {
                p = ours.oom() ? Status.FAIL : Status.NA;
                parts.add(name + (ours.oom() ? " ours out of memory" : " ours not measured"));
            } else if (!Double.isFinite(t)) {
                p = theirs.oom() ? Status.PASS : Status.NA;
                parts.add(String.format(Locale.ROOT, "%s %.1f MiB, theirs %s", name, o, theirs.oom() ? "out of memory" : "not measured"));
            } else {
                p = o <= fraction * t ? Status.PASS : Status.FAIL;
                parts.add(String.format(Locale.ROOT, "%s %.1f%% (%.1f / %.1f MiB)", name, 100 * o / t, o, t));
            }
            s = worse(s, p);
        }
        return new Check(target, ours.length(), ours.batch(), s, String.join(", ", parts));
    }

    private static Check speedCheck(Row ours, Row sdpa) {
        if (sdpa == null) return new Check(3, ours.length(), ours.batch(), Status.NA, "no " + SDPA + " row");
        double o = ours.inferMs(), t = sdpa.inferMs();
        if (!Double.isFinite(o))
            return new Check(3, ours.length(), ours.batch(), ours.oom() ? Status.FAIL : Status.NA,
                    ours.oom() ? "ours out of memory" : "ours not measured");
        if (!Double.isFinite(t))
            return new Check(3, ours.length(), ours.batch(), sdpa.oom() ? Status.PASS : Status.NA,
                    String.format(Locale.ROOT, "%.3f ms, theirs %s", o, sdpa.oom() ? "out of memory" : "not measured"));
        return new Check(3, ours.length(), ours.batch(), o < t ? Status.PASS : Status.FAIL,
                String.format(Locale.ROOT, "%.3f vs %.3f ms (theirs / ours %.2fx)", o, t, t / o));
    }

    private static Status worse(Status a, Status b) {
        if (a == Status.FAIL || b == Status.FAIL) return Status.FAIL;
        if (a == Status.NA || b == Status.NA) return Status.NA;
        return Status.PASS;
    }

    /** The target checks as text: the targets, one line per check, a count. */
    public static List<String> targetLines(List<Row> rows) {
        List<Check> checks = new ArrayList<>(targets(rows));
        checks.sort(java.util.Comparator.comparingInt(Check::target)); // stable: lengths stay in the table's order
        List<String> lines = new ArrayList<>();
        lines.add("targets (float32; peak memory = the allocator's peak in the inference pass and in the training step, both must hold):");
        for (int t = 0; t < TARGETS.length; t++) lines.add("  " + (t + 1) + ". " + TARGETS[t]);
        int[] n = new int[3];
        for (Check c : checks) {
            n[c.status().ordinal()]++;
            lines.add(String.format(Locale.ROOT, "  target %d  L %6d B %4d  %-4s  %s", c.target(), c.length(), c.batch(),
                    c.status() == Status.NA ? "n/a" : c.status().name(), c.detail()));
        }
        lines.add(String.format(Locale.ROOT, "targets: %d PASS, %d FAIL, %d n/a", n[0], n[1], n[2]));
        return lines;
    }

    /** Per point: coupled-mamba's samples per second and its factor over every other model's. */
    public static List<String> throughputSummary(List<ThroughputRow> rows) {
        List<String> lines = new ArrayList<>();
        for (ThroughputRow c : rows) {
            if (!c.model().equals(OURS)) continue;
            StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "B %4d L %6d: %s %.1f samples/s", c.batch(),
                    c.length(), OURS, c.samplesPerS()));
            for (ThroughputRow a : rows) {
                if (a.length() != c.length() || a.batch() != c.batch() || a.model().equals(OURS)) continue;
                sb.append(String.format(Locale.ROOT, " | vs %s %.1f samples/s: %s", shortName(a.model()), a.samplesPerS(),
                        Double.isFinite(c.samplesPerS()) && Double.isFinite(a.samplesPerS()) && a.samplesPerS() > 0
                                ? String.format(Locale.ROOT, "%.2fx", c.samplesPerS() / a.samplesPerS()) : "n/a"));
            }
            lines.add(sb.toString());
        }
        return lines;
    }
}
