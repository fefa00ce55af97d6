package io.cmamba.cpu;

import io.cmamba.tensor.DType;
import io.cmamba.tensor.Saved;
import io.cmamba.tensor.ScanGrads;
import io.cmamba.tensor.ScanInputs;
import io.cmamba.tensor.Tensor;
import io.cmamba.testing.GradCheck;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static io.cmamba.cpu.CpuTestSupport.CPU;
import static io.cmamba.cpu.CpuTestSupport.F64_TOL;
import static io.cmamba.cpu.CpuTestSupport.assertClose;
import static io.cmamba.cpu.CpuTestSupport.assertGradient;
import static io.cmamba.cpu.CpuTestSupport.assertRejected;
import static io.cmamba.cpu.CpuTestSupport.poisoned;
import static org.junit.jupiter.api.Assertions.*;

/** Backward of the coupled scan: finite differences, its two forms, lengths, chained halves, views, saved state. */
class CpuScanBackwardTest {

    /** The backend's backward (sequential form from the forward's checkpoints). */
    static ScanGrads backend(ScanInputs in, Tensor dout, Tensor dFinal) {
        Tensor out = CPU.empty(DType.F64, in.u().shape().dims());
        Saved saved = CPU.coupledScanForward(in, out, null);
        ScanGrads g = ScanFixture.grads(in);
        CPU.coupledScanBackward(in, saved, dout, dFinal, g);
        ScanFixture.assertGradsWritten(g);
        return g;
    }

    static ScanGrads parallel(ScanInputs in, Tensor dout, Tensor dFinal) {
        ScanGrads g = ScanFixture.grads(in);
        CpuScan.backwardParallel(in, dout, dFinal, g);
        ScanFixture.assertGradsWritten(g);
        return g;
    }

    static void assertSame(ScanGrads expected, ScanGrads actual, double tol, String what) {
        Tensor[] e = ScanFixture.all(expected), a = ScanFixture.all(actual);
        for (int i = 0; i < e.length; i++)
            if (tol == 0) assertArrayEquals(e[i].toDoubles(), a[i].toDoubles(), 0, what + ": " + ScanFixture.GRAD_NAMES[i]);
            else assertClose(a[i], e[i].toDoubles(), tol, what + ": " + ScanFixture.GRAD_NAMES[i]);
    }

    /**
     * Loss = sum(wOut * out) + sum(wFin * finalState) (the second term only when withFinal), so dout = wOut
     * and dFinalState = wFin; every gradient against central differences in float64.
     */
    void gradientCheck(Random rnd, int m, int b, int l, int d, int n, int[] lengths, boolean initial, boolean withFinal) {
        ScanFixture f = new ScanFixture(rnd);
        ScanInputs in = ScanFixture.withLengths(f.inputs(m, b, l, d, n, false, initial), lengths);
        double[] wOut = GradCheck.randomWeights(rnd, m * b * l * d), wFin = GradCheck.randomWeights(rnd, b * d * n);
        Tensor dout = CPU.fromDoubles(DType.F64, wOut, m, b, l, d), dFinal = withFinal ? CPU.fromDoubles(DType.F64, wFin, b, d, n) : null;
        ScanGrads g = backend(in, dout, dFinal);
        Tensor out = CPU.empty(DType.F64, m, b, l, d), fin = CPU.empty(DType.F64, b, d, n);
        java.util.function.Supplier<Double> loss = () -> {
            CpuScan.forwardSequential(in, out, fin);
            return GradCheck.dot(wOut, out.toDoubles()) + (withFinal ? GradCheck.dot(wFin, fin.toDoubles()) : 0);
        };
        String what = "M " + m + " B " + b + " L " + l + " D " + d + " N " + n + (lengths != null ? " lengths " + Arrays.toString(lengths) : "")
                + (initial ? " with initial state" : "") + (withFinal ? " with dFinalState" : "");
        Tensor[] xs = {in.u(), in.deltaPre(), in.z(), in.A(), in.B(), in.C(), in.Dskip(), in.initialState()}, gs = ScanFixture.all(g);
        for (int i = 0; i < xs.length; i++)
            if (xs[i] != null) assertGradient(xs[i], gs[i], loss, ScanFixture.GRAD_NAMES[i] + " at " + what);
        assertSame(g, parallel(in, dout, dFinal), F64_TOL, "parallel backward at " + what);
    }

    @Test
    void everyGradientMatchesFiniteDifferences() {
        Random rnd = CpuTestSupport.random("everyGradientMatchesFiniteDifferences");
        gradientCheck(rnd, 1, 2, 5, 3, 2, null, false, true);
        gradientCheck(rnd, 3, 2, 6, 3, 4, null, true, true);
        gradientCheck(rnd, 2, 3, 7, 2, 3, new int[]{7, 0, 4}, true, true);
        gradientCheck(rnd, 3, 3, 6, 2, 2, new int[]{6, 3, 5}, false, false);
        gradientCheck(rnd, 5, 1, 4, 1, 1, null, false, false);
        // across checkpoints (every 64 steps), one sample ending inside the second interval
        gradientCheck(rnd, 2, 2, 140, 1, 2, new int[]{140, 100}, true, true);
    }

    @Test
    void theTwoBackwardFormsAgreeWithAndWithoutCheckpoints() {
        Random rnd = CpuTestSupport.random("theTwoBackwardFormsAgreeWithAndWithoutCheckpoints");
        ScanFixture f = new ScanFixture(rnd);
        for (int m : new int[]{1, 3})
            for (int l : new int[]{1, 50, 300}) {
                int b = l == 50 ? 1 : 3, d = 19, n = 4; // one sample: the channels split between threads
                ScanInputs in = f.inputs(m, b, l, d, n, true, true);
                Tensor dout = f.randn(1, 0, m, b, l, d), dFinal = f.randn(1, 0, b, d, n);
                String what = "M " + m + " L " + l + " lengths " + Arrays.toString(in.lengths().toInts());
                ScanGrads fromSaved = backend(in, dout, dFinal), recomputed = ScanFixture.grads(in);
                CpuScan.backwardSequential(in, null, dout, dFinal, recomputed);
                assertSame(fromSaved, recomputed, 0, "checkpoints vs recomputed states at " + what);
                assertSame(fromSaved, parallel(in, dout, dFinal), F64_TOL, "parallel vs sequential backward at " + what);
            }
    }

    @Test
    void paddedStepsGetExactlyZeroGradientAndEachSampleIsItsTruncatedRun() {
        Random rnd = CpuTestSupport.random("paddedStepsGetExactlyZeroGradient");
        ScanFixture f = new ScanFixture(rnd);
        int m = 2, b = 4, l = 140, d = 19, n = 2; // truncated runs of one sample split the channels between threads
        int[] lens = {l, 0, 65, 64};
        ScanInputs in = ScanFixture.withLengths(f.inputs(m, b, l, d, n, false, true), lens);
        Tensor dout = f.randn(1, 0, m, b, l, d), dFinal = f.randn(1, 0, b, d, n);
        ScanGrads seq = backend(in, dout, dFinal), par = parallel(in, dout, dFinal);
        for (ScanGrads g : new ScanGrads[]{seq, par}) {
            String form = g == seq ? "sequential" : "parallel";
            Tensor[] perStep = {g.du(), g.dDeltaPre(), g.dz(), g.dB(), g.dC()};
            String[] names = {"du", "dDeltaPre", "dz", "dB", "dC"};
            for (int i = 0; i < perStep.length; i++) {
                double[] v = perStep[i].toDoubles();
                int w = perStep[i].dim(3);
                for (int mm = 0; mm < m; mm++)
                    for (int s = 0; s < b; s++)
                        for (int t = lens[s]; t < l; t++)
                            for (int c = 0; c < w; c++)
                                assertEquals(0.0, v[((mm * b + s) * l + t) * w + c], form + " " + names[i] + " at padded step "
                                        + t + " of sample " + s + " (length " + lens[s] + ")");
            }
            assertArrayEquals(ScanFixture.sampleState(dFinal, 1).toDoubles(), ScanFixture.sampleState(g.dInitialState(), 1).toDoubles(), 0,
                    form + ": a sample of length 0 passes dFinalState to dInitialState");
        }
        // each sample's gradients are those of a run truncated to its length
        for (int s = 0; s < b; s++) {
            ScanInputs cut = ScanFixture.truncated(in, s, lens[s]);
            ScanGrads alone = backend(cut, ScanFixture.sample(dout, s, lens[s]), ScanFixture.sampleState(dFinal, s));
            Tensor[] full = {seq.du(), seq.dDeltaPre(), seq.dz(), seq.dB(), seq.dC()};
            Tensor[] one = {alone.du(), alone.dDeltaPre(), alone.dz(), alone.dB(), alone.dC()};
            String[] names = {"du", "dDeltaPre", "dz", "dB", "dC"};
            for (int i = 0; i < full.length; i++)
                assertClose(one[i], ScanFixture.sample(full[i], s, lens[s]).toDoubles(), F64_TOL,
                        names[i] + " of sample " + s + " vs its truncated run");
            assertClose(alone.dInitialState(), ScanFixture.sampleState(seq.dInitialState(), s).toDoubles(), F64_TOL,
                    "dInitialState of sample " + s + " vs its truncated run");
        }
        // inputs and dout past the end are never read: NaN there changes no gradient
        for (Tensor x : new Tensor[]{in.u(), in.deltaPre(), in.z(), in.B(), in.C(), dout}) {
            double[] v = CpuBackend.data(x);
            int w = x.dim(3);
            for (int mm = 0; mm < m; mm++)
                for (int s = 0; s < b; s++)
                    for (int t = lens[s]; t < l; t++) Arrays.fill(v, ((mm * b + s) * l + t) * w, ((mm * b + s) * l + t + 1) * w, Double.NaN);
        }
        assertSame(seq, backend(in, dout, dFinal), 0, "sequential backward after NaN in padded inputs");
        assertSame(par, parallel(in, dout, dFinal), 0, "parallel backward after NaN in padded inputs");
    }

    @Test
    void backwardOfTwoChainedHalvesEqualsTheWholeBackward() {
        Random rnd = CpuTestSupport.random("backwardOfTwoChainedHalvesEqualsTheWholeBackward");
        ScanFixture f = new ScanFixture(rnd);
        for (int l : new int[]{40, 300}) {
            int m = 3, b = 2, d = 3, n = 4, h = l / 2;
            ScanInputs whole = f.inputs(m, b, l, d, n, false, true);
            Tensor dout = f.randn(1, 0, m, b, l, d), dFinal = f.randn(1, 0, b, d, n);
            ScanGrads gw = backend(whole, dout, dFinal);
            ScanInputs first = ScanFixture.sliceTime(whole, 0, h, whole.initialState());
            Tensor mid = CPU.empty(DType.F64, b, d, n);
            CPU.coupledScanForward(first, CPU.empty(DType.F64, m, b, h, d), mid);
            ScanInputs second = ScanFixture.sliceTime(whole, h, l - h, mid);
            ScanGrads g2 = backend(second, ScanFixture.sliceTime(dout, h, l - h), dFinal);
            ScanGrads g1 = backend(first, ScanFixture.sliceTime(dout, 0, h), g2.dInitialState());
            String what = "L " + l + " split at " + h;
            assertClose(ScanFixture.joinTime(g1.du(), g2.du()), gw.du().toDoubles(), F64_TOL, "du, " + what);
            assertClose(ScanFixture.joinTime(g1.dDeltaPre(), g2.dDeltaPre()), gw.dDeltaPre().toDoubles(), F64_TOL, "dDeltaPre, " + what);
            assertClose(ScanFixture.joinTime(g1.dz(), g2.dz()), gw.dz().toDoubles(), F64_TOL, "dz, " + what);
            assertClose(ScanFixture.joinTime(g1.dB(), g2.dB()), gw.dB().toDoubles(), F64_TOL, "dB, " + what);
            assertClose(ScanFixture.joinTime(g1.dC(), g2.dC()), gw.dC().toDoubles(), F64_TOL, "dC, " + what);
            assertClose(ScanFixture.sum(g1.dA(), g2.dA()), gw.dA().toDoubles(), F64_TOL, "dA, " + what);
            assertClose(ScanFixture.sum(g1.dDskip(), g2.dDskip()), gw.dDskip().toDoubles(), F64_TOL, "dDskip, " + what);
            assertClose(g1.dInitialState(), gw.dInitialState().toDoubles(), F64_TOL, "dInitialState, " + what);
        }
    }

    /** The layers hand the scan views (modality slices) with non-zero offsets. */
    @Test
    void viewsWithOffsetsGiveTheResultsOfCopies() {
        ScanFixture f = new ScanFixture(CpuTestSupport.random("viewsWithOffsetsGiveTheResultsOfCopies"));
        int m = 4, b = 2, l = 70, d = 3, n = 2;
        ScanInputs all = f.inputs(m, b, l, d, n, true, true);
        ScanInputs view = new ScanInputs(all.u().narrow(1, 2), all.deltaPre().narrow(1, 2), all.z().narrow(1, 2), all.A().narrow(1, 2),
                all.B().narrow(1, 2), all.C().narrow(1, 2), all.Dskip().narrow(1, 2), all.lengths(), all.initialState());
        ScanInputs copy = new ScanInputs(copy(view.u()), copy(view.deltaPre()), copy(view.z()), copy(view.A()), copy(view.B()),
                copy(view.C()), copy(view.Dskip()), all.lengths(), all.initialState());
        Tensor outAll = poisoned(DType.F64, m, b, l, d);
        Tensor outView = outAll.narrow(1, 2), outCopy = poisoned(DType.F64, 2, b, l, d);
        Tensor finView = CPU.zeros(DType.F64, 3, d, n).narrow(1, b), finCopy = CPU.zeros(DType.F64, b, d, n);
        Saved sv = CPU.coupledScanForward(view, outView, finView), sc = CPU.coupledScanForward(copy, outCopy, finCopy);
        assertArrayEquals(outCopy.toDoubles(), outView.toDoubles(), 0, "outputs through views");
        assertArrayEquals(finCopy.toDoubles(), finView.toDoubles(), 0, "final state through a view");
        Tensor dout = f.randn(1, 0, 2, b, l, d);
        ScanGrads gc = ScanFixture.grads(copy), gv = ScanFixture.grads(copy);
        ScanGrads gView = new ScanGrads(wide(gv.du()), wide(gv.dDeltaPre()), wide(gv.dz()), wide(gv.dA()), wide(gv.dB()), wide(gv.dC()),
                wide(gv.dDskip()), wide(gv.dInitialState()));
        CPU.coupledScanBackward(copy, sc, dout, null, gc);
        CPU.coupledScanBackward(view, sv, dout, null, gView);
        assertSame(gc, gView, 0, "gradients through views");
    }

    static Tensor copy(Tensor t) {
        Tensor c = CPU.empty(t.dtype(), t.shape().dims());
        CPU.copy(c, t);
        return c;
    }

    /** A view of a poisoned tensor one larger along the first dimension, at offset one row. */
    static Tensor wide(Tensor like) {
        int[] dims = like.shape().dims();
        dims[0] += 1;
        return poisoned(like.dtype(), dims).narrow(1, like.dim(0));
    }

    @Test
    void theSavedStateMustComeFromAForwardOfTheSameShapeAndBeOpen() {
        ScanFixture f = new ScanFixture(new Random(3));
        ScanInputs in = f.inputs(2, 1, 130, 2, 2, false, false), other = f.inputs(2, 1, 129, 2, 2, false, false);
        Tensor dout = CPU.zeros(DType.F64, 2, 1, 130, 2);
        Saved fromOther = CPU.coupledScanForward(other, CPU.empty(DType.F64, 2, 1, 129, 2), null);
        assertRejected(() -> CPU.coupledScanBackward(in, fromOther, dout, null, ScanFixture.grads(in)),
                "[B, L, D, N] = [1, 129, 2, 2]", "[1, 130, 2, 2]");
        assertRejected(() -> CPU.coupledScanBackward(in, null, dout, null, ScanFixture.grads(in)), "saved is null");
        Saved closed = CPU.coupledScanForward(in, CPU.empty(DType.F64, 2, 1, 130, 2), null);
        closed.close();
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> CPU.coupledScanBackward(in, closed, dout, null, ScanFixture.grads(in)));
        assertTrue(e.getMessage().contains("after close"), e.getMessage());
        ScanGrads g = ScanFixture.grads(in);
        ScanGrads badDA = new ScanGrads(g.du(), g.dDeltaPre(), g.dz(), CPU.zeros(DType.F64, 2, 2, 3), g.dB(), g.dC(), g.dDskip(), null);
        assertRejected(() -> CPU.coupledScanBackward(in, fromOther, dout, null, badDA), "expected dA [2, 2, 2]");
        assertRejected(() -> CPU.coupledScanBackward(in, fromOther, CPU.zeros(DType.F64, 2, 1, 2, 130), null, g), "expected dout [2, 1, 130, 2]");
        assertRejected(() -> CPU.coupledScanBackward(in, fromOther, dout, CPU.zeros(DType.F64, 1, 2, 3), g), "expected dFinalState [1, 2, 2]");
    }

    /** MODEL.md, Stability, for the backward: L = 4096 at the paper's initialisation gives finite gradients. */
    @Test
    void longSequenceGradientsStayFinite() {
        Random rnd = CpuTestSupport.random("longSequenceGradientsStayFinite");
        ScanFixture f = new ScanFixture(rnd);
        int m = 3, b = 1, l = 4096, d = 2, n = 16;
        ScanInputs r = f.inputs(m, b, l, d, n, false, false);
        double[] a = CpuBackend.data(r.A()), pre = CpuBackend.data(r.deltaPre());
        for (int i = 0; i < a.length; i++) a[i] = -(i % n + 1);
        for (int i = 0; i < pre.length; i++) pre[i] = Math.log(Math.expm1(Math.exp(Math.log(1e-3) + rnd.nextDouble() * Math.log(100))));
        ScanGrads g = backend(r, f.randn(1, 0, m, b, l, d), null);
        Tensor[] gs = ScanFixture.all(g);
        for (int i = 0; i < gs.length; i++)
            for (double v : gs[i].toDoubles()) assertTrue(Double.isFinite(v), ScanFixture.GRAD_NAMES[i] + " has " + v + " at L = " + l);
    }
}
