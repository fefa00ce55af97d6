package io.cmamba.train;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The sentiment benchmarks' metrics, computed as the community's evaluation code does (MMSA's
 * metricsTop): rounding is half-to-even like numpy's, the "has-0" binary split is negative (< 0)
 * vs non-negative (>= 0), the "non-0" split drops samples whose label is exactly 0, F1 is the
 * support-weighted mean of the per-class F1 scores, and on the [-1, 1] scale (CH-SIMS) predictions
 * and labels are clipped to [-1, 1] before every metric, MAE and Corr included.
 *
 * <p>Key names: regression on [-3, 3]: mae, corr, acc7, acc5, acc2_has0, f1_has0, acc2_non0,
 * f1_non0; on [-1, 1]: acc2, acc3, acc5, f1, mae, corr; classification: acc, f1. A metric that is
 * undefined on the given samples (Corr of constant predictions, non-0 scores when every label is 0)
 * is NaN, written as null in JSON.
 */
public final class Metrics {
    private Metrics() {
    }

    /**
     * A set of scores with what they were computed on, for reports and logs.
     *
     * @param task    "regression3" (labels in [-3, 3]), "regression1" (labels in [-1, 1]) or "classification"
     * @param samples how many samples were scored
     * @param scores  metric name to value (NaN where undefined), in a fixed order
     */
    public record Result(String task, int samples, Map<String, Double> scores) {
        public Result {
            scores = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(scores));
        }

        public double get(String metric) {
            Double v = scores.get(metric);
            if (v == null) throw new IllegalArgumentException("no metric '" + metric + "' for " + task + " (have " + scores.keySet() + ")");
            return v;
        }

        /** {"task": ..., "samples": n, "scores": {...}} with undefined scores as null (JSON has no NaN). */
        public JsonObject toJsonObject() {
            JsonObject o = new JsonObject();
            o.addProperty("task", task);
            o.addProperty("samples", samples);
            JsonObject sc = new JsonObject();
            scores.forEach((k, v) -> sc.addProperty(k, Double.isFinite(v) ? v : null));
            o.add("scores", sc);
            return o;
        }

        public String toJson() {
            return new GsonBuilder().serializeNulls().create().toJson(toJsonObject());
        }

        /** The inverse of {@link #toJson()}: null scores come back as NaN. */
        public static Result fromJson(String json) {
            try {
                JsonObject o = JsonParser.parseString(json).getAsJsonObject();
                Map<String, Double> sc = new LinkedHashMap<>();
                for (Map.Entry<String, JsonElement> e : o.getAsJsonObject("scores").entrySet())
                    sc.put(e.getKey(), e.getValue().isJsonNull() ? Double.NaN : e.getValue().getAsDouble());
                return new Result(o.get("task").getAsString(), o.get("samples").getAsInt(), sc);
            } catch (RuntimeException e) {
                throw new IllegalArgumentException("not a metrics result: " + e.getMessage(), e);
            }
        }
    }

    /** Regression scores for labels in [-labelRange, labelRange]: 3 (CMU-MOSI/MOSEI) or 1 (CH-SIMS). */
    public static Result regression(float[] pred, float[] truth, double labelRange) {
        if (labelRange == 3) return new Result("regression3", pred.length, regression3(pred, truth));
        if (labelRange == 1) return new Result("regression1", pred.length, regression1(pred, truth));
        throw new IllegalArgumentException("label range must be 3 ([-3, 3]) or 1 ([-1, 1]), got " + labelRange);
    }

    public static Result classificationResult(int[] pred, int[] truth, int classes) {
        return new Result("classification", pred.length, classification(pred, truth, classes));
    }

    /** Labels in [-3, 3] (CMU-MOSI, CMU-MOSEI): MAE, Corr, Acc-7, Acc-5, Acc-2 and F1 has-0 and non-0. */
    public static Map<String, Double> regression3(float[] pred, float[] truth) {
        check(pred, truth);
        Map<String, Double> r = new LinkedHashMap<>();
        r.put("mae", mae(pred, truth));
        r.put("corr", pearson(pred, truth));
        r.put("acc7", roundedAccuracy(pred, truth, 3));
        r.put("acc5", roundedAccuracy(pred, truth, 2));
        int n = pred.length;
        int[] p = new int[n], t = new int[n];
        for (int i = 0; i < n; i++) {
            p[i] = pred[i] >= 0 ? 1 : 0;
            t[i] = truth[i] >= 0 ? 1 : 0;
        }
        r.put("acc2_has0", accuracy(p, t));
        r.put("f1_has0", weightedF1(p, t, 2));
        int k = 0;
        for (float v : truth) if (v != 0) k++;
        int[] pn = new int[k], tn = new int[k];
        for (int i = 0, j = 0; i < n; i++)
            if (truth[i] != 0) {
                pn[j] = pred[i] > 0 ? 1 : 0;
                tn[j++] = truth[i] > 0 ? 1 : 0;
            }
        r.put("acc2_non0", k == 0 ? Double.NaN : accuracy(pn, tn));
        r.put("f1_non0", k == 0 ? Double.NaN : weightedF1(pn, tn, 2));
        return r;
    }

    /**
     * The bin edges of CH-SIMS's Acc-2, Acc-3 and Acc-5; bin i is (edges[i], edges[i + 1]]. Float, not
     * double: the reference compares float32 arrays with these constants in float32, which decides
     * where a value such as 0.1f falls (not above 0.1f, though above the double 0.1).
     */
    static final float[][] SIMS_EDGES = {{-1.01f, 0.0f, 1.01f}, {-1.01f, -0.1f, 0.1f, 1.01f}, {-1.01f, -0.7f, -0.1f, 0.1f, 0.7f, 1.01f}};

    /**
     * Labels in [-1, 1] (CH-SIMS, CH-SIMS v2): predictions and labels are clipped to [-1, 1] first;
     * Acc-2/3/5 by the fixed bin edges, weighted F1 on the Acc-2 bins, MAE and Corr of the clipped values.
     */
    public static Map<String, Double> regression1(float[] pred, float[] truth) {
        check(pred, truth);
        int n = pred.length;
        float[] p = new float[n], t = new float[n];
        for (int i = 0; i < n; i++) {
            p[i] = (float) clip(pred[i], 1);
            t[i] = (float) clip(truth[i], 1);
        }
        Map<String, Double> r = new LinkedHashMap<>();
        String[] names = {"acc2", "acc3", "acc5"};
        for (int e = 0; e < SIMS_EDGES.length; e++) {
            int[] pb = new int[n], tb = new int[n];
            for (int i = 0; i < n; i++) {
                pb[i] = bin(p[i], SIMS_EDGES[e]);
                tb[i] = bin(t[i], SIMS_EDGES[e]);
            }
            r.put(names[e], accuracy(pb, tb));
            if (e == 0) r.put("f1", weightedF1(pb, tb, 2));
        }
        r.put("mae", mae(p, t));
        r.put("corr", pearson(p, t));
        return r;
    }

    /** Classification: accuracy and support-weighted F1 over {@code classes} classes. */
    public static Map<String, Double> classification(int[] pred, int[] truth, int classes) {
        if (pred.length != truth.length) throw new IllegalArgumentException(pred.length + " predictions for " + truth.length + " labels");
        if (pred.length == 0) throw new IllegalArgumentException("no samples to evaluate");
        if (classes < 2) throw new IllegalArgumentException("classes must be >= 2, got " + classes);
        for (int i = 0; i < pred.length; i++)
            if (pred[i] < 0 || pred[i] >= classes || truth[i] < 0 || truth[i] >= classes)
                throw new IllegalArgumentException("sample " + i + ": prediction " + pred[i] + ", label " + truth[i]
                        + ", expected classes in [0, " + classes + ")");
        Map<String, Double> r = new LinkedHashMap<>();
        r.put("acc", accuracy(pred, truth));
        r.put("f1", weightedF1(pred, truth, classes));
        return r;
    }

    static double clip(double x, double bound) {
        return Math.max(-bound, Math.min(bound, x));
    }

    /** Index i of the bin (edges[i], edges[i + 1]] holding x. */
    static int bin(float x, float[] edges) {
        for (int i = 0; i + 1 < edges.length; i++) if (x > edges[i] && x <= edges[i + 1]) return i;
        throw new IllegalArgumentException("value " + x + " outside the bins");
    }

    static double mae(float[] p, float[] t) {
        double s = 0;
        for (int i = 0; i < p.length; i++) s += Math.abs((double) p[i] - t[i]);
        return s / p.length;
    }

    /** Pearson correlation; NaN when either side is constant (as numpy's corrcoef gives). */
    static double pearson(float[] p, float[] t) {
        int n = p.length;
        double mp = 0, mt = 0;
        for (int i = 0; i < n; i++) {
            mp += p[i];
            mt += t[i];
        }
        mp /= n;
        mt /= n;
        double sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < n; i++) {
            double a = p[i] - mp, b = t[i] - mt;
            sxy += a * b;
            sxx += a * a;
            syy += b * b;
        }
        return sxx == 0 || syy == 0 ? Double.NaN : sxy / Math.sqrt(sxx * syy);
    }

    /** Share of samples where round(clip(pred)) == round(clip(truth)), rounding half to even. */
    static double roundedAccuracy(float[] p, float[] t, double bound) {
        int ok = 0;
        for (int i = 0; i < p.length; i++) if (Math.rint(clip(p[i], bound)) == Math.rint(clip(t[i], bound))) ok++;
        return (double) ok / p.length;
    }

    static double accuracy(int[] p, int[] t) {
        int ok = 0;
        for (int i = 0; i < p.length; i++) if (p[i] == t[i]) ok++;
        return p.length == 0 ? Double.NaN : (double) ok / p.length;
    }

    /** sum_c (support_c / n) F1_c, with F1_c = 0 where precision and recall are both 0 (sklearn's rule). */
    static double weightedF1(int[] p, int[] t, int classes) {
        int n = p.length;
        double f = 0;
        for (int c = 0; c < classes; c++) {
            int tp = 0, fp = 0, fn = 0, support = 0;
            for (int i = 0; i < n; i++) {
                if (t[i] == c) support++;
                if (p[i] == c && t[i] == c) tp++;
                else if (p[i] == c) fp++;
                else if (t[i] == c) fn++;
            }
            double f1 = 2.0 * tp + fp + fn == 0 ? 0 : 2.0 * tp / (2.0 * tp + fp + fn);
            f += (double) support / n * f1;
        }
        return f;
    }

    /** Same length, not empty, every value finite (a diverged model's NaN must not pass as a score). */
    private static void check(float[] pred, float[] truth) {
        if (pred.length != truth.length) throw new IllegalArgumentException(pred.length + " predictions for " + truth.length + " labels");
        if (pred.length == 0) throw new IllegalArgumentException("no samples to evaluate");
        for (int i = 0; i < pred.length; i++) {
            if (!Float.isFinite(pred[i])) throw new IllegalArgumentException("prediction " + i + " is " + pred[i]);
            if (!Float.isFinite(truth[i])) throw new IllegalArgumentException("label " + i + " is " + truth[i]);
        }
    }
}
