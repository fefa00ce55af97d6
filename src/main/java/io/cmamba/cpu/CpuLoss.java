package io.cmamba.cpu;

import io.cmamba.tensor.Tensor;

import static io.cmamba.cpu.CpuBackend.data;
import static io.cmamba.cpu.CpuBackend.off;

/** Training losses of the CPU backend: mean L1 (regression) and mean cross entropy (classification). */
final class CpuLoss {
    private CpuLoss() {
    }

    private static int batchOf(String op, Tensor t) {
        int b = t.dim(0);
        if (b == 0) throw new IllegalArgumentException(op + ": empty batch (shape " + t.shape() + ")");
        return b;
    }

    /** loss [1] = mean_b |pred[b] - target[b]|; pred, target [B]. */
    static void l1Forward(Tensor loss, Tensor pred, Tensor target) {
        int n = batchOf("l1Loss", pred);
        double[] p = data(pred), t = data(target);
        int po = off(pred), to = off(target);
        double s = 0;
        for (int i = 0; i < n; i++) s += Math.abs(p[po + i] - t[to + i]);
        data(loss)[off(loss)] = s / n;
    }

    /** dpred [B] = sign(pred - target) / B, with sign(0) = 0 (a zero subgradient at the kink). */
    static void l1Backward(Tensor dpred, Tensor pred, Tensor target) {
        int n = batchOf("l1Loss", pred);
        double[] g = data(dpred), p = data(pred), t = data(target);
        int go = off(dpred), po = off(pred), to = off(target);
        for (int i = 0; i < n; i++) {
            double d = p[po + i] - t[to + i];
            // Math.signum keeps NaN, so a NaN prediction is not hidden behind a zero gradient
            g[go + i] = Math.signum(d) / n;
        }
    }

    private static int label(double[] l, int lo, int b, int k) {
        double v = l[lo + b];
        if (!(v >= 0 && v < k))
            throw new IllegalArgumentException("crossEntropy: label of sample " + b + " is " + (long) v
                    + ", outside [0, " + k + ")");
        return (int) v;
    }

    /**
     * One row's softmax terms: {max, e_y = exp(z[y] - max), rest = sum_{j != y} exp(z[j] - max)}. Keeping
     * rest apart gives a confident correct row its loss log1p(rest) and its label gradient -rest / (e_y +
     * rest) to full relative precision, where log(sum) and softmax - 1 round to 0 once rest is below the
     * float's resolution of 1. With a NaN or infinite maximum only max is meaningful.
     */
    private static double[] rowTerms(double[] z, int base, int k, int y) {
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < k; j++) max = Math.max(max, z[base + j]);
        if (Double.isNaN(max) || Double.isInfinite(max)) return new double[]{max, 0, 0};
        double rest = 0;
        for (int j = 0; j < k; j++) if (j != y) rest += Math.exp(z[base + j] - max);
        return new double[]{max, Math.exp(z[base + y] - max), rest};
    }

    /** loss [1] = mean_b (logsumexp(logits[b]) - logits[b, labels[b]]); logits [B, K]; labels [B] int32. */
    static void crossEntropyForward(Tensor loss, Tensor logits, Tensor labels) {
        int n = batchOf("crossEntropy", logits);
        int k = logits.dim(1);
        double[] z = data(logits), l = data(labels);
        int zo = off(logits), lo = off(labels);
        double s = 0;
        for (int b = 0; b < n; b++) {
            int y = label(l, lo, b, k);
            int base = zo + b * k;
            double[] r = rowTerms(z, base, k, y);
            double zy = z[base + y];
            if (Double.isNaN(r[0]) || Double.isInfinite(r[0])) s += r[0] - zy;   // as logsumexp - z[y]
            else s += zy == r[0] ? Math.log1p(r[2]) : Math.log(r[1] + r[2]) + (r[0] - zy);
        }
        data(loss)[off(loss)] = s / n;
    }

    /** dlogits [B, K] = (softmax(logits[b]) - onehot(labels[b])) / B. */
    static void crossEntropyBackward(Tensor dlogits, Tensor logits, Tensor labels) {
        int n = batchOf("crossEntropy", logits);
        int k = logits.dim(1);
        double[] g = data(dlogits), z = data(logits), l = data(labels);
        int go = off(dlogits), zo = off(logits), lo = off(labels);
        for (int b = 0; b < n; b++) label(l, lo, b, k);
        for (int b = 0; b < n; b++) {
            int y = (int) l[lo + b];
            int base = zo + b * k;
            double[] r = rowTerms(z, base, k, y);
            if (Double.isNaN(r[0]) || Double.isInfinite(r[0])) {   // softmax with logsumexp = max
                for (int j = 0; j < k; j++) g[go + b * k + j] = (Math.exp(z[base + j] - r[0]) - (j == y ? 1 : 0)) / n;
                continue;
            }
            double sum = r[1] + r[2];
            for (int j = 0; j < k; j++)
                g[go + b * k + j] = (j == y ? -r[2] : Math.exp(z[base + j] - r[0])) / sum / n;
        }
    }
}
