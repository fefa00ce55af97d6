package io.cmamba.cpu;

import io.cmamba.tensor.Tensor;

import static io.cmamba.cpu.CpuBackend.data;
import static io.cmamba.cpu.CpuBackend.off;

/**
 * The time-invariant coupled SSM as a convolution (MODEL.md, "Global convolution kernel"). With
 * alpha[m,n] = C[m,n] Abar[m,d,n] / M and beta[k,n] = Bbar[k,d,n] = delta[k,d] B[k,n], for one channel d:
 * K[m,k,d,l] = sum_n alpha[m,n] beta[k,n] G[d,n]^(l-1) for l >= 1, and the direct term at lag 0,
 * K[m,m,d,0] = sum_n C[m,n] Bbar[m,d,n]. Powers of G come by repeated multiplication along l.
 * Channels are independent, so every op runs over d in parallel and owns its channel's outputs.
 */
final class CpuGlobalConv {
    private CpuGlobalConv() {
    }

    static void kernel(Tensor kernel, Tensor A, Tensor delta, Tensor B, Tensor C) {
        int m = A.dim(0), d = A.dim(1), n = A.dim(2), l = kernel.dim(3);
        double[] k = data(kernel), a = data(A), dl = data(delta), bv = data(B), cv = data(C);
        int ok = off(kernel), oa = off(A), odl = off(delta), ob = off(B), oc = off(C);
        Parallel.forEach(d, (long) m * m * n * l, c -> {
            double[] abar = new double[m * n], beta = new double[m * n], g = new double[n];
            for (int mm = 0; mm < m; mm++)
                for (int j = 0; j < n; j++) {
                    double dt = dl[odl + mm * d + c];
                    abar[mm * n + j] = Math.exp(dt * a[oa + (mm * d + c) * n + j]);
                    beta[mm * n + j] = dt * bv[ob + mm * n + j];
                    g[j] += abar[mm * n + j] / m;
                }
            double[] p = new double[n];
            java.util.Arrays.fill(p, 1);
            for (int lag = 0; lag < l; lag++) {
                for (int mi = 0; mi < m; mi++)
                    for (int ki = 0; ki < m; ki++) {
                        double s = 0;
                        if (lag == 0) {
                            if (mi == ki) for (int j = 0; j < n; j++) s += cv[oc + mi * n + j] * beta[mi * n + j];
                        } else {
                            for (int j = 0; j < n; j++)
                                s += cv[oc + mi * n + j] * abar[mi * n + j] / m * beta[ki * n + j] * p[j];
                        }
                        k[ok + ((mi * m + ki) * d + c) * l + lag] = s;
                    }
                if (lag >= 1) for (int j = 0; j < n; j++) p[j] *= g[j]; // p = G^(lag) for the next lag
            }
        });
    }

    static void kernelBackward(Tensor dA, Tensor dDelta, Tensor dB, Tensor dC, Tensor dKernel, Tensor A, Tensor delta,
                               Tensor B, Tensor C) {
        int m = A.dim(0), d = A.dim(1), n = A.dim(2), l = dKernel.dim(3);
        double[] gk = data(dKernel), a = data(A), dl = data(delta), bv = data(B), cv = data(C);
        int ogk = off(dKernel), oa = off(A), odl = off(delta), ob = off(B), oc = off(C);
        double[] ga = data(dA), gdl = data(dDelta);
        int oga = off(dA), ogdl = off(dDelta);
        // dB and dC sum over channels: one partial per channel, reduced below
        double[][] dbPart = new double[d][], dcPart = new double[d][];
        Parallel.forEach(d, (long) m * m * n * l * 3, c -> {
            double[] abar = new double[m * n], beta = new double[m * n], g = new double[n];
            for (int mm = 0; mm < m; mm++)
                for (int j = 0; j < n; j++) {
                    double dt = dl[odl + mm * d + c];
                    abar[mm * n + j] = Math.exp(dt * a[oa + (mm * d + c) * n + j]);
                    beta[mm * n + j] = dt * bv[ob + mm * n + j];
                    g[j] += abar[mm * n + j] / m;
                }
            double[] dAbar = new double[m * n], dBeta = new double[m * n], dCl = new double[m * n], dG = new double[n];
            // lag 0: K[m,m,0] = sum_n C beta
            for (int mi = 0; mi < m; mi++) {
                double gk0 = gk[ogk + ((mi * m + mi) * d + c) * l];
                for (int j = 0; j < n; j++) {
                    dCl[mi * n + j] += gk0 * beta[mi * n + j];
                    dBeta[mi * n + j] += gk0 * cv[oc + mi * n + j];
                }
            }
            // lags >= 1: K = sum_n alpha[m] beta[k] P_l, P_l = G^(l-1), alpha = C Abar / M
            double[] p = new double[n], pPrev = new double[n]; // G^(l-1) and G^(l-2)
            java.util.Arrays.fill(p, 1);
            double[] dAlpha = new double[m * n];
            for (int lag = 1; lag < l; lag++) {
                for (int j = 0; j < n; j++) {
                    double w = 0; // dL/dP_l[j]
                    for (int mi = 0; mi < m; mi++) {
                        double alpha = cv[oc + mi * n + j] * abar[mi * n + j] / m;
                        for (int ki = 0; ki < m; ki++) {
                            double gkv = gk[ogk + ((mi * m + ki) * d + c) * l + lag];
                            w += gkv * alpha * beta[ki * n + j];
                            dAlpha[mi * n + j] += gkv * beta[ki * n + j] * p[j];
                            dBeta[ki * n + j] += gkv * alpha * p[j];
                        }
                    }
                    if (lag >= 2) dG[j] += w * (lag - 1) * pPrev[j];
                }
                for (int j = 0; j < n; j++) {
                    pPrev[j] = p[j];
                    p[j] *= g[j];
                }
            }
            double[] dbLocal = new double[m * n];
            for (int mi = 0; mi < m; mi++) {
                double dt = dl[odl + mi * d + c], ddt = 0;
                for (int j = 0; j < n; j++) {
                    int ai = (mi * d + c) * n + j;
                    dCl[mi * n + j] += dAlpha[mi * n + j] * abar[mi * n + j] / m;
                    double dab = dAbar[mi * n + j] + dAlpha[mi * n + j] * cv[oc + mi * n + j] / m + dG[j] / m;
                    ga[oga + ai] = dab * abar[mi * n + j] * dt;
                    ddt += dab * abar[mi * n + j] * a[oa + ai] + dBeta[mi * n + j] * bv[ob + mi * n + j];
                    dbLocal[mi * n + j] = dBeta[mi * n + j] * dt;
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

    static void forward(Tensor y, Tensor u, Tensor kernel, Tensor Dskip) {
        int m = u.dim(0), nb = u.dim(1), l = u.dim(2), d = u.dim(3);
        double[] yv = data(y), uv = data(u), k = data(kernel), ds = data(Dskip);
        int oy = off(y), ou = off(u), ok = off(kernel), ods = off(Dskip);
        Parallel.forEach(d, (long) m * m * nb * l * l / 2, c -> {
            for (int mi = 0; mi < m; mi++)
                for (int b = 0; b < nb; b++)
                    for (int t = 0; t < l; t++) {
                        double s = ds[ods + mi * d + c] * uv[ou + ((mi * nb + b) * l + t) * d + c];
                        for (int ki = 0; ki < m; ki++) {
                            int kb = ok + ((mi * m + ki) * d + c) * l;
                            int ub = ou + ((ki * nb + b) * l) * d + c;
                            for (int j = 0; j <= t; j++) s += k[kb + t - j] * uv[ub + j * d];
                        }
                        yv[oy + ((mi * nb + b) * l + t) * d + c] = s;
                    }
        });
    }

    static void backward(Tensor du, Tensor dKernel, Tensor dDskip, Tensor dy, Tensor u, Tensor kernel, Tensor Dskip) {
        int m = u.dim(0), nb = u.dim(1), l = u.dim(2), d = u.dim(3);
        double[] gu = data(du), gk = data(dKernel), gds = data(dDskip), g = data(dy), uv = data(u), k = data(kernel), ds = data(Dskip);
        int ogu = off(du), ogk = off(dKernel), ogds = off(dDskip), og = off(dy), ou = off(u), ok = off(kernel), ods = off(Dskip);
        Parallel.forEach(d, (long) m * m * nb * l * l, c -> {
            // du[k,b,j] = Dskip[k] dy[k,b,j] + sum_m sum_{t >= j} K[m,k,t-j] dy[m,b,t]
            for (int ki = 0; ki < m; ki++)
                for (int b = 0; b < nb; b++)
                    for (int j = 0; j < l; j++) {
                        double s = ds[ods + ki * d + c] * g[og + ((ki * nb + b) * l + j) * d + c];
                        for (int mi = 0; mi < m; mi++) {
                            int kb = ok + ((mi * m + ki) * d + c) * l;
                            int gb = og + ((mi * nb + b) * l) * d + c;
                            for (int t = j; t < l; t++) s += k[kb + t - j] * g[gb + t * d];
                        }
                        gu[ogu + ((ki * nb + b) * l + j) * d + c] = s;
                    }
            // dK[m,k,lag] = sum_b sum_{t >= lag} dy[m,b,t] u[k,b,t-lag]; dDskip[m] = sum_{b,t} dy[m] u[m]
            for (int mi = 0; mi < m; mi++) {
                double sd = 0;
                for (int b = 0; b < nb; b++)
                    for (int t = 0; t < l; t++)
                        sd += g[og + ((mi * nb + b) * l + t) * d + c] * uv[ou + ((mi * nb + b) * l + t) * d + c];
                gds[ogds + mi * d + c] = sd;
                for (int ki = 0; ki < m; ki++)
                    for (int lag = 0; lag < l; lag++) {
                        double s = 0;
                        for (int b = 0; b < nb; b++) {
                            int gb = og + ((mi * nb + b) * l) * d + c, ub = ou + ((ki * nb + b) * l) * d + c;
                            for (int t = lag; t < l; t++) s += g[gb + t * d] * uv[ub + (t - lag) * d];
                        }
                        gk[ogk + ((mi * m + ki) * d + c) * l + lag] = s;
                    }
            }
        });
    }
}
