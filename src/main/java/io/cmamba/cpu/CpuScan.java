package io.cmamba.cpu;

import io.cmamba.tensor.OpChecks;
import io.cmamba.tensor.Saved;
import io.cmamba.tensor.ScanGrads;
import io.cmamba.tensor.ScanInputs;
import io.cmamba.tensor.Tensor;

import java.util.Arrays;

import static io.cmamba.cpu.CpuBackend.data;
import static io.cmamba.cpu.CpuBackend.off;

/**
 * The coupled selective scan on the CPU (MODEL.md: "One coupled layer", "Parallel form", "Backward of
 * the coupled scan"), in two forms per pass, public so that tests hold one against the other:
 * <ul>
 *   <li>sequential ({@link #forwardSequential}, {@link #backwardSequential}): the recurrences step by
 *       step, s_t = G_t s_{t-1} + V_t forward and g_{t-1} = G_t g_t + W_t backward, every h^m_t from
 *       s_{t-1}; one exp(delta A) per (m, t, d, n) and pass;</li>
 *   <li>parallel ({@link #forwardParallel}, {@link #backwardParallel}): the "expedite" form as a GPU runs
 *       it: all pairs (G_t, V_t) first, then a two-level associative scan over t with
 *       (G2,V2)o(G1,V1) = (G2 G1, G2 V1 + V2) ({@link #scanPairs}), then every h^m_t independently; the
 *       backward runs the same scan in reverse on the pairs (G_t, W_t), W_t = sum_m Abar^m_t dh_dir^m_t.</li>
 * </ul>
 * The backend runs the sequential forms: the (b, d) pairs already give every core independent work, and
 * the parallel form makes extra passes over the pairs it materialises (bench/NOTES-cpu-scan.md: it takes
 * 1.3x to 1.6x the CPU time). Both split the work over samples and blocks of {@link #FORWARD_CHANNELS}
 * channels, steps outermost within a block, so that a 64-byte line of the [M, B, L, D] tensors is read
 * whole even when a sample's rows are far apart.
 * <p>
 * What the backward keeps ({@link Checkpoints}): s entering every {@link #CHECKPOINT}-th step,
 * [B, ceil(L/T) - 1, D, N], i.e. N / (M T) of the size of u and nothing at all when L <= T. The
 * sequential backward recomputes one interval of T steps at a time from its checkpoint, keeping that
 * interval's Abar and s_{t-1} to walk it backwards, so it computes each exponential once.
 * <p>
 * Lengths: from t = lengths[b] on, the pair is the identity (1, 0): the state is frozen, the output is
 * 0, no gradient flows and those inputs are never read. NaN or infinity at a valid step propagates, as
 * the arithmetic does: to the outputs of its (b, d) from that step on in every modality (through the
 * shared state) and to the gradients; nothing is checked here (the trainer counts non-finite values).
 * <p>
 * All arithmetic is float64; CpuBackend rounds float32 outputs afterwards. Index maps:
 * u, deltaPre, z, out [M,B,L,D] at ((m B + b) L + t) D + d; B, C [M,B,L,N] at ((m B + b) L + t) N + n;
 * A [M,D,N] at (m D + d) N + n; states [B,D,N] at (b D + d) N + n.
 */
public final class CpuScan {
    private CpuScan() {
    }

    /** Steps between two saved states of the sequential form (and length of its backward's intervals). */
    public static final int CHECKPOINT = 64;

    /** Chunk length of the two-level pair scan of the parallel form. */
    public static final int SCAN_CHUNK = 16;

    /** Channels advanced together: one cache line of doubles, and the rows B_t, C_t reused from L1. */
    static final int FORWARD_CHANNELS = 8;

    // ---------------------------------------------------------------- inputs

    /** Sizes, arrays and offsets of one call, resolved and checked once. */
    static final class Args {
        final int m, nb, l, d, n;
        final double invM;
        final double[] u, dp, z, a, bm, cm, ds, init;
        final int ou, odp, oz, oa, obm, ocm, ods, oinit;
        /** Valid steps of every sample. */
        final int[] len;

        Args(ScanInputs in) {
            m = in.modalities();
            nb = in.batch();
            l = in.length();
            d = in.channels();
            n = in.states();
            invM = 1.0 / m;
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
            init = in.initialState() == null ? null : data(in.initialState());
            oinit = in.initialState() == null ? 0 : off(in.initialState());
            len = new int[nb];
            if (in.lengths() == null) Arrays.fill(len, l);
            else {
                double[] ls = data(in.lengths());
                int ol = off(in.lengths());
                for (int b = 0; b < nb; b++) {
                    double v = ls[ol + b];
                    if (!(v >= 0 && v <= l))
                        throw new IllegalArgumentException("coupledScan: sample " + b + " has length " + (long) v
                                + ", outside [0, " + l + "] (lengths[" + b + "])");
                    len[b] = (int) v;
                }
            }
        }

        /** Index of (m, b, t, c) in an [M, B, L, D] tensor, without its offset. */
        int x(int mm, int b, int t, int c) {
            return ((mm * nb + b) * l + t) * d + c;
        }

        /** Start of row (m, b, t) in an [M, B, L, N] tensor, without its offset. */
        int row(int mm, int b, int t) {
            return ((mm * nb + b) * l + t) * n;
        }

        /** Start of row (m, c) of A [M, D, N], without its offset. */
        int arow(int mm, int c) {
            return (mm * d + c) * n;
        }

        /** s_{-1} of channel c of sample b into s[so, so + N). */
        void loadInitial(int b, int c, double[] s, int so) {
            if (init == null) Arrays.fill(s, so, so + n, 0);
            else System.arraycopy(init, oinit + (b * d + c) * n, s, so, n);
        }
    }

    static double sigmoid(double x) {
        return CpuMath.sigmoid(x);
    }

    static double softplus(double x) {
        return CpuMath.softplus(x);
    }

    private static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }

    // ---------------------------------------------------------------- saved state

    /**
     * s entering steps T, 2T, ... of every (b, d): [B, count, D, N] with count = ceil(L/T) - 1, the
     * entry j holding s_{(j+1)T-1}. Closing drops the array; the inputs must be unchanged between the
     * forward and the backward, as for every saved object of the backend.
     */
    public static final class Checkpoints implements Saved {
        final int nb, l, d, n, count;
        private double[] states;

        Checkpoints(Args p) {
            nb = p.nb;
            l = p.l;
            d = p.d;
            n = p.n;
            count = Math.max(0, ceilDiv(l, CHECKPOINT) - 1);
            states = new double[nb * count * d * n];
        }

        /** Start of the state entering interval j >= 1 of channel c of sample b. */
        int at(int b, int j, int c) {
            return ((b * count + j - 1) * d + c) * n;
        }

        double[] states() {
            if (states == null) throw new IllegalStateException("coupledScan: saved states used after close()");
            return states;
        }

        /** Elements kept (for tests and notes). */
        public long size() {
            return states().length;
        }

        void check(Args p) {
            if (p.nb != nb || p.l != l || p.d != d || p.n != n)
                throw new IllegalArgumentException("coupledScanBackward: the saved states are of a scan with [B, L, D, N] = ["
                        + nb + ", " + l + ", " + d + ", " + n + "], the inputs have [" + p.nb + ", " + p.l + ", " + p.d + ", " + p.n + "]");
        }

        @Override
        public void close() {
            states = null;
        }
    }

    // ---------------------------------------------------------------- backend entry points

    /** The backend's forward: the sequential form, which is the faster one on a CPU. */
    static Saved forward(ScanInputs in, Tensor out, Tensor finalState) {
        return forwardSequential(in, out, finalState);
    }

    /** The backend's backward: the sequential form from the forward's checkpoints. */
    static void backward(ScanInputs in, Saved saved, Tensor dout, Tensor dFinalState, ScanGrads grads) {
        if (!(saved instanceof Checkpoints cp))
            throw new IllegalArgumentException("coupledScanBackward: saved is " + (saved == null ? "null" : saved.getClass().getName())
                    + ", not the object CpuBackend.coupledScanForward returned");
        backwardSequential(in, cp, dout, dFinalState, grads);
    }

    // ---------------------------------------------------------------- sequential forward

    /**
     * One step t of channel c of sample b: writes out^m_t[c] for every m (unless o is null) and
     * advances s[so, so + N) from s_{t-1} to s_t; gs and vs are [N] scratch. The backward's recomputation
     * repeats these operations in this order, so its states equal the forward's bit for bit.
     */
    private static void step(Args p, int b, int t, int c, double[] s, int so, double[] gs, double[] vs, double[] o, int oo) {
        int n = p.n;
        Arrays.fill(gs, 0);
        Arrays.fill(vs, 0);
        for (int mm = 0; mm < p.m; mm++) {
            int xi = p.x(mm, b, t, c), ri = p.row(mm, b, t), ai = p.oa + p.arow(mm, c);
            double dl = softplus(p.dp[p.odp + xi]), uu = p.u[p.ou + xi];
            double y = p.ds[p.ods + mm * p.d + c] * uu;
            for (int k = 0; k < n; k++) {
                double ab = Math.exp(dl * p.a[ai + k]);
                double bu = dl * p.bm[p.obm + ri + k] * uu;
                y += p.cm[p.ocm + ri + k] * (ab * s[so + k] + bu);
                gs[k] += ab;
                vs[k] += bu;
            }
            if (o != null) {
                double zz = p.z[p.oz + xi];
                o[oo + xi] = y * zz * sigmoid(zz);
            }
        }
        for (int k = 0; k < n; k++) s[so + k] = gs[k] * p.invM * s[so + k] + vs[k] * p.invM;
    }

    /**
     * The reference: the recurrence step by step. Tasks are (sample, block of
     * {@link #FORWARD_CHANNELS} channels), each advancing its block's states together over t.
     *
     * @param out        [M, B, L, D]
     * @param finalState [B, D, N] or null
     * @return the checkpoints the backward needs
     */
    public static Checkpoints forwardSequential(ScanInputs in, Tensor out, Tensor finalState) {
        OpChecks.scanOutputs(in, out, finalState);
        Args p = new Args(in);
        Checkpoints cp = new Checkpoints(p);
        double[] o = data(out), fs = finalState == null ? null : data(finalState), saved = cp.states();
        int oo = off(out), ofs = finalState == null ? 0 : off(finalState), n = p.n;
        int blocks = ceilDiv(p.d, FORWARD_CHANNELS);
        Parallel.forEach(p.nb * blocks, (long) FORWARD_CHANNELS * p.l * p.n * p.m * 12, task -> {
            int b = task / blocks, c0 = task % blocks * FORWARD_CHANNELS, c1 = Math.min(p.d, c0 + FORWARD_CHANNELS);
            int len = p.len[b];
            double[] s = new double[(c1 - c0) * n], gs = new double[n], vs = new double[n];
            for (int c = c0; c < c1; c++) p.loadInitial(b, c, s, (c - c0) * n);
            for (int t = 0; t < p.l; t++) {
                if (t > 0 && t % CHECKPOINT == 0)
                    for (int c = c0; c < c1; c++) System.arraycopy(s, (c - c0) * n, saved, cp.at(b, t / CHECKPOINT, c), n);
                if (t >= len) {
                    for (int mm = 0; mm < p.m; mm++) Arrays.fill(o, oo + p.x(mm, b, t, c0), oo + p.x(mm, b, t, c1), 0);
                    continue;
                }
                for (int c = c0; c < c1; c++) step(p, b, t, c, s, (c - c0) * n, gs, vs, o, oo);
            }
            if (fs != null)
                for (int c = c0; c < c1; c++) System.arraycopy(s, (c - c0) * n, fs, ofs + (b * p.d + c) * n, n);
        });
        return cp;
    }

    // ---------------------------------------------------------------- the associative pair scan

    /**
     * The two-level scan of x_i = G_i x_{i-1} + V_i over the [len, N] pair arrays g, v (step-major,
     * from index {@code base}), in steps 0, 1, ..., len-1, or len-1, ..., 0 when {@code reverse}. Writes
     * before[base + t N ..] = the state entering step t and returns in {@code last} the state after the
     * final step. Level 1 composes the pairs inside each chunk of {@link #SCAN_CHUNK} steps (independent
     * across chunks: one thread block each on a GPU); level 2 carries the state across chunks through the
     * chunk aggregates; level 3 applies each chunk's carry to its prefixes (independent again).
     * cg and cv are [len, N] scratch.
     */
    public static void scanPairs(double[] g, double[] v, int base, int len, int n, double[] init, double[] before, double[] last,
                                 boolean reverse, double[] cg, double[] cv) {
        for (int i0 = 0; i0 < len; i0 += SCAN_CHUNK) {
            int i1 = Math.min(len, i0 + SCAN_CHUNK);
            for (int i = i0; i < i1; i++) {
                int t = base + (reverse ? len - 1 - i : i) * n, ci = i * n, pi = ci - n;
                for (int k = 0; k < n; k++) {
                    if (i == i0) {
                        cg[ci + k] = g[t + k];
                        cv[ci + k] = v[t + k];
                    } else { // (G_i, V_i) o (cg, cv)_{i-1}
                        cg[ci + k] = g[t + k] * cg[pi + k];
                        cv[ci + k] = g[t + k] * cv[pi + k] + v[t + k];
                    }
                }
            }
        }
        double[] carry = init.clone();
        for (int i0 = 0; i0 < len; i0 += SCAN_CHUNK) {
            int i1 = Math.min(len, i0 + SCAN_CHUNK);
            for (int i = i0; i < i1; i++) {
                int t = base + (reverse ? len - 1 - i : i) * n, pi = (i - 1) * n;
                for (int k = 0; k < n; k++) before[t + k] = i == i0 ? carry[k] : cg[pi + k] * carry[k] + cv[pi + k];
            }
            int ei = (i1 - 1) * n;
            for (int k = 0; k < n; k++) carry[k] = cg[ei + k] * carry[k] + cv[ei + k];
        }
        System.arraycopy(carry, 0, last, 0, n);
    }

    /**
     * Buffers of the parallel form for a block of channels, channel-major ([w, L, N] and Abar
     * [w, L, M, N]), reused over the blocks of one task. The block is narrowed so that Abar stays near
     * a million doubles (the parallel form materialises every pair, as a GPU does per chunk).
     */
    private static final class PairBuffers {
        final int w;
        final double[] abar, g, v, before, cg, cv, init, last;

        static int width(Args p) {
            return (int) Math.max(1, Math.min(FORWARD_CHANNELS, (1L << 20) / ((long) p.l * p.n * p.m)));
        }

        PairBuffers(Args p) {
            int ln = p.l * p.n;
            w = width(p);
            abar = new double[w * ln * p.m];
            g = new double[w * ln];
            v = new double[w * ln];
            before = new double[w * ln];
            cg = new double[ln];
            cv = new double[ln];
            init = new double[p.n];
            last = new double[p.n];
        }

        int abi(Args p, int ci, int t, int mm) {
            return ((ci * p.l + t) * p.m + mm) * p.n;
        }

        int si(Args p, int ci, int t) {
            return (ci * p.l + t) * p.n;
        }
    }

    /**
     * Level 0 of the parallel form for channels [c0, c0 + w) of sample b: Abar^m_t and the pairs
     * G_t = mean_m Abar^m_t, V_t = mean_m Bbar^m_t u^m_t, the identity pair past the sample's end.
     * Steps outermost, channels inside, so that each cache line of u and deltaPre is read once.
     */
    private static void pairs(Args p, int b, int c0, int w, PairBuffers buf) {
        int n = p.n, len = p.len[b];
        for (int t = 0; t < p.l; t++)
            for (int ci = 0; ci < w; ci++) {
                int c = c0 + ci, si = buf.si(p, ci, t);
                if (t >= len) {
                    Arrays.fill(buf.g, si, si + n, 1);
                    Arrays.fill(buf.v, si, si + n, 0);
                    continue;
                }
                Arrays.fill(buf.g, si, si + n, 0);
                Arrays.fill(buf.v, si, si + n, 0);
                for (int mm = 0; mm < p.m; mm++) {
                    int xi = p.x(mm, b, t, c), ri = p.obm + p.row(mm, b, t), ai = p.oa + p.arow(mm, c), abi = buf.abi(p, ci, t, mm);
                    double dl = softplus(p.dp[p.odp + xi]), uu = p.u[p.ou + xi];
                    for (int k = 0; k < n; k++) {
                        double ab = Math.exp(dl * p.a[ai + k]);
                        buf.abar[abi + k] = ab;
                        buf.g[si + k] += ab;
                        buf.v[si + k] += dl * p.bm[ri + k] * uu;
                    }
                }
                for (int k = 0; k < n; k++) {
                    buf.g[si + k] *= p.invM;
                    buf.v[si + k] *= p.invM;
                }
            }
    }

    /**
     * The parallel (G, V) form; same contract and result as {@link #forwardSequential} up to rounding.
     * Tasks are (sample, block of channels): level 0 for the block ({@link #pairs}), the pair scan of
     * each channel, then every output from s_{t-1}.
     */
    public static Checkpoints forwardParallel(ScanInputs in, Tensor out, Tensor finalState) {
        OpChecks.scanOutputs(in, out, finalState);
        Args p = new Args(in);
        Checkpoints cp = new Checkpoints(p);
        double[] o = data(out), fs = finalState == null ? null : data(finalState), saved = cp.states();
        int oo = off(out), ofs = finalState == null ? 0 : off(finalState), n = p.n;
        int bw = PairBuffers.width(p), blocks = ceilDiv(p.d, bw);
        Parallel.forEach(p.nb * blocks, (long) bw * p.l * p.n * p.m * 16, task -> {
            int b = task / blocks, c0 = task % blocks * bw, w = Math.min(p.d, c0 + bw) - c0, len = p.len[b];
            PairBuffers buf = new PairBuffers(p);
            pairs(p, b, c0, w, buf);
            for (int ci = 0; ci < w; ci++) {
                int c = c0 + ci, base = buf.si(p, ci, 0);
                p.loadInitial(b, c, buf.init, 0);
                scanPairs(buf.g, buf.v, base, p.l, n, buf.init, buf.before, buf.last, false, buf.cg, buf.cv);
                for (int j = 1; j * CHECKPOINT < p.l; j++) System.arraycopy(buf.before, base + j * CHECKPOINT * n, saved, cp.at(b, j, c), n);
                if (fs != null) System.arraycopy(buf.last, 0, fs, ofs + (b * p.d + c) * n, n);
            }
            for (int t = 0; t < p.l; t++)
                for (int mm = 0; mm < p.m; mm++) {
                    if (t >= len) {
                        Arrays.fill(o, oo + p.x(mm, b, t, c0), oo + p.x(mm, b, t, c0 + w), 0);
                        continue;
                    }
                    int ri = p.row(mm, b, t);
                    for (int ci = 0; ci < w; ci++) {
                        int c = c0 + ci, xi = p.x(mm, b, t, c), abi = buf.abi(p, ci, t, mm), si = buf.si(p, ci, t);
                        double dl = softplus(p.dp[p.odp + xi]), uu = p.u[p.ou + xi];
                        double y = p.ds[p.ods + mm * p.d + c] * uu;
                        for (int k = 0; k < n; k++)
                            y += p.cm[p.ocm + ri + k] * (buf.abar[abi + k] * buf.before[si + k] + dl * p.bm[p.obm + ri + k] * uu);
                        double zz = p.z[p.oz + xi];
                        o[oo + xi] = y * zz * sigmoid(zz);
                    }
                }
        });
        return cp;
    }

    // ---------------------------------------------------------------- backward: shared parts

    /**
     * Where backward tasks add the sums dA, dDskip (over samples) and dB, dC (over channels) with no
     * two tasks writing one element: tasks are (block of samples, group of channels), with one partial
     * of dA, dDskip per sample block and of dB, dC per channel group, summed in a fixed order at the
     * end, so the result does not depend on scheduling. There are about four tasks per thread, so that a
     * thread held up elsewhere does not stall the op; channel groups (each a copy of dB and dC, at most
     * 16 M doubles in all) make up the count when there are few samples, and hold whole blocks of
     * {@link #FORWARD_CHANNELS} channels.
     */
    private static final class Partition {
        final int bBlocks, dGroups, channelBlocks;
        final double[][] dA, dDs, dB, dC;

        Partition(Args p) {
            int threads = Parallel.threads();
            channelBlocks = ceilDiv(p.d, FORWARD_CHANNELS);
            bBlocks = Math.max(1, Math.min(p.nb, 4 * threads));
            long bcSize = (long) p.m * p.nb * p.l * p.n;
            dGroups = (int) Math.max(1, Math.min(Math.min(channelBlocks, ceilDiv(4 * threads, bBlocks)), (1L << 24) / Math.max(1, 2 * bcSize)));
            dA = new double[bBlocks][p.m * p.d * p.n];
            dDs = new double[bBlocks][p.m * p.d];
            dB = new double[dGroups][p.m * p.nb * p.l * p.n];
            dC = new double[dGroups][p.m * p.nb * p.l * p.n];
        }

        int tasks() {
            return bBlocks * dGroups;
        }

        int b0(Args p, int task) {
            return (int) ((long) p.nb * (task / dGroups) / bBlocks);
        }

        int b1(Args p, int task) {
            return (int) ((long) p.nb * (task / dGroups + 1) / bBlocks);
        }

        int c0(Args p, int task) {
            return Math.min(p.d, channelBlocks * (task % dGroups) / dGroups * FORWARD_CHANNELS);
        }

        int c1(Args p, int task) {
            return Math.min(p.d, channelBlocks * (task % dGroups + 1) / dGroups * FORWARD_CHANNELS);
        }

        void reduce(ScanGrads g) {
            reduceInto(g.dA(), dA);
            reduceInto(g.dDskip(), dDs);
            reduceInto(g.dB(), dB);
            reduceInto(g.dC(), dC);
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

    /** The arrays and offsets of dout, dFinalState and the per-element gradients. */
    private static final class Outs {
        final double[] go, dfin, du, ddp, dz, dinit;
        final int ogo, odfin, odu, oddp, odz, odinit;

        Outs(Tensor dout, Tensor dFinalState, ScanGrads g) {
            go = data(dout);
            ogo = off(dout);
            dfin = dFinalState == null ? null : data(dFinalState);
            odfin = dFinalState == null ? 0 : off(dFinalState);
            du = data(g.du());
            odu = off(g.du());
            ddp = data(g.dDeltaPre());
            oddp = off(g.dDeltaPre());
            dz = data(g.dz());
            odz = off(g.dz());
            dinit = g.dInitialState() == null ? null : data(g.dInitialState());
            odinit = g.dInitialState() == null ? 0 : off(g.dInitialState());
        }

        /** g_{len-1} of channel c of sample b: dFinalState, or 0. */
        void loadFinal(Args p, int b, int c, double[] g, int go) {
            if (dfin == null) Arrays.fill(g, go, go + p.n, 0);
            else System.arraycopy(dfin, odfin + (b * p.d + c) * p.n, g, go, p.n);
        }

        /** Padded steps of channels [c0, c1) get exactly zero gradients. */
        void zeroPadded(Args p, int b, int c0, int c1) {
            for (int mm = 0; mm < p.m; mm++)
                for (int t = p.len[b]; t < p.l; t++) {
                    int x0 = p.x(mm, b, t, c0), x1 = p.x(mm, b, t, c1);
                    Arrays.fill(du, odu + x0, odu + x1, 0);
                    Arrays.fill(ddp, oddp + x0, oddp + x1, 0);
                    Arrays.fill(dz, odz + x0, odz + x1, 0);
                }
        }
    }

    /**
     * The local gradients of step t, modality m, channel c of sample b (MODEL.md), given s_{t-1} at
     * sPrev[si..], Abar^m_t at abar[abi..] and g_t at g[gi..]: H = dy C + g / M, dC += dy h,
     * dB += H u delta, dA += H s Abar delta, du = dy Dskip + delta sum_n H B, ddelta = sum_n H (s Abar A
     * + u B), dz; adds Abar dy C (this modality's share of W_t) into w[wi..]. Writes du, dDeltaPre and dz
     * of the element and adds into the partials pdA, pdDs, pdB, pdC.
     */
    private static void localGrads(Args p, Outs os, int b, int t, int mm, int c, double[] sPrev, int si, double[] abar, int abi,
                                   double[] g, int gi, double[] w, int wi, double[] pdA, double[] pdDs, double[] pdB, double[] pdC) {
        int n = p.n, xi = p.x(mm, b, t, c), ri = p.row(mm, b, t), ai = p.arow(mm, c);
        double pre = p.dp[p.odp + xi], dl = softplus(pre), uu = p.u[p.ou + xi], ud = uu * dl;
        double zz = p.z[p.oz + xi], sz = sigmoid(zz), go = os.go[os.ogo + xi], dy = go * zz * sz;
        double dskip = p.ds[p.ods + mm * p.d + c];
        double y = dskip * uu, sumHB = 0, sumQA = 0;
        for (int k = 0; k < n; k++) {
            double ab = abar[abi + k], sp = sPrev[si + k], bb = p.bm[p.obm + ri + k], cc = p.cm[p.ocm + ri + k];
            double h = ab * sp + dl * bb * uu;
            y += cc * h;
            double dhDir = dy * cc, hTot = dhDir + g[gi + k] * p.invM, q = hTot * sp * ab;
            pdC[ri + k] += dy * h;
            pdB[ri + k] += hTot * ud;
            pdA[ai + k] += q * dl;
            sumHB += hTot * bb;
            sumQA += q * p.a[p.oa + ai + k];
            w[wi + k] += ab * dhDir;
        }
        pdDs[mm * p.d + c] += dy * uu;
        os.du[os.odu + xi] = dy * dskip + dl * sumHB;
        os.ddp[os.oddp + xi] = (sumQA + uu * sumHB) * sigmoid(pre);
        os.dz[os.odz + xi] = go * y * sz * (1 + zz * (1 - sz));
    }

    // ---------------------------------------------------------------- sequential backward

    /**
     * The reverse scan of MODEL.md step by step: g_{t-1} = G_t g_t + sum_m Abar^m_t dh_dir^m_t from
     * g_{len-1} = dFinalState (or 0), with H^m_t = dh_dir^m_t + g_t / M the gradient reaching h^m_t;
     * dInitialState = g_{-1}. Per sample and block of {@link #FORWARD_CHANNELS} channels, the intervals of
     * {@link #CHECKPOINT} steps are visited last to first: each is recomputed forward from its checkpoint,
     * keeping its s_{t-1} and Abar, then walked backwards (steps outermost, channels inside, so that each
     * cache line of the [M, B, L, D] tensors is read whole). With {@code saved} null the checkpoints are
     * first recomputed by a forward pass.
     */
    public static void backwardSequential(ScanInputs in, Checkpoints saved, Tensor dout, Tensor dFinalState, ScanGrads grads) {
        OpChecks.scanGrads(in, dout, dFinalState, grads);
        Args p = new Args(in);
        if (saved != null) saved.check(p);
        double[] cpStates = saved == null ? null : saved.states();
        Outs os = new Outs(dout, dFinalState, grads);
        Partition part = new Partition(p);
        int m = p.m, n = p.n, T = CHECKPOINT, intervals = Math.max(1, ceilDiv(p.l, T)), bw = FORWARD_CHANNELS;
        Parallel.forEach(part.tasks(), (long) p.nb * p.d * p.l * n * m * 30 / part.tasks(), task -> {
            double[] pdA = part.dA[task / part.dGroups], pdDs = part.dDs[task / part.dGroups];
            double[] pdB = part.dB[task % part.dGroups], pdC = part.dC[task % part.dGroups];
            double[] bounds = new double[intervals * bw * n], s = new double[bw * n], g = new double[bw * n];
            double[] gs = new double[n], vs = new double[n], w = new double[n];
            double[] sPrev = new double[T * bw * n], abar = new double[T * bw * m * n];
            for (int b = part.b0(p, task); b < part.b1(p, task); b++) {
                int len = p.len[b], used = ceilDiv(len, T);
                for (int c0 = part.c0(p, task); c0 < part.c1(p, task); c0 += bw) {
                    int cw = Math.min(part.c1(p, task), c0 + bw) - c0;
                    os.zeroPadded(p, b, c0, c0 + cw);
                    // bounds[(j cw + ci) N ..]: s entering interval j of channel c0 + ci
                    for (int ci = 0; ci < cw; ci++) p.loadInitial(b, c0 + ci, bounds, ci * n);
                    if (cpStates != null) {
                        for (int j = 1; j < used; j++)
                            for (int ci = 0; ci < cw; ci++) System.arraycopy(cpStates, saved.at(b, j, c0 + ci), bounds, (j * cw + ci) * n, n);
                    } else {
                        System.arraycopy(bounds, 0, s, 0, cw * n);
                        for (int t = 0; t < len; t++) {
                            if (t > 0 && t % T == 0) System.arraycopy(s, 0, bounds, t / T * cw * n, cw * n);
                            for (int ci = 0; ci < cw; ci++) step(p, b, t, c0 + ci, s, ci * n, gs, vs, null, 0);
                        }
                    }
                    for (int ci = 0; ci < cw; ci++) os.loadFinal(p, b, c0 + ci, g, ci * n);
                    for (int j = used - 1; j >= 0; j--) {
                        int t0 = j * T, t1 = Math.min(len, t0 + T);
                        // forward over the interval, as step() does, keeping s_{t-1} and Abar
                        System.arraycopy(bounds, j * cw * n, s, 0, cw * n);
                        for (int t = t0; t < t1; t++)
                            for (int ci = 0; ci < cw; ci++) {
                                int c = c0 + ci, so = ci * n, slot = (t - t0) * cw + ci;
                                System.arraycopy(s, so, sPrev, slot * n, n);
                                Arrays.fill(gs, 0);
                                Arrays.fill(vs, 0);
                                for (int mm = 0; mm < m; mm++) {
                                    int xi = p.x(mm, b, t, c), ri = p.obm + p.row(mm, b, t), ai = p.oa + p.arow(mm, c), abi = (slot * m + mm) * n;
                                    double dl = softplus(p.dp[p.odp + xi]), uu = p.u[p.ou + xi];
                                    for (int k = 0; k < n; k++) {
                                        double ab = Math.exp(dl * p.a[ai + k]);
                                        abar[abi + k] = ab;
                                        gs[k] += ab;
                                        vs[k] += dl * p.bm[ri + k] * uu;
                                    }
                                }
                                for (int k = 0; k < n; k++) s[so + k] = gs[k] * p.invM * s[so + k] + vs[k] * p.invM;
                            }
                        // and backwards through it
                        for (int t = t1 - 1; t >= t0; t--)
                            for (int ci = 0; ci < cw; ci++) {
                                int slot = (t - t0) * cw + ci, go = ci * n;
                                Arrays.fill(w, 0);
                                for (int mm = 0; mm < m; mm++)
                                    localGrads(p, os, b, t, mm, c0 + ci, sPrev, slot * n, abar, (slot * m + mm) * n, g, go, w, 0, pdA, pdDs, pdB, pdC);
                                for (int k = 0; k < n; k++) {
                                    double gt = 0;
                                    for (int mm = 0; mm < m; mm++) gt += abar[(slot * m + mm) * n + k];
                                    g[go + k] = gt * p.invM * g[go + k] + w[k];
                                }
                            }
                    }
                    if (os.dinit != null)
                        for (int ci = 0; ci < cw; ci++) System.arraycopy(g, ci * n, os.dinit, os.odinit + (b * p.d + c0 + ci) * n, n);
                }
            }
        });
        part.reduce(grads);
    }

    // ---------------------------------------------------------------- parallel backward

    /**
     * The backward in the parallel form, as a GPU runs it: the forward pair scan gives s_{t-1} for every
     * t, a second pair scan run in reverse over (G_t, W_t) with W_t = sum_m Abar^m_t dy^m_t C^m_t gives
     * g_t for every t (W needs only dy = dout silu(z), not g), and then every step's local gradients are
     * independent. Same contract and result as {@link #backwardSequential} up to rounding.
     */
    public static void backwardParallel(ScanInputs in, Tensor dout, Tensor dFinalState, ScanGrads grads) {
        OpChecks.scanGrads(in, dout, dFinalState, grads);
        Args p = new Args(in);
        Outs os = new Outs(dout, dFinalState, grads);
        Partition part = new Partition(p);
        int m = p.m, n = p.n, l = p.l;
        Parallel.forEach(part.tasks(), (long) p.nb * p.d * l * n * m * 40 / part.tasks(), task -> {
            double[] pdA = part.dA[task / part.dGroups], pdDs = part.dDs[task / part.dGroups];
            double[] pdB = part.dB[task % part.dGroups], pdC = part.dC[task % part.dGroups];
            PairBuffers buf = new PairBuffers(p);
            int bw = buf.w;
            double[] w = new double[bw * l * n], gAfter = new double[bw * l * n];
            double[] wAgain = new double[n]; // localGrads recomputes W: already used, discarded
            for (int b = part.b0(p, task); b < part.b1(p, task); b++) {
                int len = p.len[b];
                for (int c0 = part.c0(p, task); c0 < part.c1(p, task); c0 += bw) {
                    int cw = Math.min(part.c1(p, task), c0 + bw) - c0;
                    os.zeroPadded(p, b, c0, c0 + cw);
                    pairs(p, b, c0, cw, buf);
                    // W_t = sum_m Abar^m_t dy^m_t C^m_t; (1, 0) past the end, as G already is
                    Arrays.fill(w, 0);
                    for (int t = 0; t < len; t++)
                        for (int mm = 0; mm < m; mm++) {
                            int ri = p.ocm + p.row(mm, b, t);
                            for (int ci = 0; ci < cw; ci++) {
                                int xi = p.x(mm, b, t, c0 + ci), abi = buf.abi(p, ci, t, mm), wi = buf.si(p, ci, t);
                                double zz = p.z[p.oz + xi], dy = os.go[os.ogo + xi] * zz * sigmoid(zz);
                                for (int k = 0; k < n; k++) w[wi + k] += buf.abar[abi + k] * dy * p.cm[ri + k];
                            }
                        }
                    for (int ci = 0; ci < cw; ci++) {
                        int c = c0 + ci, base = buf.si(p, ci, 0);
                        p.loadInitial(b, c, buf.init, 0);
                        scanPairs(buf.g, buf.v, base, l, n, buf.init, buf.before, buf.last, false, buf.cg, buf.cv);
                        os.loadFinal(p, b, c, buf.init, 0);
                        scanPairs(buf.g, w, base, l, n, buf.init, gAfter, buf.last, true, buf.cg, buf.cv);
                        if (os.dinit != null) System.arraycopy(buf.last, 0, os.dinit, os.odinit + (b * p.d + c) * n, n);
                    }
                    for (int t = 0; t < len; t++)
                        for (int ci = 0; ci < cw; ci++)
                            for (int mm = 0; mm < m; mm++)
                                localGrads(p, os, b, t, mm, c0 + ci, buf.before, buf.si(p, ci, t), buf.abar, buf.abi(p, ci, t, mm),
                                        gAfter, buf.si(p, ci, t), wAgain, 0, pdA, pdDs, pdB, pdC);
                }
            }
        });
        part.reduce(grads);
    }
}
