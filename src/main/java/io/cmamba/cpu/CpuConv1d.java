package io.cmamba.cpu;

import io.cmamba.tensor.Tensor;

import static io.cmamba.cpu.CpuBackend.data;
import static io.cmamba.cpu.CpuBackend.off;

/**
 * Depthwise causal convolution along time with zero left padding, x and out [B, L, D], w [D, K],
 * bias [D]: out[b, t, d] = bias[d] + sum_j w[d, j] x[b, t - K + 1 + j, d]. Samples run in parallel;
 * the weight and bias gradients are summed per block of samples and the partials added in block
 * order, so results do not depend on the thread count.
 */
final class CpuConv1d {
    private CpuConv1d() {
    }

    /** Samples per partial sum of the weight and bias gradients. */
    private static final int SAMPLES = 8;

    /** history [B, K - 1, D] holds the steps before t = 0 (streaming), or is null for zero padding. */
    static void forward(Tensor out, Tensor x, Tensor w, Tensor bias, Tensor history) {
        int batch = x.dim(0), len = x.dim(1), d = x.dim(2), k = w.dim(1);
        double[] o = data(out), a = data(x), wv = data(w), bv = data(bias);
        double[] h = history != null ? data(history) : null;
        int oo = off(out), xo = off(x), wo = off(w), bo = off(bias), ho = history != null ? off(history) : 0;
        Parallel.forEach(batch, (long) len * d * (k + 1), b -> {
            int sample = b * len * d;
            for (int t = 0; t < len; t++) {
                int row = oo + sample + t * d;
                for (int c = 0; c < d; c++) o[row + c] = bv[bo + c];
                // tap j reads step t - K + 1 + j: before the sequence starts, history's row K - 1 + step, or zero
                for (int j = 0; j < k; j++) {
                    int step = t - k + 1 + j;
                    if (step < 0 && h == null) continue;
                    double[] src = step < 0 ? h : a;
                    int at = step < 0 ? ho + (b * (k - 1) + k - 1 + step) * d : xo + sample + step * d;
                    for (int c = 0; c < d; c++) o[row + c] += wv[wo + c * k + j] * src[at + c];
                }
            }
        });
    }

    /**
     * dx[b, s, d] = sum_j w[d, j] dout[b, s + K - 1 - j, d] (terms past the end are absent);
     * dw[d, j] = sum_{b,t} dout[b, t, d] x[b, t - K + 1 + j, d]; dbias[d] = sum_{b,t} dout[b, t, d].
     */
    static void backward(Tensor dx, Tensor dw, Tensor dbias, Tensor dout, Tensor x, Tensor w) {
        int batch = x.dim(0), len = x.dim(1), d = x.dim(2), k = w.dim(1);
        double[] gx = data(dx), g = data(dout), a = data(x), wv = data(w);
        int gxo = off(dx), go = off(dout), xo = off(x), wo = off(w);
        // per block of samples, d * k weight partials then d bias partials
        int blocks = (batch + SAMPLES - 1) / SAMPLES;
        double[][] parts = new double[blocks][];
        Parallel.forEach(blocks, 3L * SAMPLES * len * d * (k + 1), blk -> {
            double[] p = new double[d * k + d];
            for (int b = blk * SAMPLES; b < Math.min(batch, (blk + 1) * SAMPLES); b++) {
                int sample = b * len * d;
                for (int s = 0; s < len; s++) {
                    int row = gxo + sample + s * d;
                    for (int c = 0; c < d; c++) gx[row + c] = 0;
                    for (int j = 0; j < k; j++) {
                        int t = s + k - 1 - j;
                        if (t >= len) continue;
                        int src = go + sample + t * d;
                        for (int c = 0; c < d; c++) gx[row + c] += wv[wo + c * k + j] * g[src + c];
                    }
                }
                for (int t = 0; t < len; t++) {
                    int gRow = go + sample + t * d;
                    for (int c = 0; c < d; c++) p[d * k + c] += g[gRow + c];
                    for (int j = Math.max(0, k - 1 - t); j < k; j++) {
                        int src = xo + sample + (t - k + 1 + j) * d;
                        for (int c = 0; c < d; c++) p[c * k + j] += g[gRow + c] * a[src + c];
                    }
                }
            }
            parts[blk] = p;
        });
        double[] wg = data(dw), bg = data(dbias);
        int wgo = off(dw), bgo = off(dbias);
        for (int i = 0; i < d * k; i++) wg[wgo + i] = 0;
        for (int c = 0; c < d; c++) bg[bgo + c] = 0;
        for (double[] p : parts) {
            for (int i = 0; i < d * k; i++) wg[wgo + i] += p[i];
            for (int c = 0; c < d; c++) bg[bgo + c] += p[d * k + c];
        }
    }
}
