package io.cmamba.nn;

import io.cmamba.tensor.Activation;
import io.cmamba.tensor.Backend;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Saved;
import io.cmamba.tensor.ScanGrads;
import io.cmamba.tensor.ScanInputs;
import io.cmamba.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * One coupled layer over all M modalities (MODEL.md, "One coupled layer"). Each modality has its own
 * parameters; their u, delta, z, B, C are gathered into stacked [M, B, L, *] tensors so that one
 * coupled scan (or, in lti mode, one global convolution) serves all chains, then
 * r^m <- r^m + out_proj^m(o^m).
 */
public final class CoupledMambaLayer {

    /** One modality's parameters. */
    public static final class Branch {
        final Norm norm;
        final Linear inProj, xProj, dtProj, outProj;
        final CausalConv1d conv;
        final Parameter aLog, dSkip;
        final Parameter dtRaw, bParam, cParam; // lti mode only

        Branch(Init init, String name, MambaSettings s) {
            int d = s.inner(), n = s.dState();
            norm = new Norm(init, name + ".norm", s.dModel(), s.rms());
            inProj = new Linear(init, name + ".in_proj", s.dModel(), 2 * d, true);
            conv = new CausalConv1d(init, name + ".conv1d", d, s.convWidth());
            double[] aInit = new double[d * n];
            for (int c = 0; c < d; c++)
                for (int k = 0; k < n; k++) aInit[c * n + k] = Math.log(k + 1); // S4D-real: A = -(n + 1)
            if (!s.lti()) {
                xProj = new Linear(init, name + ".x_proj", d, s.dtRank() + 2 * n, false);
                dtProj = new Linear(init, name + ".dt_proj", s.dtRank(), d, true);
                // softplus(bias) log-uniform in [1e-3, 1e-1] (Mamba's dt initialisation)
                double[] bias = new double[d];
                for (int c = 0; c < d; c++) bias[c] = inverseSoftplus(logUniformStep(init));
                try (io.cmamba.tensor.Tensor t = init.backend().fromDoubles(init.dtype(), bias, d)) {
                    init.backend().copy(dtProj.bias.value(), t);
                }
                dtRaw = bParam = cParam = null;
            } else {
                xProj = dtProj = null;
                double[] raw = new double[d];
                for (int c = 0; c < d; c++) raw[c] = inverseSoftplus(logUniformStep(init));
                dtRaw = init.param(name + ".dt_raw", raw, false, d);
                bParam = init.uniform(name + ".B", 1 / Math.sqrt(n), true, n);
                cParam = init.uniform(name + ".C", 1 / Math.sqrt(n), true, n);
            }
            aLog = init.param(name + ".A_log", aInit, false, d, n);
            dSkip = init.constant(name + ".D", 1, false, d);
            outProj = new Linear(init, name + ".out_proj", d, s.dModel(), true);
        }

        private static double logUniformStep(Init init) {
            return Math.exp(Math.log(1e-3) + init.random().nextDouble() * (Math.log(1e-1) - Math.log(1e-3)));
        }

        private static double inverseSoftplus(double y) {
            return y + Math.log(-Math.expm1(-y));
        }
    }

    private final MambaSettings s;
    private final Branch[] branches;

    public CoupledMambaLayer(Init init, String name, int modalities, MambaSettings settings) {
        this.s = settings;
        branches = new Branch[modalities];
        for (int m = 0; m < modalities; m++) branches[m] = new Branch(init, name + ".mod" + m, settings);
    }

    /** Per modality m: what its backward needs. */
    private static final class BranchSaved {
        Tensor input;          // r^m [B, L, dModel] (not owned)
        Norm.Saved norm;
        Tensor x;              // conv input [B, L, D]
        Tensor xc;             // conv output, before SiLU
        Tensor dtr;            // [B, L, R] (selective)
    }

    /** The layer's saved activations; close frees them. */
    public final class Forward implements AutoCloseable {
        final Work work = new Work();
        final BranchSaved[] br = new BranchSaved[branches.length];
        Tensor u, deltaPre, z, a, bm, cm, dskip, o;     // stacked [M, ...]
        Tensor delta, kernel, y, gate;                   // lti mode
        Saved[] scan;                                    // one (coupled) or M (uncoupled)
        final List<Tensor> outputs = new ArrayList<>();  // r^m after the layer

        public List<Tensor> outputs() {
            return outputs;
        }

        @Override
        public void close() {
            work.close();
        }
    }

    /** inputs: r^m [B, L, dModel] per modality. The returned outputs are owned by the Forward. */
    public Forward forward(List<Tensor> inputs) {
        int mCount = branches.length, d = s.inner(), n = s.dState(), r = s.dtRank();
        Tensor first = inputs.get(0);
        Backend be = first.backend();
        DType dt = first.dtype();
        int nb = first.dim(0), l = first.dim(1);
        Forward f = new Forward();
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
        long rows = (long) nb * l;
        for (int m = 0; m < mCount; m++) {
            Branch b = branches[m];
            BranchSaved sv = f.br[m] = new BranchSaved();
            sv.input = inputs.get(m);
            sv.norm = w.keep(b.norm.forward(sv.input));
            Tensor xz = b.inProj.forward(sv.norm.out(), null);                 // [B, L, 2D]
            sv.x = w.keep(be.empty(dt, nb, l, d));
            be.copyBlock(sv.x, 0, d, xz, 0, 2L * d, (int) rows, d);
            be.copyBlock(f.z.select(m), 0, d, xz, d, 2L * d, (int) rows, d);
            xz.close();
            sv.xc = w.keep(b.conv.forward(sv.x));
            be.activationForward(Activation.SILU, f.u.select(m), sv.xc);
            be.activationForward(Activation.NEG_EXP, f.a.select(m), b.aLog.value());
            be.copy(f.dskip.select(m), b.dSkip.value());
            if (s.lti()) {
                be.activationForward(Activation.SOFTPLUS, f.delta.select(m), b.dtRaw.value());
                be.copy(f.bm.select(m), b.bParam.value());
                be.copy(f.cm.select(m), b.cParam.value());
            } else {
                Tensor dbc = b.xProj.forward(f.u.select(m), null);              // [B, L, R + 2N]
                int w2 = r + 2 * n;
                sv.dtr = w.keep(be.empty(dt, nb, l, r));
                be.copyBlock(sv.dtr, 0, r, dbc, 0, w2, (int) rows, r);
                be.copyBlock(f.bm.select(m), 0, n, dbc, r, w2, (int) rows, n);
                be.copyBlock(f.cm.select(m), 0, n, dbc, r + n, w2, (int) rows, n);
                dbc.close();
                b.dtProj.forward(sv.dtr, f.deltaPre.select(m));
            }
        }
        if (s.lti()) forwardConvolution(f, be, dt, nb, l);
        else forwardScan(f);
        for (int m = 0; m < mCount; m++) {
            Tensor out = w.keep(branches[m].outProj.forward(f.o.select(m), null));
            be.axpby(out, 1, out, 1, inputs.get(m));
            f.outputs.add(out);
        }
        return f;
    }

    private ScanInputs scanInputs(Forward f, int m0, int count) {
        return new ScanInputs(f.u.narrow(m0, count), f.deltaPre.narrow(m0, count), f.z.narrow(m0, count),
                f.a.narrow(m0, count), f.bm.narrow(m0, count), f.cm.narrow(m0, count), f.dskip.narrow(m0, count), null, null);
    }

    private void forwardScan(Forward f) {
        Backend be = f.u.backend();
        int mCount = branches.length;
        if (s.coupled()) {
            f.scan = new Saved[]{f.work.keep(be.coupledScanForward(scanInputs(f, 0, mCount), f.o, null))};
        } else {
            f.scan = new Saved[mCount];
            for (int m = 0; m < mCount; m++) f.scan[m] = f.work.keep(be.coupledScanForward(scanInputs(f, m, 1), f.o.narrow(m, 1), null));
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
            f.kernel = f.work.keep(be.empty(dt, mCount, 1, d, l)); // kernel of chain m at [m, 0]
            for (int m = 0; m < mCount; m++) {
                Tensor km = f.kernel.narrow(m, 1);
                be.globalConvKernel(km, f.a.narrow(m, 1), f.delta.narrow(m, 1), f.bm.narrow(m, 1), f.cm.narrow(m, 1));
                be.globalConvForward(f.y.narrow(m, 1), f.u.narrow(m, 1), km, f.dskip.narrow(m, 1));
            }
        }
        be.mul(f.o, f.y, f.gate);
    }

    /** dOutputs: dL/dr^m after the layer; writes every parameter gradient; returns dL/dr^m before it (new tensors). */
    public List<Tensor> backward(Forward f, List<Tensor> dOutputs) {
        int mCount = branches.length, d = s.inner(), n = s.dState(), r = s.dtRank();
        Backend be = f.u.backend();
        DType dt = f.u.dtype();
        int nb = f.u.dim(1), l = f.u.dim(2);
        long rows = (long) nb * l;
        try (Work w = new Work()) {
            Tensor dO = w.keep(be.empty(dt, mCount, nb, l, d));
            for (int m = 0; m < mCount; m++) {
                Tensor dom = branches[m].outProj.backward(f.o.select(m), dOutputs.get(m), true);
                be.copy(dO.select(m), dom);
                dom.close();
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
            List<Tensor> dInputs = new ArrayList<>();
            for (int m = 0; m < mCount; m++) {
                Branch b = branches[m];
                BranchSaved sv = f.br[m];
                // A = -exp(A_log): dA_log = dA * A
                be.activationBackward(Activation.NEG_EXP, b.aLog.grad(), dA.select(m), b.aLog.value());
                be.copy(b.dSkip.grad(), dDskip.select(m));
                Tensor duTotal = w.keep(be.empty(dt, nb, l, d));
                if (s.lti()) {
                    be.activationBackward(Activation.SOFTPLUS, b.dtRaw.grad(), dDelta.select(m), b.dtRaw.value());
                    be.copy(b.bParam.grad(), dB.select(m));
                    be.copy(b.cParam.grad(), dC.select(m));
                    be.copy(duTotal, du.select(m));
                } else {
                    Tensor dDtr = b.dtProj.backward(sv.dtr, dDeltaPre.select(m), true);
                    Tensor dDbc = w.keep(be.empty(dt, nb, l, r + 2 * n));
                    int w2 = r + 2 * n;
                    be.copyBlock(dDbc, 0, w2, dDtr, 0, r, (int) rows, r);
                    be.copyBlock(dDbc, r, w2, dB.select(m), 0, n, (int) rows, n);
                    be.copyBlock(dDbc, r + n, w2, dC.select(m), 0, n, (int) rows, n);
                    dDtr.close();
                    Tensor duProj = b.xProj.backward(f.u.select(m), dDbc, true);
                    be.axpby(duTotal, 1, du.select(m), 1, duProj);
                    duProj.close();
                }
                Tensor dXc = w.keep(be.empty(dt, nb, l, d));
                be.activationBackward(Activation.SILU, dXc, duTotal, sv.xc);
                Tensor dX = w.keep(b.conv.backward(sv.x, dXc));
                Tensor dXz = w.keep(be.empty(dt, nb, l, 2 * d));
                be.copyBlock(dXz, 0, 2L * d, dX, 0, d, (int) rows, d);
                be.copyBlock(dXz, d, 2L * d, dz.select(m), 0, d, (int) rows, d);
                Tensor dNorm = w.keep(b.inProj.backward(sv.norm.out(), dXz, true));
                Tensor dIn = b.norm.backward(sv.input, sv.norm, dNorm);
                be.axpby(dIn, 1, dIn, 1, dOutputs.get(m)); // the residual path
                dInputs.add(dIn);
            }
            return dInputs;
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
                be.globalConvBackward(du.narrow(m, 1), dkm, dDskip.narrow(m, 1), dY.narrow(m, 1), f.u.narrow(m, 1), km, f.dskip.narrow(m, 1));
                be.globalConvKernelBackward(dA.narrow(m, 1), dDelta.narrow(m, 1), dB.narrow(m, 1), dC.narrow(m, 1), dkm,
                        f.a.narrow(m, 1), f.delta.narrow(m, 1), f.bm.narrow(m, 1), f.cm.narrow(m, 1));
            }
        }
    }
}
