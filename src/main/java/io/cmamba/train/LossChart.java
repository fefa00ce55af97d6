package io.cmamba.train;

import io.cmamba.files.AtomicFiles;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

import java.awt.BasicStroke;
import java.awt.Color;
import java.io.IOException;
import java.nio.file.Path;

/** The loss curve (per-update training loss, epoch means and validation loss against epochs) as a PNG. */
public final class LossChart {
    private LossChart() {
    }

    public static void write(Path png, TrainerState state, String metricName) throws IOException {
        // no display is needed or wanted: charts are drawn into an image on servers and in CI
        System.setProperty("java.awt.headless", "true");
        XYSeries steps = new XYSeries("training loss (per update)", false, true);
        XYSeries train = new XYSeries("training loss (epoch mean)", false, true);
        XYSeries valid = new XYSeries("validation loss", false, true);
        for (TrainerState.EpochRecord r : state.history) {
            float[] s = r.stepLosses();
            if (s != null)
                for (int i = 0; i < s.length; i++)
                    if (Float.isFinite(s[i])) steps.add(r.epoch() - 1 + (i + 1.0) / s.length, s[i]);
            train.add(r.epoch(), r.trainLoss());
            Double v = r.valid().get("loss");
            if (v != null && Double.isFinite(v)) valid.add((double) r.epoch(), v);
        }
        XYSeriesCollection data = new XYSeriesCollection();
        data.addSeries(steps);
        data.addSeries(train);
        data.addSeries(valid);
        String title = "Training" + (state.bestEpoch > 0 ? " (best " + metricName + " at epoch " + state.bestEpoch + ")" : "");
        JFreeChart chart = ChartFactory.createXYLineChart(title, "epoch", "loss", data, PlotOrientation.VERTICAL,
                true, false, false);
        XYPlot plot = chart.getXYPlot();
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        // the interesting part is how the losses move, not their distance from zero
        ((org.jfree.chart.axis.NumberAxis) plot.getRangeAxis()).setAutoRangeIncludesZero(false);
        XYLineAndShapeRenderer r = new XYLineAndShapeRenderer();
        r.setSeriesPaint(0, new Color(150, 180, 230));
        r.setSeriesShapesVisible(0, false);
        r.setSeriesStroke(0, new BasicStroke(1f));
        r.setSeriesPaint(1, new Color(30, 80, 200));
        r.setSeriesStroke(1, new BasicStroke(2f));
        r.setSeriesPaint(2, new Color(220, 90, 30));
        r.setSeriesStroke(2, new BasicStroke(2f));
        plot.setRenderer(r);
        AtomicFiles.write(png, out -> ChartUtils.writeChartAsPNG(out, chart, 900, 540));
    }
}
