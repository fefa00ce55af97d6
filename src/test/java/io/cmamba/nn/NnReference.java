package io.cmamba.nn;

import java.util.Map;

/**
 * The layers written once more as plain float64 loops over host arrays, straight from MODEL.md's
 * equations (the coupled layer as a per-time-step recurrence, not the parallel form), for the forward
 * tests. Arrays are row-major; parameters come by name from {@link NnTesting#values}.
 */
public final class NnReference {
    private NnReference() {
    }

    static final double EPS = 1e-5;

    public static double silu(double x) {
        return x / (1 + Math.exp(-x));
    }

    public static double softplus(double x) {
        return x > 20 ? x : Math.log1p(Math.exp(x));
    }

    public static double gelu(double x) {
        return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
    }

    /** y [rows, out] = x [rows, in] W^T + b; W [out, in]; b [out] or null. */
    public static double[] linear(double[] x, int rows, int in, double[] w, double[] b, int out) {
        if (w.length != out * in) throw new IllegalArgumentException("weight has " + w.length + " entries, not " + out + " x " + in);
        double[] y = new double[rows * out];
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < out; o++) {
                double s = b == null ? 0 : b[o];
                for (int i = 0; i < in; i++) s += x[r * in + i] * w[o * in + i];
                y[r * out + o] = s;
            }
        return y;
    }

    /** The Linear called {@code name} (its bias when present). */
    public static double[] linear(Map<String, double[]> p, String name, double[] x, int rows, int in, int out) {
        return linear(x, rows, in, p.get(name + ".weight"), p.get(name + ".bias"), out);
    }

    /** LayerNorm when {@code beta} is given, RMSNorm otherwise; x [rows, n]. */
    public static double[] norm(double[] x, int rows, int n, double[] gamma, double[] beta) {
        double[] y = new double[rows * n];
        for (int r = 0; r < rows; r++) {
            double mean = 0;
            if (beta != null) {
                for (int i = 0; i < n; i++) mean += x[r * n + i];
                mean /= n;
            }
            double var = 0;
            for (int i = 0; i < n; i++) var += (x[r * n + i] - mean) * (x[r * n + i] - mean);
            double rstd = 1 / Math.sqrt(var / n + EPS);
            for (int i = 0; i < n; i++)
                y[r * n + i] = (x[r * n + i] - mean) * rstd * gamma[i] + (beta == null ? 0 : beta[i]);
        }
        return y;
    }

    public static double[] norm(Map<String, double[]> p, String name, double[] x, int rows, int n) {
        return norm(x, rows, n, p.get(name + ".weight"), p.get(name + ".bias"));
    }

    /** Depthwise causal conv: x [B, L, D], w [D, K], bias [D], zero left padding. */
    public static double[] causalConv(double[] x, int nb, int l, int d, double[] w, int k, double[] bias) {
        double[] y = new double[nb * l * d];
        for (int b = 0; b < nb; b++)
            for (int t = 0; t < l; t++)
                for (int c = 0; c < d; c++) {
                    double s = bias[c];
                    for (int j = 0; j < k; j++) {
                        int src = t - (k - 1) + j;
                        if (src >= 0) s += w[c * k + j] * x[(b * l + src) * d + c];
                    }
                    y[(b * l + t) * d + c] = s;
                }
        return y;
    }

    /** Adaptive average pooling of each sample's first lens[b] steps: x [B, Lin, F] -> [B, Lout, F]. */
    public static double[] lengthPool(double[] x, int nb, int lin, int f, int[] lens, int lout) {
        double[] y = new double[nb * lout * f];
        for (int b = 0; b < nb; b++) {
            int len = lens[b];
            if (len == 0) continue;
            for (int i = 0; i < lout; i++) {
                int start = (int) Math.floor((double) i * len / lout);
                int end = (int) Math.ceil((double) (i + 1) * len / lout);
                for (int c = 0; c < f; c++) {
                    double s = 0;
                    for (int t = start; t < end; t++) s += x[(b * lin + t) * f + c];
                    y[(b * lout + i) * f + c] = s / (end - start);
                }
            }
        }
        return y;
    }

    /**
     * One coupled layer, MODEL.md steps 1-5 and the coupled recurrence taken literally, one time step
     * after another: h^m_t = Abar^m_t s_{t-1} + Bbar^m_t u^m_t, s_t = mean_m h^m_t (uncoupled: each
     * chain's own h), y = C.h + Dskip u, o = y silu(z), r + out_proj(o).
     *
     * @param r r^m [B, L, dModel] per modality
     * @return r^m after the layer
     */
    public static double[][] coupledLayer(Map<String, double[]> p, String name, double[][] r, int nb, int l, MambaSettings s) {
        int mCount = r.length, dm = s.dModel(), d = s.inner(), n = s.dState(), rank = s.dtRank(), rows = nb * l;
        double[][] u = new double[mCount][], z = new double[mCount][], delta = new double[mCount][];
        double[][] bIn = new double[mCount][], cOut = new double[mCount][], aMat = new double[mCount][], dSkip = new double[mCount][];
        for (int m = 0; m < mCount; m++) {
            String pre = name + ".mod." + m;
            double[] xn = norm(p, pre + ".norm", r[m], rows, dm);
            double[] xz = linear(p, pre + ".in_proj", xn, rows, dm, 2 * d);
            double[] x = new double[rows * d];
            z[m] = new double[rows * d];
            for (int i = 0; i < rows; i++)
                for (int c = 0; c < d; c++) {
                    x[i * d + c] = xz[i * 2 * d + c];
                    z[m][i * d + c] = xz[i * 2 * d + d + c];
                }
            double[] xc = causalConv(x, nb, l, d, p.get(pre + ".conv1d.weight"), s.convWidth(), p.get(pre + ".conv1d.bias"));
            u[m] = new double[rows * d];
            for (int i = 0; i < u[m].length; i++) u[m][i] = silu(xc[i]);
            delta[m] = new double[rows * d];
            bIn[m] = new double[rows * n];
            cOut[m] = new double[rows * n];
            if (s.lti()) {
                double[] raw = p.get(pre + ".dt_raw"), bp = p.get(pre + ".B"), cp = p.get(pre + ".C");
                for (int i = 0; i < rows; i++) {
                    for (int c = 0; c < d; c++) delta[m][i * d + c] = softplus(raw[c]);
                    for (int k = 0; k < n; k++) {
                        bIn[m][i * n + k] = bp[k];
                        cOut[m][i * n + k] = cp[k];
                    }
                }
            } else {
                double[] dbc = linear(p, pre + ".x_proj", u[m], rows, d, rank + 2 * n);
                double[] dtr = new double[rows * rank];
                for (int i = 0; i < rows; i++) {
                    for (int j = 0; j < rank; j++) dtr[i * rank + j] = dbc[i * (rank + 2 * n) + j];
                    for (int k = 0; k < n; k++) {
                        bIn[m][i * n + k] = dbc[i * (rank + 2 * n) + rank + k];
                        cOut[m][i * n + k] = dbc[i * (rank + 2 * n) + rank + n + k];
                    }
                }
                double[] pre2 = linear(p, pre + ".dt_proj", dtr, rows, rank, d);
                for (int i = 0; i < pre2.length; i++) delta[m][i] = softplus(pre2[i]);
            }
            double[] aLog = p.get(pre + ".A_log");
            aMat[m] = new double[d * n];
            for (int i = 0; i < d * n; i++) aMat[m][i] = -Math.exp(aLog[i]);
            dSkip[m] = p.get(pre + ".Dskip");
        }
        double[][] o = new double[mCount][rows * d];
        for (int b = 0; b < nb; b++) {
            // coupled: one shared s (index 0); uncoupled: one s per chain
            double[][] state = new double[s.coupled() ? 1 : mCount][d * n];
            for (int t = 0; t < l; t++) {
                int row = b * l + t;
                double[][] h = new double[mCount][d * n];
                for (int m = 0; m < mCount; m++) {
                    double[] prev = state[s.coupled() ? 0 : m];
                    for (int c = 0; c < d; c++) {
                        double dl = delta[m][row * d + c], uu = u[m][row * d + c];
                        double y = dSkip[m][c] * uu;
                        for (int k = 0; k < n; k++) {
                            double abar = Math.exp(dl * aMat[m][c * n + k]), bbar = dl * bIn[m][row * n + k];
                            h[m][c * n + k] = abar * prev[c * n + k] + bbar * uu;
                            y += cOut[m][row * n + k] * h[m][c * n + k];
                        }
                        o[m][row * d + c] = y * silu(z[m][row * d + c]);
                    }
                }
                if (s.coupled()) {
                    double[] next = new double[d * n];
                    for (int m = 0; m < mCount; m++)
                        for (int i = 0; i < d * n; i++) next[i] += h[m][i] / mCount;
                    state[0] = next;
                } else {
                    state = h;
                }
            }
        }
        double[][] out = new double[mCount][];
        for (int m = 0; m < mCount; m++) {
            out[m] = linear(p, name + ".mod." + m + ".out_proj", o[m], rows, d, dm);
            for (int i = 0; i < out[m].length; i++) out[m][i] += r[m][i];
        }
        return out;
    }

    /** Softmax attention without mask, scale 1/sqrt(dh): q [B, Lq, H dh], k and v [B, Lk, H dh]. */
    public static double[] attention(double[] q, double[] k, double[] v, int nb, int lq, int lk, int heads, int dh) {
        int w = heads * dh;
        double[] out = new double[nb * lq * w];
        for (int b = 0; b < nb; b++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < lq; i++) {
                    double[] sc = new double[lk];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < lk; j++) {
                        double s = 0;
                        for (int e = 0; e < dh; e++) s += q[(b * lq + i) * w + h * dh + e] * k[(b * lk + j) * w + h * dh + e];
                        sc[j] = s / Math.sqrt(dh);
                        max = Math.max(max, sc[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < lk; j++) sum += sc[j] = Math.exp(sc[j] - max);
                    for (int e = 0; e < dh; e++) {
                        double acc = 0;
                        for (int j = 0; j < lk; j++) acc += sc[j] / sum * v[(b * lk + j) * w + h * dh + e];
                        out[(b * lq + i) * w + h * dh + e] = acc;
                    }
                }
        return out;
    }

    /** The baseline's block: x [B, L, d] attends to c [B, Lc, d]; then the feed-forward; both residual. */
    public static double[] crossAttentionBlock(Map<String, double[]> p, String name, double[] x, double[] c, int nb, int l, int lc,
                                               int d, int heads) {
        double[] nq = norm(p, name + ".norm_q", x, nb * l, d), nkv = norm(p, name + ".norm_kv", c, nb * lc, d);
        double[] q = linear(p, name + ".q_proj", nq, nb * l, d, d);
        double[] k = linear(p, name + ".k_proj", nkv, nb * lc, d, d);
        double[] v = linear(p, name + ".v_proj", nkv, nb * lc, d, d);
        double[] att = attention(q, k, v, nb, l, lc, heads, d / heads);
        double[] x1 = linear(p, name + ".o_proj", att, nb * l, d, d);
        for (int i = 0; i < x1.length; i++) x1[i] += x[i];
        double[] hdn = linear(p, name + ".ff1", norm(p, name + ".norm_ff", x1, nb * l, d), nb * l, d, 4 * d);
        for (int i = 0; i < hdn.length; i++) hdn[i] = gelu(hdn[i]);
        double[] out = linear(p, name + ".ff2", hdn, nb * l, 4 * d, d);
        for (int i = 0; i < out.length; i++) out[i] += x1[i];
        return out;
    }

    /** Final norm, max over time, fusion, fc1 -> ReLU -> fc2: r^m [B, L, d] per modality -> [B, outputs]. */
    public static double[] fusionHead(Map<String, double[]> p, String name, double[][] r, int nb, int l, int d,
                                      FusionHead.Kind kind, int hidden, int outputs) {
        int mCount = r.length;
        double[][] pooled = new double[mCount][nb * d];
        for (int m = 0; m < mCount; m++) {
            double[] nr = norm(p, name + ".norm." + m, r[m], nb * l, d);
            for (int b = 0; b < nb; b++)
                for (int c = 0; c < d; c++) {
                    double mx = Double.NEGATIVE_INFINITY;
                    for (int t = 0; t < l; t++) mx = Math.max(mx, nr[(b * l + t) * d + c]);
                    pooled[m][b * d + c] = mx;
                }
        }
        int in = kind == FusionHead.Kind.CONCAT ? mCount * d : d;
        double[] fused = new double[nb * in];
        double[] weight = new double[mCount];
        if (kind == FusionHead.Kind.SOFTMAX) {
            double[] w = p.get(name + ".fusion_weight");
            double sum = 0;
            for (int m = 0; m < mCount; m++) sum += weight[m] = Math.exp(w[m]);
            for (int m = 0; m < mCount; m++) weight[m] /= sum;
        } else {
            java.util.Arrays.fill(weight, 1.0 / mCount);
        }
        for (int b = 0; b < nb; b++)
            for (int m = 0; m < mCount; m++)
                for (int c = 0; c < d; c++) {
                    if (kind == FusionHead.Kind.CONCAT) fused[b * in + m * d + c] = pooled[m][b * d + c];
                    else fused[b * in + c] += weight[m] * pooled[m][b * d + c];
                }
        double[] h = linear(p, name + ".fc1", fused, nb, in, hidden);
        for (int i = 0; i < h.length; i++) h[i] = Math.max(h[i], 0);
        return linear(p, name + ".fc2", h, nb, hidden, outputs);
    }
}
