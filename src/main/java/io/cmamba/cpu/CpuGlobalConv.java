package io.cmamba.cpu;

import io.cmamba.tensor.Tensor;

import static io.cmamba.cpu.CpuBackend.data;
import static io.cmamba.cpu.CpuBackend.off;

/**
 * The time-invariant coupled SSM as a convolution (MODEL.md, "Global convolution kernel"). For one
 * channel d, with Abar[m,n] = exp(delta[m,d] A[m,d,n]), Bbar[k,n] = delta[k,d] B[k,n], G[n] = mean_m
 * Abar[m,n] and coef[m,k,n] = C[m,n] Abar[m,n] Bbar[k,n] / M:
 * <pre>
 *   K[m,k,d,l] = sum_n coef[m,k,n] G[n]^(l-1)          for l >= 1
 *   K[m,k,d,0] = [m == k] sum_n C[m,n] Bbar[m,n]         (the direct term)
 * </pre>
 * G^(l-1) comes by repeated multiplication along l (no pow: one multiply per lag, and the same
 * rounding as the recurrence it unrolls). The convolution is applied directly, O(M^2 B L^2 D).
 * Channels are independent: every op runs over d in parallel and each task owns its channel's outputs
 * (the sums over channels, dB and dC of the kernel backward, go to one partial per channel).
 * Index maps: kernel [M,M,D,L] at ((m M + k) D + d) L + l; u, y [M,B,L,D] at ((m B + b) L + t) D + d.
 */
final class CpuGlobalConv {
    private CpuGlobalConv() {
    }

    /** Abar, Bbar and G of one channel, [M, N], [M, N], [N]. */
    private static final class Channel {
        final double[] abar, bbar, g;

        Channel(int c, int m, int d, int n, double[] a, int oa, double[] dl, int odl, double[] bv, int ob) {
            abar = new double[m * n];
            bbar = new double[m * n];
            g = new double[n];
            for (int mm = 0; mm < m; mm++) {
                double dt = dl[odl + mm * d + c];
                for (int j = 0; j < n; j++) {
                    abar[mm * n + j] = Math.exp(dt * a[oa + (mm * d + c) * n + j]);
                    bbar[mm * n + j] = dt * bv[ob + mm * n + j];
                    g[j] += abar[mm * n + j];
                }
            }
            for (int j = 0; j < n; j++) g[j] /= m;
        }
    }

    /** kernel [M, M, D, L] from A [M, D, N], delta [M, D], B [M, N], C [M, N]. */
    static void kernel(Tensor kernel, Tensor A, Tensor delta, Tensor B, Tensor C) {
        int m = A.dim(0), d = A.dim(1), n = A.dim(2), l = kernel.dim(3);
        double[] k = data(kernel), a = data(A), dl = data(delta), bv = data(B), cv = data(C);
        int ok = off(kernel), oa = off(A), odl = off(delta), ob = off(B), oc = off(C);
        Parallel.forEach(d, (long) m * m * n * l * 2, c -> {
            Channel ch = new Channel(c, m, d, n, a, oa, dl, odl, bv, ob);
            double[] coef = new double[m * m * n], p = new double[n];
            for (int mi = 0; mi < m; mi++)
                for (int ki = 0; ki < m; ki++)
                    for (int j = 0; j < n; j++)
                        coef[(mi * m + ki) * n + j] = cv[oc + mi * n + j] * ch.abar[mi * n + j] * ch.bbar[ki * n + j] / m;
            for (int mi = 0; mi < m; mi++)
                for (int ki = 0; ki < m; ki++) {
                    double s = 0;
                    if (mi == ki) for (int j = 0; j < n; j++) s += cv[oc + mi * n + j] * ch.bbar[mi * n + j];
                    k[ok + ((mi * m + ki) * d + c) * l] = s;
                }
            java.util.Arrays.fill(p, 1); // G^(lag-1)
            for (int lag = 1; lag < l; lag++) {
                for (int mk = 0; mk < m * m; mk++) {
                    double s = 0;
                    for (int j = 0; j < n; j++) s += coef[mk * n + j] * p[j];
                    k[ok + (mk * d + c) * l + lag] = s;
                }
                for (int j = 0; j < n; j++) p[j] *= ch.g[j];
            }
        });
    }

    /**
     * Backward of {@link #kernel}: dA [M, D, N], dDelta [M, D], dB [M, N], dC [M, N] from dKernel. With
     * P_l = G^(l-1): dcoef = sum_l dK P_l, dG = sum_l (sum_mk dK coef) (l-1) G^(l-2), then through
     * coef = C Abar Bbar / M, G = mean Abar, Abar = exp(delta A), Bbar = delta B.
     */
    static void kernelBackward(Tensor dA, Tensor dDelta, Tensor dB, Tensor dC, Tensor dKernel, Tensor A, Tensor delta,
                               Tensor B, Tensor C) {
        int m = A.dim(0), d = A.dim(1), n = A.dim(2), l = dKernel.dim(3);
        double[] gk = data(dKernel), a = data(A), dl = data(delta), bv = data(B), cv = data(C);
        int ogk = off(dKernel), oa = off(A), odl = off(delta), ob = off(B), oc = off(C);
        double[] ga = data(dA), gdl = data(dDelta);
        int oga = off(dA), ogdl = off(dDelta);
        double[][] dbPart = new double[d][], dcPart = new double[d][];
        Parallel.forEach(d, (long) m * m * n * l * 4, c -> {
            Channel ch = new Channel(c, m, d, n, a, oa, dl, odl, bv, ob);
            double[] coef = new double[m * m * n], dcoef = new double[m * m * n];
            for (int mi = 0; mi < m; mi++)
                for (int ki = 0; ki < m; ki++)
                    for (int j = 0; j < n; j++)
                        coef[(mi * m + ki) * n + j] = cv[oc + mi * n + j] * ch.abar[mi * n + j] * ch.bbar[ki * n + j] / m;
            double[] dAbar = new double[m * n], dBbar = new double[m * n], dCl = new double[m * n], dG = new double[n];
            // lag 0: K[m, m, 0] = sum_n C Bbar
            for (int mi = 0; mi < m; mi++) {
                double g0 = gk[ogk + ((mi * m + mi) * d + c) * l];
                for (int j = 0; j < n; j++) {
                    dCl[mi * n + j] += g0 * ch.bbar[mi * n + j];
                    dBbar[mi * n + j] += g0 * cv[oc + mi * n + j];
                }
            }
            // lags >= 1; p = G^(lag-1), pPrev = G^(lag-2)
            double[] p = new double[n], pPrev = new double[n];
            java.util.Arrays.fill(p, 1);
            for (int lag = 1; lag < l; lag++) {
                for (int mk = 0; mk < m * m; mk++) {
                    double g = gk[ogk + (mk * d + c) * l + lag];
                    for (int j = 0; j < n; j++) {
                        dcoef[mk * n + j] += g * p[j];
                        if (lag >= 2) dG[j] += g * coef[mk * n + j] * (lag - 1) * pPrev[j];
                    }
                }
                for (int j = 0; j < n; j++) {
                    pPrev[j] = p[j];
                    p[j] *= ch.g[j];
                }
            }
            for (int mi = 0; mi < m; mi++)
                for (int ki = 0; ki < m; ki++)
                    for (int j = 0; j < n; j++) {
                        double dc = dcoef[(mi * m + ki) * n + j] / m;
                        double cm = cv[oc + mi * n + j], ab = ch.abar[mi * n + j], bb = ch.bbar[ki * n + j];
                        dCl[mi * n + j] += dc * ab * bb;
                        dAbar[mi * n + j] += dc * cm * bb;
                        dBbar[ki * n + j] += dc * cm * ab;
                    }
            double[] dbLocal = new double[m * n];
            for (int mi = 0; mi < m; mi++) {
                double dt = dl[odl + mi * d + c], ddt = 0;
                for (int j = 0; j < n; j++) {
                    int ai = (mi * d + c) * n + j;
                    double dab = (dAbar[mi * n + j] + dG[j] / m) * ch.abar[mi * n + j]; // d/d(delta A)
                    ga[oga + ai] = dab * dt;
                    ddt += dab * a[oa + ai] + dBbar[mi * n + j] * bv[ob + mi * n + j];
                    dbLocal[mi * n + j] = dBbar[mi * n + j] * dt;
                }
                gdl[ogdl + mi * d + c] = ddt;
            }
            dbPart[c] = dbLocal;
            dcPart[c] = dCl;
        });
        double[] gb = data(dB), gc = data(dC);
        int ogb = off(dB), ogc = off(dC);
        for (int i = 0; i < m * n; i++) {
            double sb = 0, sc = 0;
            for (int c = 0; c < d; c++) {
                sb += dbPart[c][i];
                sc += dcPart[c][i];
            }
            gb[ogb + i] = sb;
            gc[ogc + i] = sc;
        }
    }

    /** Channel c of an [M, B, L, D] tensor as a contiguous [M, B, L] array. */
    private static double[] gather(double[] x, int ox, int c, int rows, int d) {
        double[] r = new double[rows];
        for (int i = 0; i < rows; i++) r[i] = x[ox + i * d + c];
        return r;
    }

    /**
     * y [M, B, L, D] = sum_k sum_{j <= t} K[m, k, d, t - j] u[k, b, j, d] + Dskip[m, d] u[m, b, t, d];
     * each task gathers its channel of u so that the inner products run over contiguous arrays.
     */
    static void forward(Tensor y, Tensor u, Tensor kernel, Tensor Dskip) {
        int m = u.dim(0), nb = u.dim(1), l = u.dim(2), d = u.dim(3);
        double[] yv = data(y), uv = data(u), k = data(kernel), ds = data(Dskip);
        int oy = off(y), ou = off(u), ok = off(kernel), ods = off(Dskip), rows = m * nb * l;
        Parallel.forEach(d, (long) m * m * nb * l * l / 2 + rows, c -> {
            double[] uc = gather(uv, ou, c, rows, d);
            for (int mi = 0; mi < m; mi++)
                for (int b = 0; b < nb; b++)
                    for (int t = 0; t < l; t++) {
                        int row = (mi * nb + b) * l + t;
                        double s = ds[ods + mi * d + c] * uc[row];
                        for (int ki = 0; ki < m; ki++) {
                            int kb = ok + ((mi * m + ki) * d + c) * l + t, ub = (ki * nb + b) * l;
                            for (int j = 0; j <= t; j++) s += k[kb - j] * uc[ub + j];
                        }
                        yv[oy + row * d + c] = s;
                    }
        });
    }

    /**
     * Backward of {@link #forward}: du[k,b,j] = Dskip[k] dy[k,b,j] + sum_m sum_{t >= j} K[m,k,t-j] dy[m,b,t];
     * dK[m,k,lag] = sum_b sum_{t >= lag} dy[m,b,t] u[k,b,t-lag]; dDskip[m] = sum_{b,t} dy[m,b,t] u[m,b,t].
     */
    static void backward(Tensor du, Tensor dKernel, Tensor dDskip, Tensor dy, Tensor u, Tensor kernel, Tensor Dskip) {
        int m = u.dim(0), nb = u.dim(1), l = u.dim(2), d = u.dim(3);
        double[] gu = data(du), gk = data(dKernel), gds = data(dDskip), g = data(dy), uv = data(u), k = data(kernel), ds = data(Dskip);
        int ogu = off(du), ogk = off(dKernel), ogds = off(dDskip), og = off(dy), ou = off(u), ok = off(kernel), ods = off(Dskip);
        int rows = m * nb * l;
        Parallel.forEach(d, (long) m * m * nb * l * l + 2L * rows, c -> {
            double[] uc = gather(uv, ou, c, rows, d), gc = gather(g, og, c, rows, d);
            for (int ki = 0; ki < m; ki++)
                for (int b = 0; b < nb; b++)
                    for (int j = 0; j < l; j++) {
                        int row = (ki * nb + b) * l + j;
                        double s = ds[ods + ki * d + c] * gc[row];
                        for (int mi = 0; mi < m; mi++) {
                            int kb = ok + ((mi * m + ki) * d + c) * l - j, gb = (mi * nb + b) * l;
                            for (int t = j; t < l; t++) s += k[kb + t] * gc[gb + t];
                        }
                        gu[ogu + row * d + c] = s;
                    }
            for (int mi = 0; mi < m; mi++) {
                double sd = 0;
                for (int i = mi * nb * l; i < (mi + 1) * nb * l; i++) sd += gc[i] * uc[i];
                gds[ogds + mi * d + c] = sd;
                for (int ki = 0; ki < m; ki++)
                    for (int lag = 0; lag < l; lag++) {
                        double s = 0;
                        for (int b = 0; b < nb; b++) {
                            int gb = (mi * nb + b) * l, ub = (ki * nb + b) * l - lag;
                            for (int t = lag; t < l; t++) s += gc[gb + t] * uc[ub + t];
                        }
                        gk[ogk + ((mi * m + ki) * d + c) * l + lag] = s;
                    }
            }
        });
    }
}
