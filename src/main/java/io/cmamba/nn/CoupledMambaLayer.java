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

    /** Per modality m: what its backward needs besides the stacked tensors. */
    private static final class BranchSaved {
        Tensor input;          // r^m [B, L, dModel] (the caller's)
        Norm.Saved norm;       // norm(r^m) and its statistics
        Tensor x;              // conv input [B, L, D]
        Tensor xc;             // conv output before SiLU [B, L, D]
        Tensor dtr;            // [B, L, R] (selective)
    }

    /**
     * The layer's saved activations, returned by {@link #forward} and taken by {@link #backward};
     * close frees every tensor it allocated (the inputs stay the caller's). Stacked tensors:
     * u, z, o [M, B, L, D]; A [M, D, N]; Dskip [M, D]; selective: deltaPre [M, B, L, D], B and C
     * [M, B, L, N]; time-invariant: delta [M, D], B and C [M, N], kernel [M, M, D, L] (uncoupled:
     * [M, 1, D, L]), y and silu(z) [M, B, L, D].
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
        int rows = Math.multiplyExact(nb, l);
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
            sv.norm = w.keep(b.norm.forward(sv.input));
            try (Tensor xz = b.inProj.forward(sv.norm.out(), null)) {   // [B, L, 2D]
                sv.x = w.keep(be.empty(dt, nb, l, d));
                be.copyBlock(sv.x, 0, d, xz, 0, 2L * d, rows, d);
                be.copyBlock(f.z.select(m), 0, d, xz, d, 2L * d, rows, d);
            }
            sv.xc = w.keep(b.conv.forward(sv.x));
            be.activationForward(Activation.SILU, f.u.select(m), sv.xc);
            be.activationForward(Activation.NEG_EXP, f.a.select(m), b.aLog.value());
            be.copy(f.dskip.select(m), b.dSkip.value());
            if (s.lti()) {
                be.activationForward(Activation.SOFTPLUS, f.delta.select(m), b.dtRaw.value());
                be.copy(f.bm.select(m), b.bParam.value());
                be.copy(f.cm.select(m), b.cParam.value());
            } else {
                int w2 = r + 2 * n;
                try (Tensor dbc = b.xProj.forward(f.u.select(m), null)) {  // [B, L, R + 2N]
                    sv.dtr = w.keep(be.empty(dt, nb, l, r));
                    be.copyBlock(sv.dtr, 0, r, dbc, 0, w2, rows, r);
                    be.copyBlock(f.bm.select(m), 0, n, dbc, r, w2, rows, n);
                    be.copyBlock(f.cm.select(m), 0, n, dbc, r + n, w2, rows, n);
                }
                b.dtProj.forward(sv.dtr, f.deltaPre.select(m));
            }
        }
        if (s.lti()) forwardConvolution(f, be, dt, nb, l);
        else forwardScan(f, be);
        for (int m = 0; m < mCount; m++) {
            Tensor out = w.keep(branches[m].outProj.forward(f.o.select(m), null));
            be.axpby(out, 1, out, 1, inputs.get(m));
            f.outputs.add(out);
        }
    }

    /** The scan inputs of modalities [m0, m0 + count) as views of the stacked tensors. */
    private static ScanInputs scanInputs(Forward f, int m0, int count) {
        return new ScanInputs(f.u.narrow(m0, count), f.deltaPre.narrow(m0, count), f.z.narrow(m0, count),
                f.a.narrow(m0, count), f.bm.narrow(m0, count), f.cm.narrow(m0, count), f.dskip.narrow(m0, count), null, null);
    }

    private void forwardScan(Forward f, Backend be) {
        int mCount = branches.length;
        if (s.coupled()) {
            f.scan = new Saved[]{f.work.keep(be.coupledScanForward(scanInputs(f, 0, mCount), f.o, null))};
        } else {
            f.scan = new Saved[mCount];
            for (int m = 0; m < mCount; m++)
                f.scan[m] = f.work.keep(be.coupledScanForward(scanInputs(f, m, 1), f.o.narrow(m, 1), null));
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
        Backend be = f.u.backend();
        DType dt = f.u.dtype();
        int nb = f.u.dim(1), l = f.u.dim(2);
        int rows = nb * l;
        Tensor dO = w.keep(be.empty(dt, mCount, nb, l, d));
        for (int m = 0; m < mCount; m++) {
            try (Tensor dom = branches[m].outProj.backward(f.o.select(m), dOutputs.get(m), true)) {
                be.copy(dO.select(m), dom);
            }
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
                be.coupledScanBackward(scanInputs(f, 0, mCount), f.scan[0], dO, null,
                        new ScanGrads(du, dDeltaPre, dz, dA, dB, dC, dDskip, null));
            } else {
                for (int m = 0; m < mCount; m++)
                    be.coupledScanBackward(scanInputs(f, m, 1), f.scan[m], dO.narrow(m, 1), null,
                            new ScanGrads(du.narrow(m, 1), dDeltaPre.narrow(m, 1), dz.narrow(m, 1), dA.narrow(m, 1),
                                    dB.narrow(m, 1), dC.narrow(m, 1), dDskip.narrow(m, 1), null));
            }
        }
        for (int m = 0; m < mCount; m++) {
            Branch b = branches[m];
            BranchSaved sv = f.br[m];
            // A = -exp(A_log), so dA_log = dA * A: NEG_EXP's derivative
            be.activationBackward(Activation.NEG_EXP, b.aLog.grad(), dA.select(m), b.aLog.value());
            be.copy(b.dSkip.grad(), dDskip.select(m));
            Tensor duTotal;
            if (s.lti()) {
                be.activationBackward(Activation.SOFTPLUS, b.dtRaw.grad(), dDelta.select(m), b.dtRaw.value());
                be.copy(b.bParam.grad(), dB.select(m));
                be.copy(b.cParam.grad(), dC.select(m));
                duTotal = du.select(m);
            } else {
                int w2 = r + 2 * n;
                Tensor dDbc = w.keep(be.empty(dt, nb, l, w2));
                try (Tensor dDtr = b.dtProj.backward(sv.dtr, dDeltaPre.select(m), true)) {
                    be.copyBlock(dDbc, 0, w2, dDtr, 0, r, rows, r);
                }
                be.copyBlock(dDbc, r, w2, dB.select(m), 0, n, rows, n);
                be.copyBlock(dDbc, r + n, w2, dC.select(m), 0, n, rows, n);
                duTotal = du.select(m);
                // u feeds both the scan and x_proj
                try (Tensor duProj = b.xProj.backward(f.u.select(m), dDbc, true)) {
                    be.axpby(duTotal, 1, duTotal, 1, duProj);
                }
            }
            Tensor dXc = w.keep(be.empty(dt, nb, l, d));
            be.activationBackward(Activation.SILU, dXc, duTotal, sv.xc);
            Tensor dX = w.keep(b.conv.backward(sv.x, dXc));
            Tensor dXz = w.keep(be.empty(dt, nb, l, 2 * d));
            be.copyBlock(dXz, 0, 2L * d, dX, 0, d, rows, d);
            be.copyBlock(dXz, d, 2L * d, dz.select(m), 0, d, rows, d);
            Tensor dNorm = w.keep(b.inProj.backward(sv.norm.out(), dXz, true));
            Tensor dIn = b.norm.backward(sv.input, sv.norm, dNorm);
            dInputs.add(dIn);
            be.axpby(dIn, 1, dIn, 1, dOutputs.get(m)); // the residual path
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
