package io.cmamba.train;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The sentiment benchmarks' metrics, computed as the community's evaluation code does (MMSA's
 * metricsTop): rounding is half-to-even like numpy's, the "has-0" binary split is negative (< 0)
 * vs non-negative (>= 0), the "non-0" split drops samples whose label is exactly 0, and F1 is the
 * support-weighted mean of the per-class F1 scores.
 */
public final class Metrics {
    private Metrics() {
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

    /** Labels in [-1, 1] (CH-SIMS, CH-SIMS v2): Acc-2/3/5 by the fixed bin edges, F1 (on Acc-2 bins), MAE, Corr. */
    public static Map<String, Double> regression1(float[] pred, float[] truth) {
        check(pred, truth);
        Map<String, Double> r = new LinkedHashMap<>();
        double[][] edges = {{-1.01, 0.0, 1.01}, {-1.01, -0.1, 0.1, 1.01}, {-1.01, -0.7, -0.1, 0.1, 0.7, 1.01}};
        String[] names = {"acc2", "acc3", "acc5"};
        int n = pred.length;
        for (int e = 0; e < edges.length; e++) {
            int[] p = new int[n], t = new int[n];
            for (int i = 0; i < n; i++) {
                p[i] = bin(clip(pred[i], 1), edges[e]);
                t[i] = bin(clip(truth[i], 1), edges[e]);
            }
            r.put(names[e], accuracy(p, t));
            if (e == 0) r.put("f1", weightedF1(p, t, 2));
        }
        r.put("mae", mae(pred, truth));
        r.put("corr", pearson(pred, truth));
        return r;
    }

    /** Classification: accuracy and support-weighted F1 over {@code classes} classes. */
    public static Map<String, Double> classification(int[] pred, int[] truth, int classes) {
        if (pred.length != truth.length) throw new IllegalArgumentException(pred.length + " predictions for " + truth.length + " labels");
        Map<String, Double> r = new LinkedHashMap<>();
        r.put("acc", accuracy(pred, truth));
        r.put("f1", weightedF1(pred, truth, classes));
        return r;
    }

    static double clip(double x, double bound) {
        return Math.max(-bound, Math.min(bound, x));
    }

    /** Index i of the bin (edges[i], edges[i + 1]] holding x. */
    static int bin(double x, double[] edges) {
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

    private static void check(float[] pred, float[] truth) {
        if (pred.length != truth.length) throw new IllegalArgumentException(pred.length + " predictions for " + truth.length + " labels");
        if (pred.length == 0) throw new IllegalArgumentException("no samples to evaluate");
    }
}
