package io.cmamba.cuda;

import io.cmamba.tensor.DType;
import io.cmamba.tensor.Saved;
import io.cmamba.tensor.ScanGrads;
import io.cmamba.tensor.ScanInputs;
import io.cmamba.tensor.Tensor;
import io.cmamba.testing.GradCheck;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static io.cmamba.cuda.GpuTestSupport.CPU;
import static io.cmamba.cuda.GpuTestSupport.gpu;
import static io.cmamba.cuda.GpuTestSupport.random;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The CUDA coupled scan (kernels/coupled_scan_*.cu) against the CPU backend computing in float64 on
 * the same float32 inputs: the output, the final state and every gradient, over M in {1, 2, 3, 5},
 * N in {1, 16, 64, 256}, L in {1, 7, 50, 2048, 16384}, odd D, several channel tiles and sample
 * groups, variable lengths, initial and final states; outputs poisoned with NaN beforehand.
 */
@Tag("gpu")
class CoupledScanGpuTest {
    /** Norm-wise relative error of float32 kernels against float64: forward, and backward (sums over L and B). */
    private static final double FWD_TOL = 1e-5, BWD_TOL = 1e-4;

    /** One input set on both backends: float64 on the CPU, float32 on the GPU, the same (float32) values. */
    private record Both(ScanInputs cpu, ScanInputs gpu) {
    }

    /**
     * Every device tensor the helpers make, freed after each check and each test: the backend outlives the
     * class, and tensors left live would raise the allocator's baseline for the GPU tests that follow (one
     * such run put 78.5 MiB under ModelGpuTest's peak comparison).
     */
    private static final List<Tensor> DEVICE_TENSORS = new ArrayList<>();

    private static Tensor tracked(Tensor t) {
        DEVICE_TENSORS.add(t);
        return t;
    }

    private static void freeTracked() {
        for (Tensor t : DEVICE_TENSORS) t.close();
        DEVICE_TENSORS.clear();
    }

    @AfterEach
    void freeDeviceTensors() {
        freeTracked();
    }

    private static double[] floats(double[] v) {
        double[] r = new double[v.length];
        for (int i = 0; i < v.length; i++) r[i] = (float) v[i];
        return r;
    }

    private static Tensor[] tensorPair(double[] values, int... shape) {
        double[] v = floats(values);
        return new Tensor[]{CPU.fromDoubles(DType.F64, v, shape), tracked(gpu().fromDoubles(DType.F32, v, shape))};
    }

    private static double[] gaussian(Random rnd, int n, double mean, double scale) {
        double[] a = new double[n];
        for (int i = 0; i < n; i++) a[i] = mean + scale * rnd.nextGaussian();
        return a;
    }

    /** u, z, B, C ~ N(0, 1); deltaPre ~ N(-2, 1) with a few above the softplus threshold; A = -exp(U(-1, 3)); Dskip ~ N(1, 0.3). */
    private static Both inputs(Random rnd, int m, int b, int l, int d, int n, int[] lengths, boolean initial) {
        int x = m * b * l * d, bc = m * b * l * n;
        double[] pre = gaussian(rnd, x, -2, 1);
        for (int i = 0; i < x; i += 97) pre[i] = 25 + rnd.nextDouble();
        double[] a = new double[m * d * n];
        for (int i = 0; i < a.length; i++) a[i] = -Math.exp(rnd.nextDouble() * 4 - 1);
        Tensor[] u = tensorPair(gaussian(rnd, x, 0, 1), m, b, l, d), dp = tensorPair(pre, m, b, l, d),
                z = tensorPair(gaussian(rnd, x, 0, 1), m, b, l, d), aa = tensorPair(a, m, d, n),
                bb = tensorPair(gaussian(rnd, bc, 0, 1), m, b, l, n), cc = tensorPair(gaussian(rnd, bc, 0, 1), m, b, l, n),
                ds = tensorPair(gaussian(rnd, m * d, 1, 0.3), m, d);
        Tensor[] lens = lengths == null ? new Tensor[2] : new Tensor[]{CPU.fromInts(lengths, b), tracked(gpu().fromInts(lengths, b))};
        Tensor[] init = initial ? tensorPair(gaussian(rnd, b * d * n, 0, 1), b, d, n) : new Tensor[2];
        return new Both(new ScanInputs(u[0], dp[0], z[0], aa[0], bb[0], cc[0], ds[0], lens[0], init[0]),
                new ScanInputs(u[1], dp[1], z[1], aa[1], bb[1], cc[1], ds[1], lens[1], init[1]));
    }

    private static int[] randomLengths(Random rnd, int b, int l) {
        int[] ls = new int[b];
        for (int i = 0; i < b; i++) ls[i] = rnd.nextInt(l + 1);
        ls[0] = l;
        if (b > 2) ls[1] = 0;
        return ls;
    }

    private static Tensor poisoned(int... shape) {
        Tensor t = tracked(gpu().empty(DType.F32, shape));
        gpu().fill(t, Double.NaN);
        return t;
    }

    /** Every element written, then the norm-wise relative difference within tol. */
    private static void assertClose(Tensor actual, Tensor expected, double tol, String what) {
        double[] a = actual.toDoubles(), e = expected.toDoubles();
        for (int i = 0; i < a.length; i++)
            if (!Double.isFinite(a[i]))
                throw new AssertionError(what + " " + actual.shape() + ": element " + i + " is " + a[i] + " (not written?)");
        double rel = GradCheck.relativeDifference(a, e);
        assertTrue(rel <= tol, what + " " + actual.shape() + ": relative difference " + rel + " > " + tol);
    }

    private static ScanGrads grads(boolean cpu, ScanInputs in, boolean initial) {
        int m = in.modalities(), b = in.batch(), l = in.length(), d = in.channels(), n = in.states();
        if (cpu)
            return new ScanGrads(CPU.empty(DType.F64, m, b, l, d), CPU.empty(DType.F64, m, b, l, d), CPU.empty(DType.F64, m, b, l, d),
                    CPU.empty(DType.F64, m, d, n), CPU.empty(DType.F64, m, b, l, n), CPU.empty(DType.F64, m, b, l, n),
                    CPU.empty(DType.F64, m, d), initial ? CPU.empty(DType.F64, b, d, n) : null);
        return new ScanGrads(poisoned(m, b, l, d), poisoned(m, b, l, d), poisoned(m, b, l, d), poisoned(m, d, n),
                poisoned(m, b, l, n), poisoned(m, b, l, n), poisoned(m, d), initial ? poisoned(b, d, n) : null);
    }

    /** Forward and backward on both backends; compares all outputs. */
    private static void check(Random rnd, int m, int b, int l, int d, int n, boolean lengths, boolean initial) {
        String what = "M=" + m + " B=" + b + " L=" + l + " D=" + d + " N=" + n + (lengths ? " lengths" : "") + (initial ? " initial" : "");
        int[] lens = lengths ? randomLengths(rnd, b, l) : null;
        Both in = inputs(rnd, m, b, l, d, n, lens, initial);
        Tensor outC = CPU.empty(DType.F64, m, b, l, d), finC = CPU.empty(DType.F64, b, d, n);
        Tensor outG = poisoned(m, b, l, d), finG = poisoned(b, d, n);
        Saved sc = CPU.coupledScanForward(in.cpu(), outC, finC);
        Saved sg = gpu().coupledScanForward(in.gpu(), outG, finG);
        assertClose(outG, outC, FWD_TOL, what + ": out");
        assertClose(finG, finC, FWD_TOL, what + ": final state");

        Tensor[] dout = tensorPair(gaussian(rnd, m * b * l * d, 0, 1), m, b, l, d);
        Tensor[] dfin = tensorPair(gaussian(rnd, b * d * n, 0, 1), b, d, n);
        ScanGrads gc = grads(true, in.cpu(), initial), gg = grads(false, in.gpu(), initial);
        CPU.coupledScanBackward(in.cpu(), sc, dout[0], dfin[0], gc);
        gpu().coupledScanBackward(in.gpu(), sg, dout[1], dfin[1], gg);
        assertClose(gg.du(), gc.du(), BWD_TOL, what + ": du");
        assertClose(gg.dDeltaPre(), gc.dDeltaPre(), BWD_TOL, what + ": dDeltaPre");
        assertClose(gg.dz(), gc.dz(), BWD_TOL, what + ": dz");
        assertClose(gg.dA(), gc.dA(), BWD_TOL, what + ": dA");
        assertClose(gg.dB(), gc.dB(), BWD_TOL, what + ": dB");
        assertClose(gg.dC(), gc.dC(), BWD_TOL, what + ": dC");
        assertClose(gg.dDskip(), gc.dDskip(), BWD_TOL, what + ": dDskip");
        if (initial) assertClose(gg.dInitialState(), gc.dInitialState(), BWD_TOL, what + ": dInitialState");
        sc.close();
        sg.close();
        gpu().synchronize();
        freeTracked();   // a grid of checks in one test: free each as it ends
    }

    /**
     * The forward's two stagings (tensor maps on sm_90 on, cp.async copies) give the same bits: the same
     * arithmetic on the same values, whatever the copies past a sample's end hold. Shapes with whole and
     * partial tiles, chunks cut short, lengths, N = 16, 64, 256.
     */
    @Test
    void tensorMapAndCopyStagingGiveTheSameBits() {
        Random rnd = random("tensorMapAndCopyStagingGiveTheSameBits");
        int[][] shapes = {{3, 16, 50, 256, 64}, {3, 8, 37, 72, 64}, {3, 4, 300, 96, 16}, {2, 3, 21, 40, 16}, {1, 5, 64, 128, 256}};
        for (int[] s : shapes) {
            int m = s[0], b = s[1], l = s[2], d = s[3], n = s[4];
            String what = "M=" + m + " B=" + b + " L=" + l + " D=" + d + " N=" + n;
            Both in = inputs(rnd, m, b, l, d, n, randomLengths(rnd, b, l), false);
            assumeTrue(gpu().device().major() >= 9, "tensor maps need sm_90 or later");
            assertTrue(CudaScan.stagesByTensorMaps(gpu(), in.gpu()), what + ": the forward should stage by tensor maps");
            Tensor outMaps = poisoned(m, b, l, d), finMaps = poisoned(b, d, n), outCopies = poisoned(m, b, l, d),
                    finCopies = poisoned(b, d, n);
            try {
                CudaScan.useTensorMaps(true);
                gpu().coupledScanForward(in.gpu(), outMaps, finMaps).close();
                CudaScan.useTensorMaps(false);
                gpu().coupledScanForward(in.gpu(), outCopies, finCopies).close();
            } finally {
                CudaScan.useTensorMaps(true);
            }
            assertClose(outMaps, outCopies, 0, what + ": out, tensor maps against copies");
            assertClose(finMaps, finCopies, 0, what + ": final state, tensor maps against copies");
            freeTracked();
        }
    }

    @Test
    void shortSequencesEveryModalityCountAndStateSize() {
        Random rnd = random("shortSequencesEveryModalityCountAndStateSize");
        check(rnd, 1, 2, 1, 3, 1, false, false);
        check(rnd, 2, 3, 7, 5, 16, true, true);
        check(rnd, 3, 4, 50, 33, 64, true, true);
        check(rnd, 5, 2, 50, 7, 256, true, true);
        check(rnd, 5, 3, 7, 9, 1, true, false);
        check(rnd, 3, 2, 7, 3, 256, false, true);
        check(rnd, 2, 2, 50, 11, 64, false, false);
        check(rnd, 1, 3, 50, 5, 16, true, true);
    }

    @Test
    void manyTilesAndSampleGroups() {
        Random rnd = random("manyTilesAndSampleGroups");
        check(rnd, 3, 6, 50, 37, 64, true, true);     // several channel tiles, one sample per group
        check(rnd, 3, 40, 7, 131, 16, true, false);   // D not a multiple of the tile
        check(rnd, 2, 5, 33, 64, 17, true, true);     // N not a multiple of the states per thread
    }

    /** Eight modalities: with N <= 2 a full tile of 128 channels overflows the backward's shared memory (smaller tiles). */
    @Test
    void eightModalities() {
        Random rnd = random("eightModalities");
        check(rnd, 8, 2, 20, 130, 1, true, true);
        check(rnd, 8, 2, 9, 129, 2, false, false);
        check(rnd, 8, 1, 50, 17, 64, true, true);
        check(rnd, 4, 2, 50, 20, 64, true, false);   // M x NS = 32: three forward blocks per multiprocessor
    }

    @Test
    void longSequences() {
        Random rnd = random("longSequences");
        check(rnd, 3, 2, 2048, 5, 64, true, true);
        check(rnd, 1, 1, 2048, 3, 256, false, true);
        check(rnd, 1, 1, 16384, 3, 16, false, true);
        check(rnd, 3, 2, 16384, 1, 1, true, false);
        check(rnd, 5, 1, 16384, 2, 16, false, true);
    }

    /**
     * The inference forward (no chunk states: the kernel's n_saved is 0 over 70 steps, where the training
     * forward writes 4 states) writes every output and the final state, equal to the training forward's.
     */
    @Test
    void inferenceEqualsForwardWithoutChunkStates() {
        Random rnd = random("inferenceEqualsForwardWithoutChunkStates");
        for (int[] lengths : new int[][]{null, {70, 23}}) {
            int m = 3, b = 2, l = 70, d = 9, n = 16;
            ScanInputs w = inputs(rnd, m, b, l, d, n, lengths, true).gpu();
            Tensor out = poisoned(m, b, l, d), fin = poisoned(b, d, n), out2 = poisoned(m, b, l, d), fin2 = poisoned(b, d, n);
            try (Saved saved = gpu().coupledScanForward(w, out, fin)) {
                gpu().coupledScanInference(w, out2, fin2);
            }
            assertClose(out2, out, 0, "inference vs forward, out");
            assertClose(fin2, fin, 0, "inference vs forward, final state");
            gpu().fill(out2, Double.NaN);
            gpu().coupledScanInference(w, out2, null);
            assertClose(out2, out, 0, "inference without a final state, out");
            // in place: the initial state's buffer receives the final state (a streamed sequence's one buffer)
            Tensor st = tracked(gpu().empty(DType.F32, b, d, n));
            gpu().copy(st, w.initialState());
            ScanInputs inPlace = new ScanInputs(w.u(), w.deltaPre(), w.z(), w.A(), w.B(), w.C(), w.Dskip(), w.lengths(), st);
            gpu().fill(out2, Double.NaN);
            gpu().coupledScanInference(inPlace, out2, st);
            assertClose(out2, out, 0, "state in place, out");
            assertClose(st, fin, 0, "state in place, final state");
        }
    }

    /** Running the first and second halves with the state handed over equals one run of the whole. */
    @Test
    void twoHalvesEqualTheWhole() {
        Random rnd = random("twoHalvesEqualTheWhole");
        int m = 3, b = 2, l = 70, h = 35, d = 9, n = 16;
        Both whole = inputs(rnd, m, b, l, d, n, null, true);
        ScanInputs w = whole.gpu();
        Tensor out = poisoned(m, b, l, d), fin = poisoned(b, d, n);
        Saved sw = gpu().coupledScanForward(w, out, fin);
        ScanInputs first = slice(w, 0, h, w.initialState()), second;
        Tensor out1 = poisoned(m, b, h, d), fin1 = poisoned(b, d, n), out2 = poisoned(m, b, l - h, d), fin2 = poisoned(b, d, n);
        Saved s1 = gpu().coupledScanForward(first, out1, fin1);
        second = slice(w, h, l - h, fin1);
        Saved s2 = gpu().coupledScanForward(second, out2, fin2);
        double[] joined = concatTime(out1.toDoubles(), out2.toDoubles(), m * b, h, l - h, d);
        double rel = GradCheck.relativeDifference(joined, out.toDoubles());
        assertTrue(rel <= 1e-6, "halves vs whole, out: " + rel);
        assertClose(fin2, fin, 1e-6, "halves vs whole, final state");

        // backward: the second half's dInitialState is the first half's dFinalState
        Tensor[] dout = tensorPair(gaussian(rnd, m * b * l * d, 0, 1), m, b, l, d);
        Tensor[] dfin = tensorPair(gaussian(rnd, b * d * n, 0, 1), b, d, n);
        ScanGrads gw = grads(false, w, true), g1 = grads(false, first, true), g2 = grads(false, second, true);
        gpu().coupledScanBackward(w, sw, dout[1], dfin[1], gw);
        Tensor dout1 = tracked(gpu().empty(DType.F32, m, b, h, d)), dout2 = tracked(gpu().empty(DType.F32, m, b, l - h, d));
        gpu().copyBlock(dout1, 0, (long) h * d, dout[1], 0, (long) l * d, m * b, h * d);
        gpu().copyBlock(dout2, 0, (long) (l - h) * d, dout[1], (long) h * d, (long) l * d, m * b, (l - h) * d);
        gpu().coupledScanBackward(second, s2, dout2, dfin[1], g2);
        gpu().coupledScanBackward(first, s1, dout1, g2.dInitialState(), g1);
        assertClose(g1.dInitialState(), gw.dInitialState(), 1e-5, "halves vs whole, dInitialState");
        double[] du = concatTime(g1.du().toDoubles(), g2.du().toDoubles(), m * b, h, l - h, d);
        assertTrue(GradCheck.relativeDifference(du, gw.du().toDoubles()) <= 1e-5, "halves vs whole, du");
        double[] da = g1.dA().toDoubles(), da2 = g2.dA().toDoubles();
        for (int i = 0; i < da.length; i++) da[i] += da2[i];
        assertTrue(GradCheck.relativeDifference(da, gw.dA().toDoubles()) <= 1e-5, "halves vs whole, dA");
        for (Saved s : new Saved[]{sw, s1, s2}) s.close();
    }

    /** Steps [t0, t0 + len) of every time-indexed input, with the given initial state. */
    private static ScanInputs slice(ScanInputs in, int t0, int len, Tensor initial) {
        return new ScanInputs(timeSlice(in.u(), t0, len), timeSlice(in.deltaPre(), t0, len), timeSlice(in.z(), t0, len), in.A(),
                timeSlice(in.B(), t0, len), timeSlice(in.C(), t0, len), in.Dskip(), null, initial);
    }

    private static Tensor timeSlice(Tensor x, int t0, int len) {
        int m = x.dim(0), b = x.dim(1), l = x.dim(2), w = x.dim(3);
        Tensor r = tracked(gpu().empty(DType.F32, m, b, len, w));
        gpu().copyBlock(r, 0, (long) len * w, x, (long) t0 * w, (long) l * w, m * b, len * w);
        return r;
    }

    private static double[] concatTime(double[] a, double[] b, int rows, int la, int lb, int w) {
        double[] r = new double[rows * (la + lb) * w];
        for (int i = 0; i < rows; i++) {
            System.arraycopy(a, i * la * w, r, i * (la + lb) * w, la * w);
            System.arraycopy(b, i * lb * w, r, (i * (la + lb) + la) * w, lb * w);
        }
        return r;
    }

    @Test
    void lengthOutsideTheSequenceIsReported() {
        Random rnd = random("lengthOutsideTheSequenceIsReported");
        Both in = inputs(rnd, 2, 3, 7, 5, 4, new int[]{7, 8, 2}, false);
        Tensor out = poisoned(2, 3, 7, 5);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> {
            gpu().coupledScanForward(in.gpu(), out, null).close();
            gpu().synchronize();
        });
        assertTrue(e.getMessage().contains("length of sample 1 is 8") && e.getMessage().contains("[0, 7]"), e.getMessage());
    }

    @Test
    void savedStateOfOtherSizesIsRejected() {
        Random rnd = random("savedStateOfOtherSizesIsRejected");
        Both a = inputs(rnd, 2, 2, 40, 5, 4, null, false), b = inputs(rnd, 2, 2, 41, 5, 4, null, false);
        Saved s = gpu().coupledScanForward(a.gpu(), poisoned(2, 2, 40, 5), null);
        ScanGrads g = grads(false, b.gpu(), false);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> gpu().coupledScanBackward(b.gpu(), s, poisoned(2, 2, 41, 5), null, g));
        assertTrue(e.getMessage().contains("40") && e.getMessage().contains("41"), e.getMessage());
        s.close();
    }
}
