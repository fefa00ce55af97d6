package io.cmamba.cpu;

import io.cmamba.tensor.Saved;
import io.cmamba.tensor.ScanGrads;
import io.cmamba.tensor.ScanInputs;
import io.cmamba.tensor.Tensor;

import static io.cmamba.cpu.CpuBackend.data;
import static io.cmamba.cpu.CpuBackend.off;

/**
 * The coupled selective scan on the CPU (MODEL.md, "One coupled layer" and "Backward of the coupled
 * scan"), in its two forms:
 * <ul>
 *   <li>{@link #forwardSequential}: the recurrence step by step, s_t = G_t s_{t-1} + V_t, every h^m_t
 *       from s_{t-1}: the reference, and what the backend runs (one pass, work split over (b, d));</li>
 *   <li>{@link #forwardParallel}: the "expedite" form: all (G_t, V_t) first, then an associative
 *       scan over t with (G2,V2)o(G1,V1) = (G2 G1, G2 V1 + V2) in chunks (local prefixes, a carry
 *       across chunks, a fix-up), then every h^m_t from s_{t-1}; tests prove both equal.</li>
 * </ul>
 * Lengths: from t = lengths[b] on, (G, V) is the identity pair (1, 0): the state is frozen, the output
 * is 0 and no gradient flows. The backward recomputes the states of one (b, d) at a time from the
 * inputs (the CPU keeps an [L, N] slice per task, never [B, L, D, N]); the Saved object is empty.
 * Index maps: u/delta/z/out [M,B,L,D] -> ((m B + b) L + t) D + d; B/C [M,B,L,N]; A [M,D,N]; state [B,D,N].
 */
public final class CpuScan {
    private CpuScan() {
    }

    /** Sizes and the arrays of one call, resolved once. */
    static final class Args {
        final int m, nb, l, d, n;
        final double[] u, dp, z, a, bm, cm, ds;
        final int ou, odp, oz, oa, obm, ocm, ods;
        final double[] lens, init;
        final int olens, oinit;

        Args(ScanInputs in) {
            m = in.modalities();
            nb = in.batch();
            l = in.length();
            d = in.channels();
            n = in.states();
            u = data(in.u());
            ou = off(in.u());
            dp = data(in.deltaPre());
            odp = off(in.deltaPre());
            z = data(in.z());
            oz = off(in.z());
            a = data(in.A());
            oa = off(in.A());
            bm = data(in.B());
            obm = off(in.B());
            cm = data(in.C());
            ocm = off(in.C());
            ds = data(in.Dskip());
            ods = off(in.Dskip());
            lens = in.lengths() == null ? null : data(in.lengths());
            olens = in.lengths() == null ? 0 : off(in.lengths());
            init = in.initialState() == null ? null : data(in.initialState());
            oinit = in.initialState() == null ? 0 : off(in.initialState());
            for (int b = 0; b < nb; b++) length(b);
        }

        int length(int b) {
            if (lens == null) return l;
            int len = (int) lens[olens + b];
            if (len < 0 || len > l)
                throw new IllegalArgumentException("coupledScan: sample " + b + " has length " + len + " outside [0, " + l + "]");
            return len;
        }

        int x(int mm, int b, int t, int c) {
            return ((mm * nb + b) * l + t) * d + c;
        }

        int bc(int mm, int b, int t, int k) {
            return ((mm * nb + b) * l + t) * n + k;
        }

        int amat(int mm, int c, int k) {
            return (mm * d + c) * n + k;
        }

        void loadInitial(int b, int c, double[] s) {
            for (int k = 0; k < n; k++) s[k] = init == null ? 0 : init[oinit + (b * d + c) * n + k];
        }
    }

    /** Nothing is kept: the CPU backward recomputes the states from the inputs. */
    static final class NothingSaved implements Saved {
        @Override
        public void close() {
        }
    }

    static Saved forward(ScanInputs in, Tensor out, Tensor finalState) {
        forwardSequential(in, out, finalState);
        return new NothingSaved();
    }

    static double sigmoid(double x) {
        return CpuMath.sigmoid(x);
    }

    static double softplus(double x) {
        return CpuMath.softplus(x);
    }

    /** The reference: the recurrence step by step. out [M,B,L,D]; finalState [B,D,N] or null. */
    public static void forwardSequential(ScanInputs in, Tensor out, Tensor finalState) {
        Args p = new Args(in);
        double[] o = data(out), fs = finalState == null ? null : data(finalState);
        int oo = off(out), ofs = finalState == null ? 0 : off(finalState);
        Parallel.forEach(p.nb * p.d, (long) p.l * p.n * p.m * 4, task -> {
            int b = task / p.d, c = task % p.d, len = p.length(b);
            double[] s = new double[p.n], g = new double[p.n], v = new double[p.n], delta = new double[p.m];
            p.loadInitial(b, c, s);
            for (int t = 0; t < p.l; t++) {
                if (t >= len) {
                    for (int mm = 0; mm < p.m; mm++) o[oo + p.x(mm, b, t, c)] = 0;
                    continue;
                }
                java.util.Arrays.fill(g, 0);
                java.util.Arrays.fill(v, 0);
                for (int mm = 0; mm < p.m; mm++) {
                    int xi = p.x(mm, b, t, c);
                    double dl = softplus(p.dp[p.odp + xi]), uu = p.u[p.ou + xi];
                    delta[mm] = dl;
                    double y = p.ds[p.ods + mm * p.d + c] * uu;
                    for (int k = 0; k < p.n; k++) {
                        double abar = Math.exp(dl * p.a[p.oa + p.amat(mm, c, k)]);
                        double bbarU = dl * p.bm[p.obm + p.bc(mm, b, t, k)] * uu;
                        double h = abar * s[k] + bbarU;
                        y += p.cm[p.ocm + p.bc(mm, b, t, k)] * h;
                        g[k] += abar;
                        v[k] += bbarU;
                    }
                    double zz = p.z[p.oz + xi];
                    o[oo + xi] = y * zz * sigmoid(zz);
                }
                for (int k = 0; k < p.n; k++) s[k] = g[k] / p.m * s[k] + v[k] / p.m;
            }
            if (fs != null) System.arraycopy(s, 0, fs, ofs + (b * p.d + c) * p.n, p.n);
        });
    }

    /** Chunk length of the two-level associative scan of {@link #forwardParallel}. */
    static final int SCAN_CHUNK = 16;

    /**
     * The parallel (G, V) form: pairs for every t, an associative prefix scan over t in chunks, then
     * every output from s_{t-1}. Same contract as {@link #forwardSequential}.
     */
    public static void forwardParallel(ScanInputs in, Tensor out, Tensor finalState) {
        Args p = new Args(in);
        double[] o = data(out), fs = finalState == null ? null : data(finalState);
        int oo = off(out), ofs = finalState == null ? 0 : off(finalState);
        Parallel.forEach(p.nb * p.d, (long) p.l * p.n * p.m * 6, task -> {
            int b = task / p.d, c = task % p.d, len = p.length(b), l = p.l, n = p.n;
            double[] gp = new double[l * n], vp = new double[l * n];
            // 1. the pairs (G_t, V_t); past the sample's end the identity pair freezes the state
            for (int t = 0; t < l; t++) {
                for (int k = 0; k < n; k++) {
                    gp[t * n + k] = t < len ? 0 : 1;
                    vp[t * n + k] = 0;
                }
                if (t >= len) continue;
                for (int mm = 0; mm < p.m; mm++) {
                    int xi = p.x(mm, b, t, c);
                    double dl = softplus(p.dp[p.odp + xi]), uu = p.u[p.ou + xi];
                    for (int k = 0; k < n; k++) {
                        gp[t * n + k] += Math.exp(dl * p.a[p.oa + p.amat(mm, c, k)]) / p.m;
                        vp[t * n + k] += dl * p.bm[p.obm + p.bc(mm, b, t, k)] * uu / p.m;
                    }
                }
            }
            // 2. inclusive prefix composition within each chunk: (G,V)_t <- (G,V)_t o (G,V)_{t-1}
            for (int t0 = 0; t0 < l; t0 += SCAN_CHUNK)
                for (int t = t0 + 1; t < Math.min(l, t0 + SCAN_CHUNK); t++)
                    for (int k = 0; k < n; k++) {
                        vp[t * n + k] += gp[t * n + k] * vp[(t - 1) * n + k];
                        gp[t * n + k] *= gp[(t - 1) * n + k];
                    }
            // 3. carry across chunks: the state entering each chunk, from the chunk aggregates
            double[] s0 = new double[n];
            p.loadInitial(b, c, s0);
            double[] carry = s0.clone();
            double[] sPrev = new double[l * n]; // s_{t-1} for every t
            for (int t0 = 0; t0 < l; t0 += SCAN_CHUNK) {
                int t1 = Math.min(l, t0 + SCAN_CHUNK);
                // 4. fix-up: s_t = Gcum_t carry + Vcum_t inside the chunk
                for (int t = t0; t < t1; t++)
                    for (int k = 0; k < n; k++)
                        sPrev[t * n + k] = t == t0 ? carry[k] : gp[(t - 1) * n + k] * carry[k] + vp[(t - 1) * n + k];
                for (int k = 0; k < n; k++) carry[k] = gp[(t1 - 1) * n + k] * carry[k] + vp[(t1 - 1) * n + k];
            }
            // 5. outputs from s_{t-1}
            for (int t = 0; t < l; t++)
                for (int mm = 0; mm < p.m; mm++) {
                    int xi = p.x(mm, b, t, c);
                    if (t >= len) {
                        o[oo + xi] = 0;
                        continue;
                    }
                    double dl = softplus(p.dp[p.odp + xi]), uu = p.u[p.ou + xi];
                    double y = p.ds[p.ods + mm * p.d + c] * uu;
                    for (int k = 0; k < n; k++) {
                        double h = Math.exp(dl * p.a[p.oa + p.amat(mm, c, k)]) * sPrev[t * n + k]
                                + dl * p.bm[p.obm + p.bc(mm, b, t, k)] * uu;
                        y += p.cm[p.ocm + p.bc(mm, b, t, k)] * h;
                    }
                    double zz = p.z[p.oz + xi];
                    o[oo + xi] = y * zz * sigmoid(zz);
                }
            if (fs != null) System.arraycopy(carry, 0, fs, ofs + (b * p.d + c) * n, n);
        });
    }

    /**
     * The reverse scan of MODEL.md: g_{t-1} = G_t g_t + sum_m Abar^m_t dh_dir^m_t, with
     * H^m_t = dh_dir^m_t + g_t / M the total gradient reaching h^m_t. Tasks are (block of samples,
     * block of channels); dB and dC (sums over d) go to one partial buffer per channel block, dA and
     * dDskip (sums over b) to one per sample block, reduced at the end, so no two tasks write the
     * same element.
     */
    static void backward(ScanInputs in, Saved saved, Tensor dout, Tensor dFinalState, ScanGrads grads) {
        Args p = new Args(in);
        int m = p.m, nb = p.nb, l = p.l, d = p.d, n = p.n;
        double[] gout = data(dout);
        int ogout = off(dout);
        double[] dfin = dFinalState == null ? null : data(dFinalState);
        int odfin = dFinalState == null ? 0 : off(dFinalState);
        double[] du = data(grads.du()), ddp = data(grads.dDeltaPre()), dz = data(grads.dz());
        int odu = off(grads.du()), oddp = off(grads.dDeltaPre()), odz = off(grads.dz());
        double[] dinit = grads.dInitialState() == null ? null : data(grads.dInitialState());
        int odinit = grads.dInitialState() == null ? 0 : off(grads.dInitialState());

        int threads = Parallel.threads();
        int dBlocks = nb >= 2 * threads ? 1 : Math.min(d, (2 * threads + nb - 1) / nb);
        int bBlocks = Math.min(nb, 2 * threads);
        int bcSize = m * nb * l * n, aSize = m * d * n;
        double[][] dbPart = new double[dBlocks][bcSize], dcPart = new double[dBlocks][bcSize];
        double[][] daPart = new double[bBlocks][aSize], dsPart = new double[bBlocks][m * d];

        Parallel.forEach(bBlocks * dBlocks, (long) nb * d * l * n * m * 12 / (bBlocks * dBlocks), task -> {
            int bBlock = task / dBlocks, dBlock = task % dBlocks;
            int b0 = (int) ((long) nb * bBlock / bBlocks), b1 = (int) ((long) nb * (bBlock + 1) / bBlocks);
            int c0 = (int) ((long) d * dBlock / dBlocks), c1 = (int) ((long) d * (dBlock + 1) / dBlocks);
            double[] dbp = dbPart[dBlock], dcp = dcPart[dBlock], dap = daPart[bBlock], dsp = dsPart[bBlock];
            double[] sPrev = new double[l * n], g = new double[n], gNext = new double[n];
            double[] delta = new double[m], abar = new double[m * n];
            for (int b = b0; b < b1; b++) {
                int len = p.length(b);
                for (int c = c0; c < c1; c++) {
                    // recompute s_{t-1} for every valid t
                    double[] s = new double[n];
                    p.loadInitial(b, c, s);
                    for (int t = 0; t < len; t++) {
                        System.arraycopy(s, 0, sPrev, t * n, n);
                        double[] gg = new double[n], vv = new double[n];
                        for (int mm = 0; mm < m; mm++) {
                            int xi = p.x(mm, b, t, c);
                            double dl = softplus(p.dp[p.odp + xi]), uu = p.u[p.ou + xi];
                            for (int k = 0; k < n; k++) {
                                gg[k] += Math.exp(dl * p.a[p.oa + p.amat(mm, c, k)]);
                                vv[k] += dl * p.bm[p.obm + p.bc(mm, b, t, k)] * uu;
                            }
                        }
                        for (int k = 0; k < n; k++) s[k] = gg[k] / m * s[k] + vv[k] / m;
                    }
                    // reverse scan; g = dL/ds_t, frozen steps pass it through unchanged
                    for (int k = 0; k < n; k++) g[k] = dfin == null ? 0 : dfin[odfin + (b * d + c) * n + k];
                    for (int t = l - 1; t >= 0; t--) {
                        if (t >= len) {
                            for (int mm = 0; mm < m; mm++) {
                                int xi = p.x(mm, b, t, c);
                                du[odu + xi] = 0;
                                ddp[oddp + xi] = 0;
                                dz[odz + xi] = 0;
                            }
                            continue;
                        }
                        java.util.Arrays.fill(gNext, 0);
                        for (int mm = 0; mm < m; mm++) {
                            int xi = p.x(mm, b, t, c);
                            double pre = p.dp[p.odp + xi], dl = softplus(pre), uu = p.u[p.ou + xi];
                            double zz = p.z[p.oz + xi], sz = sigmoid(zz), silu = zz * sz;
                            delta[mm] = dl;
                            double dskip = p.ds[p.ods + mm * d + c];
                            double y = dskip * uu;
                            for (int k = 0; k < n; k++) {
                                double ab = Math.exp(dl * p.a[p.oa + p.amat(mm, c, k)]);
                                abar[mm * n + k] = ab;
                                double h = ab * sPrev[t * n + k] + dl * p.bm[p.obm + p.bc(mm, b, t, k)] * uu;
                                y += p.cm[p.ocm + p.bc(mm, b, t, k)] * h;
                            }
                            double go = gout[ogout + xi];
                            double dy = go * silu;
                            dz[odz + xi] = go * y * sz * (1 + zz * (1 - sz));
                            dsp[mm * d + c] += dy * uu;
                            double duAcc = dy * dskip, ddelta = 0;
                            for (int k = 0; k < n; k++) {
                                int bci = p.bc(mm, b, t, k), ai = p.amat(mm, c, k);
                                double ab = abar[mm * n + k], bb = p.bm[p.obm + bci], cc = p.cm[p.ocm + bci];
                                double sp = sPrev[t * n + k];
                                double h = ab * sp + dl * bb * uu;
                                double dhDir = dy * cc;
                                double hTot = dhDir + g[k] / m;
                                double dAbar = hTot * sp, dBbar = hTot * uu;
                                dcp[bci] += dy * h;
                                duAcc += hTot * dl * bb;
                                ddelta += dAbar * ab * p.a[p.oa + ai] + dBbar * bb;
                                dap[ai] += dAbar * ab * dl;
                                dbp[bci] += dBbar * dl;
                                gNext[k] += ab * dhDir;
                            }
                            du[odu + xi] = duAcc;
                            ddp[oddp + xi] = ddelta * sigmoid(pre);
                        }
                        for (int k = 0; k < n; k++) {
                            double gt = 0;
                            for (int mm = 0; mm < m; mm++) gt += abar[mm * n + k];
                            g[k] = gt / m * g[k] + gNext[k];
                        }
                    }
                    if (dinit != null) System.arraycopy(g, 0, dinit, odinit + (b * d + c) * n, n);
                }
            }
        });
        reduceInto(grads.dB(), dbPart);
        reduceInto(grads.dC(), dcPart);
        reduceInto(grads.dA(), daPart);
        reduceInto(grads.dDskip(), dsPart);
    }

    private static void reduceInto(Tensor out, double[][] parts) {
        double[] o = data(out);
        int oo = off(out), size = parts[0].length;
        for (int i = 0; i < size; i++) {
            double s = 0;
            for (double[] part : parts) s += part[i];
            o[oo + i] = s;
        }
    }
}
