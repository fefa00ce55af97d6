package io.cmamba.nn;

import io.cmamba.tensor.Activation;
import io.cmamba.tensor.Backend;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Saved;
import io.cmamba.tensor.ScanGrads;
import io.cmamba.tensor.ScanInputs;
import io.cmamba.tensor.Tensor;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * One coupled layer over all M modalities (MODEL.md, "One coupled layer"). Per modality m, from
 * r^m [B, L, dModel]:
 * <ol>
 *   <li>xz = in_proj(norm(r^m)) [B, L, 2D], split into x and z [B, L, D];</li>
 *   <li>u = silu(causal_conv1d(x));</li>
 *   <li>selective: [dtr, B, C] = x_proj(u) ([B, L, R], [B, L, N], [B, L, N]);
 *       time-invariant: B [N] and C [N] are parameters;</li>
 *   <li>selective: deltaPre = dt_proj(dtr) [B, L, D], delta = softplus(deltaPre) inside the scan;
 *       time-invariant: delta = softplus(dt_raw) [D];</li>
 *   <li>A = -exp(A_log) [D, N].</li>
 * </ol>
 * The modalities' u, deltaPre, z, A, B, C, Dskip are gathered into stacked [M, ...] tensors so that
 * one coupled scan (selective) or one global convolution (time-invariant) serves every chain; the
 * uncoupled ablation runs the same op once per modality with M = 1. Then o^m = y^m * silu(z^m) and
 * r^m <- r^m + out_proj(o^m).
 *
 * <p>Parameters per modality, under {@code {name}.mod.{m}.}: {@code norm.weight} [dModel] (and
 * {@code norm.bias} for LayerNorm), {@code in_proj.weight} [2D, dModel], {@code conv1d.weight} [D, K],
 * {@code conv1d.bias} [D]; selective: {@code x_proj.weight} [R + 2N, D], {@code dt_proj.weight} [D, R],
 * {@code dt_proj.bias} [D]; time-invariant: {@code dt_raw} [D], {@code B} [N], {@code C} [N]; then
 * {@code A_log} [D, N], {@code Dskip} [D], {@code out_proj.weight} [dModel, D]. in_proj and out_proj
 * carry no bias, as in Mamba. Norms, biases, A_log, Dskip and dt_raw do not decay.
 *
 * <p>Initialisation (MODEL.md step 5): A_log[d, n] = log(n + 1); softplus(dt_proj.bias), and in
 * time-invariant mode softplus(dt_raw), log-uniform in [DT_MIN, DT_MAX] = [1e-2, 1]; Dskip = 1; Linear and conv
 * weights uniform in +-1/sqrt(fan_in); B and C (time-invariant) uniform in +-1/sqrt(N).
 */
public final class CoupledMambaLayer {
    /**
     * The range of the initial step, ten times Mamba's [1e-3, 1e-1] (a project change to MODEL.md step 5):
     * what a chain writes into the shared state scales with delta, and with Mamba's range the coupling
     * starts so weak that no seed found the built-in task's cross-modal rule (bench/NOTES-train.md).
     */
    static final double DT_MIN = 1e-2, DT_MAX = 1.0;

    /** One modality's parameters. */
    static final class Branch {
        final Norm norm;
        final Linear inProj, xProj, dtProj, outProj; // xProj, dtProj null in time-invariant mode
        final CausalConv1d conv;
        final Parameter aLog, dSkip;
        final Parameter dtRaw, bParam, cParam;       // time-invariant mode only

        Branch(Init init, String name, MambaSettings s) {
            int d = s.inner(), n = s.dState();
            norm = new Norm(init, name + ".norm", s.dModel(), s.rms());
            inProj = new Linear(init, name + ".in_proj", s.dModel(), 2 * d, false);
            conv = new CausalConv1d(init, name + ".conv1d", d, s.convWidth());
            if (!s.lti()) {
                xProj = new Linear(init, name + ".x_proj", d, s.dtRank() + 2 * n, false);
                dtProj = new Linear(init, name + ".dt_proj", s.dtRank(), d, true);
                double[] bias = stepInit(init, d);
                try (Tensor t = init.backend().fromDoubles(init.dtype(), bias, d)) {
                    init.backend().copy(dtProj.bias.value(), t);
                }
                dtRaw = bParam = cParam = null;
            } else {
                xProj = dtProj = null;
                dtRaw = init.param(name + ".dt_raw", stepInit(init, d), false, d);
                bParam = init.uniform(name + ".B", 1 / Math.sqrt(n), true, n);
                cParam = init.uniform(name + ".C", 1 / Math.sqrt(n), true, n);
            }
            double[] aInit = new double[d * n];
            for (int c = 0; c < d; c++)
                for (int k = 0; k < n; k++) aInit[c * n + k] = Math.log(k + 1); // S4D-real: A[d, n] = -(n + 1)
            aLog = init.param(name + ".A_log", aInit, false, d, n);
            dSkip = init.constant(name + ".Dskip", 1, false, d);
            outProj = new Linear(init, name + ".out_proj", d, s.dModel(), false);
        }

        /** Raw values whose softplus is log-uniform in [DT_MIN, DT_MAX] (Mamba's step initialisation, 10x wider steps). */
        private static double[] stepInit(Init init, int d) {
            double[] raw = new double[d];
            for (int c = 0; c < d; c++) {
                double step = Math.exp(Math.log(DT_MIN) + init.random().nextDouble() * (Math.log(DT_MAX) - Math.log(DT_MIN)));
                raw[c] = step + Math.log(-Math.expm1(-step)); // inverse softplus
            }
            return raw;
        }
    }

    private final MambaSettings s;
    private final Branch[] branches;
    private final String name;
    private Boolean recompute;   // null: the backend's choice (Backend.recomputesActivations)

    /** Creates the parameters of every modality, modality 0 first, from the initialiser's generator. */
    public CoupledMambaLayer(Init init, String name, int modalities, MambaSettings settings) {
        if (modalities < 1) throw new IllegalArgumentException("CoupledMambaLayer " + name + ": modalities must be >= 1, got " + modalities);
        this.s = settings;
        this.name = name;
        branches = new Branch[modalities];
        for (int m = 0; m < modalities; m++) branches[m] = new Branch(init, name + ".mod." + m, settings);
    }

    public int modalities() {
        return branches.length;
    }

    public MambaSettings settings() {
        return s;
    }

    /**
     * Whether a training pass frees the norm outputs (and, selective, u, deltaPre and z) for the backward
     * to recompute: true, false, or null for the backend's choice ({@link Backend#recomputesActivations}).
     * The gradients are the same either way.
     */
    public void recompute(Boolean recompute) {
        this.recompute = recompute;
    }

    private boolean recomputes(Backend be) {
        return recompute != null ? recompute : be.recomputesActivations();
    }

    /** Per modality m: what its backward needs besides the stacked tensors. */
    private static final class BranchSaved {
        Tensor input;          // r^m [B, L, dModel] (the caller's)
        Norm.Saved norm;       // norm(r^m) and its statistics, unless the backward recomputes them
        Tensor x;              // conv input [B, L, D]
        Tensor xc;             // conv output before SiLU [B, L, D]
        Tensor dtr;            // [B, L, R] (selective)
    }

    /**
     * The layer's saved activations, returned by {@link #forward} and taken by {@link #backward};
     * close frees every tensor it allocated (the inputs stay the caller's). Per modality x, the conv
     * output, the norm output (unless recomputed) and (selective) dtr; stacked: o [M, B, L, D], A
     * [M, D, N], Dskip [M, D]; selective: B and C [M, B, L, N], the scan's chunk states, and u, deltaPre
     * and z [M, B, L, D] unless the backward recomputes them ({@link #recompute}); time-invariant: u and
     * z [M, B, L, D], delta [M, D], B and C [M, N], kernel [M, M, D, L] (uncoupled: [M, 1, D, L]), y and
     * silu(z) [M, B, L, D].
     */
    public final class Forward implements AutoCloseable {
        private final Work work = new Work();
        private final BranchSaved[] br = new BranchSaved[branches.length];
        private Tensor u, deltaPre, z, a, bm, cm, dskip, o;
        private Tensor delta, kernel, y, gate;
        private Saved[] scan;                          // one (coupled) or M (uncoupled)
        private final List<Tensor> outputs = new ArrayList<>();
        private boolean outputsOnly;

        /** r^m after the layer, [B, L, dModel] per modality; owned by this object. */
        public List<Tensor> outputs() {
            return Collections.unmodifiableList(outputs);
        }

        /** Frees every saved activation but the outputs (inference: no backward can follow). */
        public void keepOnlyOutputs() {
            outputsOnly = true;
            work.closeExcept(outputs);
        }

        @Override
        public void close() {
            work.close();
        }
    }

    private void checkInputs(List<Tensor> inputs) {
        if (inputs.size() != branches.length)
            throw new IllegalArgumentException("CoupledMambaLayer " + name + ": expected " + branches.length + " modalities, got " + inputs.size());
        Tensor first = inputs.get(0);
        DType dt = branches[0].aLog.value().dtype();
        for (int m = 0; m < inputs.size(); m++) {
            Tensor r = inputs.get(m);
            if (r.rank() != 3 || r.dim(0) != first.dim(0) || r.dim(1) != first.dim(1) || r.dim(2) != s.dModel())
                throw new IllegalArgumentException("CoupledMambaLayer " + name + ": expected input " + m + " [" + first.dim(0) + ", "
                        + (first.rank() > 1 ? first.dim(1) : "L") + ", " + s.dModel() + "], got " + r.shape());
            if (r.dtype() != dt)
                throw new IllegalArgumentException("CoupledMambaLayer " + name + ": input " + m + " is " + r.dtype() + " but the parameters are " + dt);
        }
    }

    /**
     * @param inputs r^m [B, L, dModel] per modality (kept by reference: unchanged until the backward)
     * @return the saved activations; {@code outputs()} holds r^m after the layer
     */
    public Forward forward(List<Tensor> inputs) {
        checkInputs(inputs);
        Forward f = new Forward();
        try {
            forwardInto(f, inputs);
            return f;
        } catch (RuntimeException e) {
            f.close();
            throw e;
        }
    }

    private void forwardInto(Forward f, List<Tensor> inputs) {
        int mCount = branches.length, d = s.inner(), n = s.dState(), r = s.dtRank();
        Tensor first = inputs.get(0);
        Backend be = first.backend();
        DType dt = first.dtype();
        int nb = first.dim(0), l = first.dim(1);
        Math.multiplyExact(nb, l); // B * L rows must fit an int
        Work w = f.work;
        f.u = w.keep(be.empty(dt, mCount, nb, l, d));
        f.z = w.keep(be.empty(dt, mCount, nb, l, d));
        f.a = w.keep(be.empty(dt, mCount, d, n));
        f.dskip = w.keep(be.empty(dt, mCount, d));
        f.o = w.keep(be.empty(dt, mCount, nb, l, d));
        if (s.lti()) {
            f.delta = w.keep(be.empty(dt, mCount, d));
            f.bm = w.keep(be.empty(dt, mCount, n));
            f.cm = w.keep(be.empty(dt, mCount, n));
        } else {
            f.deltaPre = w.keep(be.empty(dt, mCount, nb, l, d));
            f.bm = w.keep(be.empty(dt, mCount, nb, l, n));
            f.cm = w.keep(be.empty(dt, mCount, nb, l, n));
        }
        for (int m = 0; m < mCount; m++) {
            Branch b = branches[m];
            BranchSaved sv = f.br[m] = new BranchSaved();
            sv.input = inputs.get(m);
            sv.x = w.keep(be.empty(dt, nb, l, d));
            Norm.Saved nrm = w.keep(b.norm.forward(sv.input));
            inProjections(b, nrm.out(), sv.x, f.z.select(m));
            if (recomputes(be)) w.closeNow(nrm);
            else sv.norm = nrm;
            sv.xc = w.keep(b.conv.forward(sv.x));
            be.activationForward(Activation.SILU, f.u.select(m), sv.xc);
            be.activationForward(Activation.NEG_EXP, f.a.select(m), b.aLog.value());
            be.copy(f.dskip.select(m), b.dSkip.value());
            if (s.lti()) {
                be.activationForward(Activation.SOFTPLUS, f.delta.select(m), b.dtRaw.value());
                be.copy(f.bm.select(m), b.bParam.value());
                be.copy(f.cm.select(m), b.cParam.value());
            } else {
                sv.dtr = w.keep(be.empty(dt, nb, l, r));
                stepProjections(b, f.u.select(m), sv.dtr, f.bm.select(m), f.cm.select(m), f.deltaPre.select(m));
            }
        }
        if (s.lti()) {
            forwardConvolution(f, be, dt, nb, l);
        } else {
            forwardScan(f, be);
            if (recomputes(be)) {
                // the backward recomputes u (SiLU of the conv output), deltaPre (dt_proj of dtr) and z (in_proj
                // of the norm): 3 of the 5 [M, B, L, D] tensors a training step would otherwise hold per layer
                w.closeNow(f.u, f.deltaPre, f.z);
                f.u = f.deltaPre = f.z = null;
            }
        }
        for (int m = 0; m < mCount; m++) {
            Tensor out = w.keep(be.empty(dt, nb, l, s.dModel()));
            be.copy(out, inputs.get(m));
            residual(branches[m], f.o.select(m), out);
            f.outputs.add(out);
        }
    }

    /** x and z from the two row blocks of in_proj's weight (no [B, L, 2D] tensor and no split copies). */
    private void inProjections(Branch b, Tensor normOut, Tensor x, Tensor z) {
        b.inProj.forwardRows(0, normOut, x);
        zProjection(b, normOut, z);
    }

    /** z alone, from in_proj's second row block (the backward recomputes it). */
    private void zProjection(Branch b, Tensor normOut, Tensor z) {
        b.inProj.forwardRows(s.inner(), normOut, z);
    }

    /** dtr, B and C from the three row blocks of x_proj's weight, then deltaPre = dt_proj(dtr). */
    private void stepProjections(Branch b, Tensor u, Tensor dtr, Tensor bOut, Tensor cOut, Tensor deltaPre) {
        int r = s.dtRank(), n = s.dState();
        b.xProj.forwardRows(0, u, dtr);
        b.xProj.forwardRows(r, u, bOut);
        b.xProj.forwardRows(r + n, u, cOut);
        b.dtProj.forward(dtr, deltaPre);
    }

    /** res += out_proj(o): the residual stream after the layer. */
    private static void residual(Branch b, Tensor o, Tensor res) {
        o.backend().gemm(false, true, 1, o, b.outProj.weight.value(), 1, res);
    }

    // ---------------------------------------------------------------- streamed inference

    /**
     * Tiles are never cut so small that their intermediates take less than this: below it the kernels
     * are short enough that the host's launches set the pace, and each tile adds about 45 of them (with
     * 64 MiB, L 512 at batch 8 ran in 2 tiles and took 5.3 ms against 3.1 ms whole, on an H200).
     */
    public static final long TILE_FLOOR_BYTES = 128L << 20;
    /** A tile's intermediates may take this many times the full-length layer input and output together. */
    public static final int TILE_FACTOR = 2;
    /**
     * The CUDA forward scan walks time in chunks of this many steps, and a tile that ends inside a chunk
     * pays for the whole chunk: tile boundaries fall on whole chunks when tiles are that long.
     */
    static final int SCAN_CHUNK_STEPS = 8;

    /**
     * Bytes one (sample, step) of a tile holds at the layer's peak in {@link #infer}: the stacked u,
     * deltaPre, z, o and B, C of every modality, the residual stream's tile, and one modality's norm
     * output, x and conv output.
     */
    public long tileBytesPerToken(int elementBytes) {
        int m = branches.length, d = s.inner(), n = s.dState();
        return (long) elementBytes * ((long) m * (4L * d + 2L * n + s.dModel()) + s.dModel() + 2L * d + s.dtRank() + 2);
    }

    /**
     * Tiles for {@link #infer} at batch {@code batch} and length {@code length}: 1 (the whole sequence)
     * when its intermediates fit in max({@link #TILE_FLOOR_BYTES}, {@link #TILE_FACTOR} x the
     * full-length input and output), else the fewest about equal tiles that do (give or take the
     * whole-chunk boundaries of {@link #tileBounds}: a tile may run up to {@link #SCAN_CHUNK_STEPS}
     * steps past its share).
     */
    public int inferenceTiles(int batch, int length, int elementBytes) {
        if (batch < 1 || length < 1) return 1;
        long inOut = 2L * branches.length * batch * length * s.dModel() * elementBytes;
        long budget = Math.max(TILE_FLOOR_BYTES, TILE_FACTOR * inOut);
        long perStep = tileBytesPerToken(elementBytes) * batch;
        long fit = Math.max(1, budget / perStep);
        return fit >= length ? 1 : (int) Math.min(length, (length + fit - 1) / fit);
    }

    /**
     * The start of each of {@code tiles} tiles over {@code length} steps, then length: about equal
     * tiles, every tile at least conv width - 1 steps (fewer tiles when the length is too short). From
     * 2 scan chunks a tile, each boundary moves to the nearest whole chunk ({@link #SCAN_CHUNK_STEPS}):
     * tiles then differ from length / tiles by at most a chunk.
     */
    public static int[] tileBounds(int length, int tiles, int convWidth) {
        int most = Math.max(1, length / Math.max(1, convWidth - 1));
        int k = Math.max(1, Math.min(tiles, most));
        // a boundary moves by at most half a chunk, so a tile shrinks by less than a chunk: it stays >= K - 1
        boolean whole = length / k >= Math.max(2 * SCAN_CHUNK_STEPS, convWidth - 1 + SCAN_CHUNK_STEPS);
        int[] at = new int[k + 1];
        for (int i = 1; i < k; i++) {
            int t = (int) ((long) i * length / k);
            at[i] = whole ? (t + SCAN_CHUNK_STEPS / 2) / SCAN_CHUNK_STEPS * SCAN_CHUNK_STEPS : t;
        }
        at[k] = length;
        return at;
    }

    /** {@link #infer(List, int)} with the tiles of {@link #inferenceTiles} for the inputs' batch, length and type. */
    public List<Tensor> infer(List<Tensor> inputs) {
        checkInputs(inputs);
        Tensor first = inputs.get(0);
        return inferChecked(inputs, inferenceTiles(first.dim(0), first.dim(1), first.dtype().bytes));
    }

    /**
     * Inference: r^m after the layer, [B, L, dModel] per modality (new tensors; the caller closes
     * them), with nothing kept for a backward. The selective layer streams the sequence in
     * {@code tiles} tiles along time ({@link #tileBounds}; 1 is the whole sequence), carrying the scan
     * state and the causal conv's last K - 1 inputs from tile to tile, so that its intermediates
     * ([M, B, tile, D]) never exist at full length; its outputs equal {@link #forward}'s. x and z come
     * from the two row blocks of in_proj's weight, and dt, B, C from x_proj's three, by one GEMM each
     * (no split copies). The time-invariant layer runs {@link #forward} whole: its global convolution
     * needs all of L.
     */
    public List<Tensor> infer(List<Tensor> inputs, int tiles) {
        checkInputs(inputs);
        return inferChecked(inputs, tiles);
    }

    private List<Tensor> inferChecked(List<Tensor> inputs, int tiles) {
        if (tiles < 1) throw new IllegalArgumentException("CoupledMambaLayer " + name + ": tiles must be >= 1, got " + tiles);
        if (s.lti()) {
            Forward f = forward(inputs);
            try {
                f.keepOnlyOutputs();
                List<Tensor> outs = new ArrayList<>(f.outputs);
                f.work.release();
                return outs;
            } catch (RuntimeException e) {
                f.close();
                throw e;
            }
        }
        Tensor first = inputs.get(0);
        Backend be = first.backend();
        DType dt = first.dtype();
        int nb = first.dim(0), l = first.dim(1);
        List<Tensor> outs = new ArrayList<>();
        try (Work w = new Work()) {
            for (int m = 0; m < branches.length; m++) outs.add(be.empty(dt, nb, l, s.dModel()));
            streamInto(outs, inputs, be, dt, nb, l, tileBounds(l, tiles, s.convWidth()), w);
            return outs;
        } catch (RuntimeException e) {
            for (Tensor t : outs) t.close();
            throw e;
        }
    }

    private void streamInto(List<Tensor> outs, List<Tensor> inputs, Backend be, DType dt, int nb, int l, int[] bounds, Work w) {
        int mCount = branches.length, d = s.inner(), n = s.dState(), r = s.dtRank(), dm = s.dModel(), kw = s.convWidth();
        boolean tiled = bounds.length > 2;
        Tensor a = w.keep(be.empty(dt, mCount, d, n)), dskip = w.keep(be.empty(dt, mCount, d));
        for (int m = 0; m < mCount; m++) {
            be.activationForward(Activation.NEG_EXP, a.select(m), branches[m].aLog.value());
            be.copy(dskip.select(m), branches[m].dSkip.value());
        }
        // carried from tile to tile: the conv's last K - 1 inputs per modality, and the scan state (one
        // shared state when coupled, one per chain otherwise), read and overwritten in place by each tile
        int chains = s.coupled() ? 1 : mCount;
        Tensor[] history = new Tensor[mCount], state = new Tensor[chains];
        if (tiled) {
            for (int m = 0; m < mCount && kw > 1; m++) history[m] = w.keep(be.empty(dt, nb, kw - 1, d));
            for (int c = 0; c < chains; c++) state[c] = w.keep(be.empty(dt, nb, d, n));
        }
        for (int i = 0; i + 1 < bounds.length; i++) {
            int t0 = bounds[i], c = bounds[i + 1] - t0;
            boolean firstTile = i == 0, lastTile = i + 2 == bounds.length;
            try (Work tw = new Work()) {
                Tensor u = tw.keep(be.empty(dt, mCount, nb, c, d)), pre = tw.keep(be.empty(dt, mCount, nb, c, d));
                Tensor z = tw.keep(be.empty(dt, mCount, nb, c, d));
                Tensor bm = tw.keep(be.empty(dt, mCount, nb, c, n)), cm = tw.keep(be.empty(dt, mCount, nb, c, n));
                Tensor[] res = new Tensor[mCount];   // the residual stream's tile [B, c, dModel], to which out_proj adds
                for (int m = 0; m < mCount; m++) {
                    Branch b = branches[m];
                    if (tiled) {
                        res[m] = tw.keep(be.empty(dt, nb, c, dm));
                        be.copyBlock(res[m], 0, (long) c * dm, inputs.get(m), (long) t0 * dm, (long) l * dm, nb, c * dm);
                    } else {
                        res[m] = outs.get(m);
                        be.copy(res[m], inputs.get(m));
                    }
                    try (Tensor x = be.empty(dt, nb, c, d)) {
                        try (Norm.Saved nrm = b.norm.forward(res[m])) {
                            inProjections(b, nrm.out(), x, z.select(m));
                        }
                        try (Tensor xc = be.empty(dt, nb, c, d)) {
                            be.causalConv1dForward(xc, x, b.conv.weight.value(), b.conv.bias.value(), firstTile ? null : history[m]);
                            if (!lastTile && history[m] != null)
                                be.copyBlock(history[m], 0, (long) (kw - 1) * d, x, (long) (c - kw + 1) * d, (long) c * d, nb, (kw - 1) * d);
                            be.activationForward(Activation.SILU, u.select(m), xc);
                        }
                    }
                    try (Tensor dtr = be.empty(dt, nb, c, r)) {
                        stepProjections(b, u.select(m), dtr, bm.select(m), cm.select(m), pre.select(m));
                    }
                }
                Tensor o = tw.keep(be.empty(dt, mCount, nb, c, d));
                for (int ch = 0; ch < chains; ch++) {
                    int m0 = s.coupled() ? 0 : ch, count = s.coupled() ? mCount : 1;
                    ScanInputs in = scanInputs(u, pre, z, a, bm, cm, dskip, m0, count, tiled && !firstTile ? state[ch] : null);
                    be.coupledScanInference(in, o.narrow(m0, count), tiled && !lastTile ? state[ch] : null);
                }
                for (int m = 0; m < mCount; m++) {
                    residual(branches[m], o.select(m), res[m]);
                    if (tiled) be.copyBlock(outs.get(m), (long) t0 * dm, (long) l * dm, res[m], 0, (long) c * dm, nb, c * dm);
                }
            }
        }
    }

    /** The scan inputs of modalities [m0, m0 + count) as views of the stacked tensors. */
    private static ScanInputs scanInputs(Tensor u, Tensor pre, Tensor z, Tensor a, Tensor bm, Tensor cm, Tensor dskip,
                                         int m0, int count, Tensor initialState) {
        return new ScanInputs(u.narrow(m0, count), pre.narrow(m0, count), z.narrow(m0, count), a.narrow(m0, count),
                bm.narrow(m0, count), cm.narrow(m0, count), dskip.narrow(m0, count), null, initialState);
    }

    private static ScanInputs scanInputs(Forward f, Tensor u, Tensor pre, Tensor z, int m0, int count) {
        return scanInputs(u, pre, z, f.a, f.bm, f.cm, f.dskip, m0, count, null);
    }

    private void forwardScan(Forward f, Backend be) {
        int mCount = branches.length;
        if (s.coupled()) {
            f.scan = new Saved[]{f.work.keep(be.coupledScanForward(scanInputs(f, f.u, f.deltaPre, f.z, 0, mCount), f.o, null))};
        } else {
            f.scan = new Saved[mCount];
            for (int m = 0; m < mCount; m++)
                f.scan[m] = f.work.keep(be.coupledScanForward(scanInputs(f, f.u, f.deltaPre, f.z, m, 1), f.o.narrow(m, 1), null));
        }
    }

    private void forwardConvolution(Forward f, Backend be, DType dt, int nb, int l) {
        int mCount = branches.length, d = s.inner();
        f.y = f.work.keep(be.empty(dt, mCount, nb, l, d));
        f.gate = f.work.keep(be.empty(dt, mCount, nb, l, d));
        be.activationForward(Activation.SILU, f.gate, f.z);
        if (s.coupled()) {
            f.kernel = f.work.keep(be.empty(dt, mCount, mCount, d, l));
            be.globalConvKernel(f.kernel, f.a, f.delta, f.bm, f.cm);
            be.globalConvForward(f.y, f.u, f.kernel, f.dskip);
        } else {
            f.kernel = f.work.keep(be.empty(dt, mCount, 1, d, l)); // chain m's own kernel at [m, 0]
            for (int m = 0; m < mCount; m++) {
                Tensor km = f.kernel.narrow(m, 1);
                be.globalConvKernel(km, f.a.narrow(m, 1), f.delta.narrow(m, 1), f.bm.narrow(m, 1), f.cm.narrow(m, 1));
                be.globalConvForward(f.y.narrow(m, 1), f.u.narrow(m, 1), km, f.dskip.narrow(m, 1));
            }
        }
        be.mul(f.o, f.y, f.gate);
    }

    /**
     * Overwrites every parameter gradient of this layer.
     *
     * @param dOutputs dL/dr^m after the layer, [B, L, dModel] per modality
     * @return dL/dr^m before the layer (new tensors; the caller closes them)
     */
    public List<Tensor> backward(Forward f, List<Tensor> dOutputs) {
        if (f.outputsOnly)
            throw new IllegalStateException("CoupledMambaLayer " + name + ": backward of a pass that kept only its outputs (inference)");
        if (dOutputs.size() != branches.length)
            throw new IllegalArgumentException("CoupledMambaLayer " + name + ": expected " + branches.length + " output gradients, got " + dOutputs.size());
        for (int m = 0; m < dOutputs.size(); m++)
            if (!dOutputs.get(m).shape().equals(f.outputs.get(m).shape()))
                throw new IllegalArgumentException("CoupledMambaLayer " + name + ": expected output gradient " + m + " "
                        + f.outputs.get(m).shape() + ", got " + dOutputs.get(m).shape());
        List<Tensor> dInputs = new ArrayList<>();
        try (Work w = new Work()) {
            backwardInto(f, dOutputs, dInputs, w);
            return dInputs;
        } catch (RuntimeException e) {
            for (Tensor t : dInputs) t.close();
            throw e;
        }
    }

    private void backwardInto(Forward f, List<Tensor> dOutputs, List<Tensor> dInputs, Work w) {
        int mCount = branches.length, d = s.inner(), n = s.dState(), r = s.dtRank();
        Backend be = f.o.backend();
        DType dt = f.o.dtype();
        int nb = f.o.dim(1), l = f.o.dim(2);
        Tensor dO = w.keep(be.empty(dt, mCount, nb, l, d));
        for (int m = 0; m < mCount; m++) {
            try (Tensor dom = branches[m].outProj.backward(f.o.select(m), dOutputs.get(m), true)) {
                be.copy(dO.select(m), dom);
            }
        }
        // what the forward did not keep (Backend.recomputesActivations): every modality's norm output, and
        // in selective mode u, deltaPre and z
        Norm.Saved[] norms = new Norm.Saved[mCount];
        Tensor u = f.u, pre = f.deltaPre, z = f.z;
        boolean again = u == null;
        if (again) {
            u = w.keep(be.empty(dt, mCount, nb, l, d));
            pre = w.keep(be.empty(dt, mCount, nb, l, d));
            z = w.keep(be.empty(dt, mCount, nb, l, d));
        }
        for (int m = 0; m < mCount; m++) {
            Branch b = branches[m];
            norms[m] = f.br[m].norm != null ? f.br[m].norm : w.keep(b.norm.forward(f.br[m].input));
            if (!again) continue;
            zProjection(b, norms[m].out(), z.select(m));
            be.activationForward(Activation.SILU, u.select(m), f.br[m].xc);
            b.dtProj.forward(f.br[m].dtr, pre.select(m));
        }
        Tensor du = w.keep(be.empty(dt, mCount, nb, l, d)), dz = w.keep(be.empty(dt, mCount, nb, l, d));
        Tensor dA = w.keep(be.empty(dt, mCount, d, n)), dDskip = w.keep(be.empty(dt, mCount, d));
        Tensor dB = w.keep(be.empty(dt, f.bm.shape().dims())), dC = w.keep(be.empty(dt, f.cm.shape().dims()));
        Tensor dDeltaPre = null, dDelta = null;
        if (s.lti()) {
            dDelta = w.keep(be.empty(dt, mCount, d));
            backwardConvolution(f, dO, du, dz, dA, dDelta, dB, dC, dDskip, w);
        } else {
            dDeltaPre = w.keep(be.empty(dt, mCount, nb, l, d));
            if (s.coupled()) {
                be.coupledScanBackward(scanInputs(f, u, pre, z, 0, mCount), f.scan[0], dO, null,
                        new ScanGrads(du, dDeltaPre, dz, dA, dB, dC, dDskip, null));
            } else {
                for (int m = 0; m < mCount; m++)
                    be.coupledScanBackward(scanInputs(f, u, pre, z, m, 1), f.scan[m], dO.narrow(m, 1), null,
                            new ScanGrads(du.narrow(m, 1), dDeltaPre.narrow(m, 1), dz.narrow(m, 1), dA.narrow(m, 1),
                                    dB.narrow(m, 1), dC.narrow(m, 1), dDskip.narrow(m, 1), null));
            }
            if (again) w.closeNow(pre, z);
        }
        for (int m = 0; m < mCount; m++) {
            Branch b = branches[m];
            BranchSaved sv = f.br[m];
            // A = -exp(A_log), so dA_log = dA * A: NEG_EXP's derivative
            be.activationBackward(Activation.NEG_EXP, b.aLog.grad(), dA.select(m), b.aLog.value());
            be.copy(b.dSkip.grad(), dDskip.select(m));
            Tensor duTotal = du.select(m);
            try (Work mw = new Work()) {   // this modality's temporaries
                if (s.lti()) {
                    be.activationBackward(Activation.SOFTPLUS, b.dtRaw.grad(), dDelta.select(m), b.dtRaw.value());
                    be.copy(b.bParam.grad(), dB.select(m));
                    be.copy(b.cParam.grad(), dC.select(m));
                } else {
                    // x_proj by its three row blocks (dt, B, C); u feeds both the scan and x_proj
                    Tensor dDtr = mw.keep(b.dtProj.backward(sv.dtr, dDeltaPre.select(m), true));
                    b.xProj.backwardRows(0, u.select(m), dDtr, duTotal, true);
                    b.xProj.backwardRows(r, u.select(m), dB.select(m), duTotal, true);
                    b.xProj.backwardRows(r + n, u.select(m), dC.select(m), duTotal, true);
                }
                Tensor dXc = mw.keep(be.empty(dt, nb, l, d));
                be.activationBackward(Activation.SILU, dXc, duTotal, sv.xc);
                Tensor dX = mw.keep(b.conv.backward(sv.x, dXc));
                // in_proj by its two row blocks (x, z)
                Tensor dNorm = mw.keep(be.empty(dt, nb, l, s.dModel()));
                b.inProj.backwardRows(0, norms[m].out(), dX, dNorm, false);
                b.inProj.backwardRows(d, norms[m].out(), dz.select(m), dNorm, true);
                Tensor dIn = b.norm.backward(sv.input, norms[m], dNorm);
                dInputs.add(dIn);
                be.axpby(dIn, 1, dIn, 1, dOutputs.get(m)); // the residual path
            }
            if (f.br[m].norm == null) w.closeNow(norms[m]);
        }
    }

    private void backwardConvolution(Forward f, Tensor dO, Tensor du, Tensor dz, Tensor dA, Tensor dDelta, Tensor dB,
                                     Tensor dC, Tensor dDskip, Work w) {
        Backend be = f.u.backend();
        int mCount = branches.length;
        // o = y * silu(z)
        Tensor dY = w.keep(be.empty(f.y.dtype(), f.y.shape().dims()));
        Tensor dGate = w.keep(be.empty(f.y.dtype(), f.y.shape().dims()));
        be.mul(dY, dO, f.gate);
        be.mul(dGate, dO, f.y);
        be.activationBackward(Activation.SILU, dz, dGate, f.z);
        Tensor dK = w.keep(be.empty(f.kernel.dtype(), f.kernel.shape().dims()));
        if (s.coupled()) {
            be.globalConvBackward(du, dK, dDskip, dY, f.u, f.kernel, f.dskip);
            be.globalConvKernelBackward(dA, dDelta, dB, dC, dK, f.a, f.delta, f.bm, f.cm);
        } else {
            for (int m = 0; m < mCount; m++) {
                Tensor km = f.kernel.narrow(m, 1), dkm = dK.narrow(m, 1);
                be.globalConvBackward(du.narrow(m, 1), dkm, dDskip.narrow(m, 1), dY.narrow(m, 1), f.u.narrow(m, 1), km,
                        f.dskip.narrow(m, 1));
                be.globalConvKernelBackward(dA.narrow(m, 1), dDelta.narrow(m, 1), dB.narrow(m, 1), dC.narrow(m, 1), dkm,
                        f.a.narrow(m, 1), f.delta.narrow(m, 1), f.bm.narrow(m, 1), f.cm.narrow(m, 1));
            }
        }
    }
}
