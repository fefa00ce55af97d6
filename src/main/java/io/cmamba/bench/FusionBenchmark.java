package io.cmamba.bench;

import com.google.gson.GsonBuilder;
import io.cmamba.cuda.CachingAllocator;
import io.cmamba.cuda.CudaBackend;
import io.cmamba.files.AtomicFiles;
import io.cmamba.model.CrossAttentionModel;
import io.cmamba.model.FusionModel;
import io.cmamba.model.ModelConfig;
import io.cmamba.model.ModelInput;
import io.cmamba.model.Models;
import io.cmamba.tensor.AttentionKind;
import io.cmamba.tensor.Backend;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.LogAxis;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * The paper's Figures 3 and 4 on this machine: peak device memory and speed against sequence length
 * for Coupled Mamba and cross-attention fusion (materialised scores, and flash), at equal width,
 * layers and head. Per length: the median of the repeats (after a warm-up) of one inference pass and
 * of one training step (forward + backward), each timed by the host clock around a synchronised
 * region, and the allocator's peak bytes during it (GPU only). A size that runs out of memory is
 * recorded as such. Writes fusion-bench.csv, fusion-bench.json, memory.png and speed.png.
 */
public final class FusionBenchmark {
    public record Settings(int[] lengths, int batch, int dModel, int layers, int heads, int dState, int repeats) {
        @Override
        public String toString() {
            return "lengths " + Arrays.toString(lengths) + ", batch " + batch + ", d_model " + dModel + ", layers " + layers
                    + ", heads " + heads + ", d_state " + dState + ", " + repeats + " timed runs per size";
        }
    }

    /** One model at one length; NaN where not measured, oom set when memory ran out. */
    public record Row(String model, int length, int batch, double inferMs, double trainMs, double inferPeakMiB,
                      double trainPeakMiB, boolean oom, String note) {
    }

    static final String[] MODELS = {"coupled-mamba", "cross-attention-plain", "cross-attention-flash"};

    private FusionBenchmark() {
    }

    static ModelConfig config(Settings s, String model, int length) {
        int[] features = {32, 32, 32}, lengths = {length, length, length};
        ModelConfig c = new ModelConfig(features, lengths, length, s.dModel(), 2, s.dState(), 0, 4, s.layers(),
                ModelConfig.Mode.SELECTIVE, ModelConfig.Fusion.COUPLED, ModelConfig.Architecture.COUPLED_MAMBA, s.heads(),
                ModelConfig.Norm.LAYER, ModelConfig.Task.REGRESSION, 0, 64);
        return model.equals("coupled-mamba") ? c : c.withArchitecture(ModelConfig.Architecture.CROSS_ATTENTION);
    }

    public static List<Row> run(Backend be, Settings s, PrintStream log) {
        List<Row> rows = new ArrayList<>();
        for (int length : s.lengths())
            for (String model : MODELS) {
                Row r = measure(be, s, model, length);
                rows.add(r);
                log.printf(Locale.ROOT, "%-22s L %6d  infer %9.3f ms  train %9.3f ms  peak %9.1f / %9.1f MiB%s%n", model,
                        length, r.inferMs(), r.trainMs(), r.inferPeakMiB(), r.trainPeakMiB(), r.oom() ? "  (out of memory)" : "");
            }
        return rows;
    }

    static Row measure(Backend be, Settings s, String model, int length) {
        ModelConfig c = config(s, model, length);
        FusionModel m = null;
        ModelInput in = null;
        try {
            m = Models.create(c, be, 1);
            if (m instanceof CrossAttentionModel ca)
                ca.attention(model.endsWith("plain") ? AttentionKind.PLAIN : AttentionKind.FLASH);
            in = input(be, c, s.batch());
            final FusionModel fm = m;
            final ModelInput fin = in;
            Tensor dOut = be.zeros(DType.F32, s.batch(), 1);
            double[] infer = time(be, s.repeats(), () -> fm.forward(fin).close());
            double[] train = time(be, s.repeats(), () -> {
                try (FusionModel.Forward f = fm.forward(fin)) {
                    fm.backward(f, dOut);
                }
            });
            dOut.close();
            return new Row(model, length, s.batch(), infer[0], train[0], infer[1], train[1], false, "");
        } catch (RuntimeException | OutOfMemoryError e) {
            if (!isOutOfMemory(e)) throw e;
            return new Row(model, length, s.batch(), Double.NaN, Double.NaN, Double.NaN, Double.NaN, true,
                    String.valueOf(e.getMessage()).lines().findFirst().orElse(""));
        } finally {
            if (in != null) for (Tensor t : in.features()) t.close();
            if (in != null) for (Tensor t : in.lengths()) t.close();
            if (m != null) m.close();
            if (be instanceof CudaBackend g) g.allocator().trim();
        }
    }

    static boolean isOutOfMemory(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof OutOfMemoryError) return true;
            String msg = String.valueOf(t.getMessage()).toLowerCase(Locale.ROOT);
            if (msg.contains("out of memory") || msg.contains("out of device memory")) return true;
        }
        return false;
    }

    static ModelInput input(Backend be, ModelConfig c, int batch) {
        Random r = new Random(5);
        Tensor[] f = new Tensor[c.modalities()], l = new Tensor[c.modalities()];
        for (int m = 0; m < c.modalities(); m++) {
            float[] v = new float[batch * c.inputLengths()[m] * c.featureSizes()[m]];
            for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
            f[m] = be.fromFloats(v, batch, c.inputLengths()[m], c.featureSizes()[m]);
            int[] lens = new int[batch];
            Arrays.fill(lens, c.inputLengths()[m]);
            l[m] = be.fromInts(lens, batch);
        }
        return new ModelInput(f, l);
    }

    /** {median ms, peak MiB during the timed runs (NaN off the GPU)}; one warm-up run first. */
    static double[] time(Backend be, int repeats, Runnable body) {
        body.run();
        be.synchronize();
        CachingAllocator alloc = be instanceof CudaBackend g ? g.allocator() : null;
        // the peak counts everything in use (parameters and inputs too): what the user's device must hold
        if (alloc != null) alloc.resetPeak();
        double[] ms = new double[repeats];
        for (int i = 0; i < repeats; i++) {
            long t0 = System.nanoTime();
            body.run();
            be.synchronize();
            ms[i] = (System.nanoTime() - t0) / 1e6;
        }
        Arrays.sort(ms);
        double peak = alloc == null ? Double.NaN : alloc.stats().peakInUseBytes() / 1048576.0;
        return new double[]{ms[repeats / 2], peak};
    }

    public static void write(Path dir, Settings s, String device, List<Row> rows) throws IOException {
        StringBuilder csv = new StringBuilder("model,length,batch,infer_ms,train_ms,infer_peak_mib,train_peak_mib,oom\n");
        for (Row r : rows)
            csv.append(String.format(Locale.ROOT, "%s,%d,%d,%.4f,%.4f,%.2f,%.2f,%b%n", r.model(), r.length(), r.batch(),
                    r.inferMs(), r.trainMs(), r.inferPeakMiB(), r.trainPeakMiB(), r.oom()));
        AtomicFiles.writeString(dir.resolve("fusion-bench.csv"), csv.toString());
        var json = new java.util.LinkedHashMap<String, Object>();
        json.put("device", device);
        json.put("settings", s);
        json.put("rows", rows);
        AtomicFiles.writeString(dir.resolve("fusion-bench.json"),
                new GsonBuilder().setPrettyPrinting().serializeSpecialFloatingPointValues().create().toJson(json));
        chart(dir.resolve("speed.png"), "Inference time against sequence length (" + device + ")", "ms per batch", rows, false);
        if (rows.stream().anyMatch(r -> Double.isFinite(r.trainPeakMiB())))
            chart(dir.resolve("memory.png"), "Peak device memory against sequence length (" + device + ")", "MiB (training step)", rows, true);
    }

    static void chart(Path png, String title, String yLabel, List<Row> rows, boolean memory) throws IOException {
        System.setProperty("java.awt.headless", "true");
        XYSeriesCollection data = new XYSeriesCollection();
        for (String m : MODELS) {
            XYSeries series = new XYSeries(m);
            for (Row r : rows) {
                double v = memory ? r.trainPeakMiB() : r.inferMs();
                if (r.model().equals(m) && Double.isFinite(v) && v > 0) series.add(r.length(), v);
            }
            data.addSeries(series);
        }
        JFreeChart chart = ChartFactory.createXYLineChart(title, "sequence length L", yLabel, data, PlotOrientation.VERTICAL,
                true, false, false);
        // both quantities span orders of magnitude over a doubling sweep: log axes show the slopes (L vs L^2)
        LogAxis x = new LogAxis("sequence length L");
        x.setBase(2);
        x.setTickUnit(new org.jfree.chart.axis.NumberTickUnit(1)); // a tick per doubling
        x.setNumberFormatOverride(new java.text.DecimalFormat("0"));
        LogAxis y = new LogAxis(yLabel);
        y.setNumberFormatOverride(new java.text.DecimalFormat("0.###"));
        chart.getXYPlot().setDomainAxis(x);
        chart.getXYPlot().setRangeAxis(y);
        chart.getXYPlot().setBackgroundPaint(java.awt.Color.WHITE);
        chart.getXYPlot().setDomainGridlinePaint(java.awt.Color.LIGHT_GRAY);
        chart.getXYPlot().setRangeGridlinePaint(java.awt.Color.LIGHT_GRAY);
        ((org.jfree.chart.renderer.xy.XYLineAndShapeRenderer) chart.getXYPlot().getRenderer()).setDefaultShapesVisible(true);
        AtomicFiles.write(png, out -> ChartUtils.writeChartAsPNG(out, chart, 900, 540));
    }

    /** One line per length: Coupled Mamba's time and memory over each attention variant's. */
    public static List<String> summary(List<Row> rows) {
        List<String> lines = new ArrayList<>();
        for (Row c : rows) {
            if (!c.model().equals("coupled-mamba")) continue;
            StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "L %6d:", c.length()));
            for (Row a : rows) {
                if (a.length() != c.length() || a.model().equals("coupled-mamba")) continue;
                sb.append(String.format(Locale.ROOT, "  vs %s: time %s, memory %s", a.model().replace("cross-attention-", "attn-"),
                        ratio(c.inferMs(), a.inferMs(), a.oom()), ratio(c.trainPeakMiB(), a.trainPeakMiB(), a.oom())));
            }
            lines.add(sb.toString());
        }
        return lines;
    }

    static String ratio(double ours, double theirs, boolean theirsOom) {
        if (theirsOom) return "(theirs out of memory)";
        if (!Double.isFinite(ours) || !Double.isFinite(theirs) || theirs == 0) return "n/a";
        return String.format(Locale.ROOT, "%.1f%%", 100 * ours / theirs);
    }
}
