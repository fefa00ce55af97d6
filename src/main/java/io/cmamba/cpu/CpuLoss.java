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

    /** log sum_j exp(z[j]) of one row, shifted by its maximum so that no exponential overflows. */
    private static double logSumExp(double[] z, int base, int k) {
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < k; j++) max = Math.max(max, z[base + j]);
        if (max == Double.NEGATIVE_INFINITY || Double.isNaN(max) || max == Double.POSITIVE_INFINITY) return max;
        double s = 0;
        for (int j = 0; j < k; j++) s += Math.exp(z[base + j] - max);
        return max + Math.log(s);
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
            s += logSumExp(z, base, k) - z[base + y];
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
            double lse = logSumExp(z, base, k);
            for (int j = 0; j < k; j++) {
                double p = Math.exp(z[base + j] - lse);
                g[go + b * k + j] = (p - (j == y ? 1 : 0)) / n;
            }
        }
    }
}
