package io.cmamba.cpu;

import io.cmamba.tensor.Tensor;

import static io.cmamba.cpu.CpuBackend.data;
import static io.cmamba.cpu.CpuBackend.off;

/**
 * LayerNorm and RMSNorm over the last dimension, rows in parallel. Forward saves per-row mean and
 * rstd; backward reuses them (never recomputes from x). The parameter gradients are sums over rows:
 * each fixed block of rows sums into its own partial and the partials are added in block order, so
 * the result does not depend on the number of threads.
 */
final class CpuNorm {
    private CpuNorm() {
    }

    /** Rows per partial sum of dgamma/dbeta. */
    private static final int ROW_BLOCK = 64;

    /**
     * out [rows, n] = (x - mean) * rstd * gamma + beta, mean [rows], rstd = 1/sqrt(var + eps) [rows]
     * (biased variance, two passes). mean and beta may be null.
     */
    static void layerNormForward(Tensor out, Tensor mean, Tensor rstd, Tensor x, Tensor gamma, Tensor beta, double eps) {
        int n = x.shape().cols();
        int rows = Math.toIntExact(x.shape().rows());
        double[] o = data(out), a = data(x), g = data(gamma), bt = beta == null ? null : data(beta);
        double[] mu = mean == null ? null : data(mean), rs = data(rstd);
        int oo = off(out), xo = off(x), gOff = off(gamma), bOff = beta == null ? 0 : off(beta);
        int mo = mean == null ? 0 : off(mean), ro = off(rstd);
        Parallel.forEach(rows, 4L * n, r -> {
            int base = r * n;
            double s = 0;
            for (int j = 0; j < n; j++) s += a[xo + base + j];
            double m = s / n;
            double v = 0;
            for (int j = 0; j < n; j++) {
                double d = a[xo + base + j] - m;
                v += d * d;
            }
            double inv = 1 / Math.sqrt(v / n + eps);
            for (int j = 0; j < n; j++) {
                double y = (a[xo + base + j] - m) * inv * g[gOff + j];
                o[oo + base + j] = bt == null ? y : y + bt[bOff + j];
            }
            if (mu != null) mu[mo + r] = m;
            rs[ro + r] = inv;
        });
    }

    /**
     * With xhat = (x - mean) rstd and g = dout * gamma:
     * dx = rstd (g - mean_j(g) - xhat mean_j(g xhat)); dgamma = sum_rows dout xhat; dbeta = sum_rows dout.
     * dgamma and dbeta may be null (not wanted).
     */
    static void layerNormBackward(Tensor dx, Tensor dgamma, Tensor dbeta, Tensor dout, Tensor x, Tensor mean,
                                  Tensor rstd, Tensor gamma) {
        if (mean == null) throw new IllegalArgumentException("layerNormBackward: mean is missing");
        int n = x.shape().cols();
        int rows = Math.toIntExact(x.shape().rows());
        double[] gx = data(dx), d = data(dout), a = data(x), mu = data(mean), rs = data(rstd), gm = data(gamma);
        int gxo = off(dx), dOff = off(dout), xo = off(x), mo = off(mean), ro = off(rstd), gmo = off(gamma);
        int blocks = (rows + ROW_BLOCK - 1) / ROW_BLOCK;
        double[][] pg = new double[blocks][], pb = new double[blocks][];
        Parallel.forEach(blocks, 8L * n * ROW_BLOCK, blk -> {
            double[] sg = dgamma == null ? null : new double[n];
            double[] sb = dbeta == null ? null : new double[n];
            int r1 = Math.min(rows, (blk + 1) * ROW_BLOCK);
            for (int r = blk * ROW_BLOCK; r < r1; r++) {
                int base = r * n;
                double m = mu[mo + r], inv = rs[ro + r];
                double sumG = 0, sumGx = 0;
                for (int j = 0; j < n; j++) {
                    double xhat = (a[xo + base + j] - m) * inv;
                    double g = d[dOff + base + j] * gm[gmo + j];
                    sumG += g;
                    sumGx += g * xhat;
                    if (sg != null) sg[j] += d[dOff + base + j] * xhat;
                    if (sb != null) sb[j] += d[dOff + base + j];
                }
                double meanG = sumG / n, meanGx = sumGx / n;
                for (int j = 0; j < n; j++) {
                    double xhat = (a[xo + base + j] - m) * inv;
                    double g = d[dOff + base + j] * gm[gmo + j];
                    gx[gxo + base + j] = inv * (g - meanG - xhat * meanGx);
                }
            }
            pg[blk] = sg;
            pb[blk] = sb;
        });
        if (dgamma != null) reduce(dgamma, pg, n);
        if (dbeta != null) reduce(dbeta, pb, n);
    }

    /** out [n] = sum of the partial rows, in order (zeros when there are none). */
    private static void reduce(Tensor out, double[][] parts, int n) {
        double[] o = data(out);
        int oo = off(out);
        for (int j = 0; j < n; j++) o[oo + j] = 0;
        for (double[] p : parts)
            for (int j = 0; j < n; j++) o[oo + j] += p[j];
    }

    /** out [rows, n] = x * rstd * gamma, rstd [rows] = 1/sqrt(mean_j(x^2) + eps). */
    static void rmsNormForward(Tensor out, Tensor rstd, Tensor x, Tensor gamma, double eps) {
        int n = x.shape().cols();
        int rows = Math.toIntExact(x.shape().rows());
        double[] o = data(out), a = data(x), g = data(gamma), rs = data(rstd);
        int oo = off(out), xo = off(x), gOff = off(gamma), ro = off(rstd);
        Parallel.forEach(rows, 3L * n, r -> {
            int base = r * n;
            double s = 0;
            for (int j = 0; j < n; j++) s += a[xo + base + j] * a[xo + base + j];
            double inv = 1 / Math.sqrt(s / n + eps);
            for (int j = 0; j < n; j++) o[oo + base + j] = a[xo + base + j] * inv * g[gOff + j];
            rs[ro + r] = inv;
        });
    }

    /**
     * With g = dout * gamma: dx = rstd (g - x rstd^2 mean_j(g x)); dgamma = sum_rows dout x rstd.
     * dgamma may be null.
     */
    static void rmsNormBackward(Tensor dx, Tensor dgamma, Tensor dout, Tensor x, Tensor rstd, Tensor gamma) {
        int n = x.shape().cols();
        int rows = Math.toIntExact(x.shape().rows());
        double[] gx = data(dx), d = data(dout), a = data(x), rs = data(rstd), gm = data(gamma);
        int gxo = off(dx), dOff = off(dout), xo = off(x), ro = off(rstd), gmo = off(gamma);
        int blocks = (rows + ROW_BLOCK - 1) / ROW_BLOCK;
        double[][] pg = new double[blocks][];
        Parallel.forEach(blocks, 6L * n * ROW_BLOCK, blk -> {
            double[] sg = dgamma == null ? null : new double[n];
            int r1 = Math.min(rows, (blk + 1) * ROW_BLOCK);
            for (int r = blk * ROW_BLOCK; r < r1; r++) {
                int base = r * n;
                double inv = rs[ro + r];
                double sumGx = 0;
                for (int j = 0; j < n; j++) {
                    double xj = a[xo + base + j];
                    sumGx += d[dOff + base + j] * gm[gmo + j] * xj;
                    if (sg != null) sg[j] += d[dOff + base + j] * xj * inv;
                }
                double c = inv * inv * sumGx / n;
                for (int j = 0; j < n; j++)
                    gx[gxo + base + j] = inv * (d[dOff + base + j] * gm[gmo + j] - a[xo + base + j] * c);
            }
            pg[blk] = sg;
        });
        if (dgamma != null) reduce(dgamma, pg, n);
    }
}
