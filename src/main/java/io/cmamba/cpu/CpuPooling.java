package io.cmamba.cpu;

import io.cmamba.tensor.Tensor;

import static io.cmamba.cpu.CpuBackend.data;
import static io.cmamba.cpu.CpuBackend.off;

/**
 * Pooling along time and the softmax-weighted fusion of the modalities' pooled vectors:
 * length-aware adaptive average pooling (padding past a sample's length never enters a window),
 * max pooling over time with its argmax, and out = sum_m softmax(w)[m] x[m].
 */
final class CpuPooling {
    private CpuPooling() {
    }

    /** lengths[b] as an int, checked to lie in [0, lin]. */
    private static int length(double[] l, int lo, int b, int lin) {
        double v = l[lo + b];
        if (!(v >= 0 && v <= lin))
            throw new IllegalArgumentException("lengthPool: length of sample " + b + " is " + (long) v
                    + ", outside [0, " + lin + "]");
        return (int) v;
    }

    /** First step of window i of lout over len steps: floor(i len / lout). */
    static int windowStart(int i, int len, int lout) {
        return (int) ((long) i * len / lout);
    }

    /** One past the last step of window i: ceil((i + 1) len / lout). */
    static int windowEnd(int i, int len, int lout) {
        return (int) (((long) (i + 1) * len + lout - 1) / lout);
    }

    /** out[b, i, f] = mean of x[b, t, f] over window i of sample b's first lengths[b] steps (zeros if none). */
    static void lengthPoolForward(Tensor out, Tensor x, Tensor lengths) {
        int batch = x.dim(0), lin = x.dim(1), f = x.dim(2), lout = out.dim(1);
        double[] o = data(out), a = data(x), l = data(lengths);
        int oo = off(out), xo = off(x), lo = off(lengths);
        for (int b = 0; b < batch; b++) length(l, lo, b, lin);
        Parallel.forEach(batch, (long) Math.max(lin, lout) * f, b -> {
            int len = (int) l[lo + b];
            for (int i = 0; i < lout; i++) {
                int row = oo + (b * lout + i) * f;
                for (int c = 0; c < f; c++) o[row + c] = 0;
                if (len == 0) continue;
                int t0 = windowStart(i, len, lout), t1 = windowEnd(i, len, lout);
                for (int t = t0; t < t1; t++) {
                    int src = xo + (b * lin + t) * f;
                    for (int c = 0; c < f; c++) o[row + c] += a[src + c];
                }
                double inv = 1.0 / (t1 - t0);
                for (int c = 0; c < f; c++) o[row + c] *= inv;
            }
        });
    }

    /** dx[b, t, f] = sum over the windows i holding t of dout[b, i, f] / |window i|; zero past the length. */
    static void lengthPoolBackward(Tensor dx, Tensor dout, Tensor lengths) {
        int batch = dx.dim(0), lin = dx.dim(1), f = dx.dim(2), lout = dout.dim(1);
        double[] g = data(dx), d = data(dout), l = data(lengths);
        int go = off(dx), dOff = off(dout), lo = off(lengths);
        for (int b = 0; b < batch; b++) length(l, lo, b, lin);
        Parallel.forEach(batch, (long) Math.max(lin, lout) * f, b -> {
            int len = (int) l[lo + b];
            int base = go + b * lin * f;
            for (int i = 0; i < lin * f; i++) g[base + i] = 0;
            if (len == 0) return;
            for (int i = 0; i < lout; i++) {
                int t0 = windowStart(i, len, lout), t1 = windowEnd(i, len, lout);
                double inv = 1.0 / (t1 - t0);
                int src = dOff + (b * lout + i) * f;
                for (int t = t0; t < t1; t++)
                    for (int c = 0; c < f; c++) g[base + t * f + c] += d[src + c] * inv;
            }
        });
    }

    /**
     * out[b, d] = max_t x[b, t, d], argmax[b, d] = the first t reaching it. A NaN wins (the first one),
     * so that a NaN input shows in the output instead of being skipped.
     */
    static void maxPoolTimeForward(Tensor out, Tensor argmax, Tensor x) {
        int batch = x.dim(0), len = x.dim(1), d = x.dim(2);
        if (len == 0) throw new IllegalArgumentException("maxPoolTime: x " + x.shape() + " has no time steps");
        double[] o = data(out), am = data(argmax), a = data(x);
        int oo = off(out), ao = off(argmax), xo = off(x);
        Parallel.forEach(batch, (long) len * d, b -> {
            for (int c = 0; c < d; c++) {
                int src = xo + b * len * d + c;
                double best = a[src];
                int at = 0;
                for (int t = 1; t < len && !Double.isNaN(best); t++) {
                    double v = a[src + t * d];
                    if (v > best || Double.isNaN(v)) {
                        best = v;
                        at = t;
                    }
                }
                o[oo + b * d + c] = best;
                am[ao + b * d + c] = at;
            }
        });
    }

    /** dx[b, t, d] = dout[b, d] where t == argmax[b, d], else 0. */
    static void maxPoolTimeBackward(Tensor dx, Tensor dout, Tensor argmax) {
        int batch = dx.dim(0), len = dx.dim(1), d = dx.dim(2);
        double[] g = data(dx), gd = data(dout), am = data(argmax);
        int go = off(dx), dOff = off(dout), ao = off(argmax);
        for (int i = 0; i < batch * d; i++) {
            double t = am[ao + i];
            if (!(t >= 0 && t < len))
                throw new IllegalArgumentException("maxPoolTimeBackward: argmax of sample " + i / d + ", channel " + i % d
                        + " is " + (long) t + ", outside [0, " + len + ")");
        }
        Parallel.forEach(batch, (long) len * d, b -> {
            int base = go + b * len * d;
            for (int i = 0; i < len * d; i++) g[base + i] = 0;
            for (int c = 0; c < d; c++) {
                int t = (int) am[ao + b * d + c];
                g[base + t * d + c] = gd[dOff + b * d + c];
            }
        });
    }

    /** softmax of w [M], shifted by its maximum. */
    static double[] softmax(Tensor w) {
        int m = w.dim(0);
        double[] wv = data(w), p = new double[m];
        int wo = off(w);
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < m; i++) max = Math.max(max, wv[wo + i]);
        double s = 0;
        for (int i = 0; i < m; i++) {
            p[i] = Math.exp(wv[wo + i] - max);
            s += p[i];
        }
        for (int i = 0; i < m; i++) p[i] /= s;
        return p;
    }

    /** out[b, d] = sum_m softmax(w)[m] x[m, b, d]; x [M, B, D], w [M]. */
    static void softmaxFusionForward(Tensor out, Tensor x, Tensor w) {
        int m = x.dim(0), n = x.dim(1) * x.dim(2);
        double[] p = softmax(w), o = data(out), a = data(x);
        int oo = off(out), xo = off(x);
        for (int i = 0; i < n; i++) o[oo + i] = 0;
        for (int k = 0; k < m; k++)
            for (int i = 0; i < n; i++) o[oo + i] += p[k] * a[xo + k * n + i];
    }

    /**
     * dx[m, b, d] = p[m] dout[b, d]; with g[m] = sum_{b,d} dout x[m], dw[m] = p[m] (g[m] - sum_k p[k] g[k])
     * (the softmax Jacobian).
     */
    static void softmaxFusionBackward(Tensor dx, Tensor dw, Tensor dout, Tensor x, Tensor w) {
        int m = x.dim(0), n = x.dim(1) * x.dim(2);
        double[] p = softmax(w), gx = data(dx), gw = data(dw), d = data(dout), a = data(x);
        int gxo = off(dx), gwo = off(dw), dOff = off(dout), xo = off(x);
        double[] g = new double[m];
        double mean = 0;
        for (int k = 0; k < m; k++) {
            double s = 0;
            for (int i = 0; i < n; i++) {
                s += d[dOff + i] * a[xo + k * n + i];
                gx[gxo + k * n + i] = p[k] * d[dOff + i];
            }
            g[k] = s;
            mean += p[k] * s;
        }
        for (int k = 0; k < m; k++) gw[gwo + k] = p[k] * (g[k] - mean);
    }
}
