package io.cmamba.cpu;

import io.cmamba.tensor.DType;
import io.cmamba.tensor.ScanGrads;
import io.cmamba.tensor.ScanInputs;
import io.cmamba.tensor.Tensor;
import io.cmamba.testing.GradCheck;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class CpuScanTest {
    private final CpuBackend cpu = new CpuBackend();
    private final long seed = System.nanoTime();
    private final Random rnd = new Random(seed);

    /** Random scan inputs in float64; lengths and initial state optional. */
    ScanInputs inputs(int m, int b, int l, int d, int n, boolean lengths, boolean initial) {
        Tensor lens = null;
        if (lengths) {
            int[] ls = new int[b];
            for (int i = 0; i < b; i++) ls[i] = rnd.nextInt(l + 1);
            if (b > 1) ls[0] = l; // one full-length sample always
            lens = cpu.fromInts(ls, b);
        }
        double[] aLog = new double[m * d * n];
        for (int i = 0; i < aLog.length; i++) aLog[i] = rnd.nextDouble() * 2 - 1;
        Tensor a = cpu.empty(DType.F64, m, d, n);
        cpu.activationForward(io.cmamba.tensor.Activation.NEG_EXP, a, cpu.fromDoubles(DType.F64, aLog, m, d, n));
        return new ScanInputs(randn(1, 0, m, b, l, d), randn(0.5, -1, m, b, l, d), randn(1, 0, m, b, l, d), a,
                randn(1, 0, m, b, l, n), randn(1, 0, m, b, l, n), randn(0.3, 1, m, d), lens,
                initial ? randn(1, 0, b, d, n) : null);
    }

    Tensor randn(double scale, double mean, int... shape) {
        Tensor t = cpu.empty(DType.F64, shape);
        double[] a = CpuBackend.data(t);
        for (int i = 0; i < a.length; i++) a[i] = mean + scale * rnd.nextGaussian();
        return t;
    }

    double[] run(ScanInputs in, boolean parallel, Tensor finalState) {
        Tensor out = cpu.empty(DType.F64, in.u().shape().dims());
        cpu.fill(out, Double.NaN);
        if (parallel) CpuScan.forwardParallel(in, out, finalState);
        else CpuScan.forwardSequential(in, out, finalState);
        for (double v : out.toDoubles()) assertFalse(Double.isNaN(v), "output element not written (seed " + seed + ")");
        return out.toDoubles();
    }

    @Test
    void parallelFormEqualsTheSequentialReference() {
        int[][] shapes = {{1, 2, 1, 3, 4}, {2, 3, 7, 5, 3}, {3, 2, 50, 7, 16}, {5, 1, 300, 3, 2}};
        for (int[] s : shapes)
            for (boolean extras : new boolean[]{false, true}) {
                ScanInputs in = inputs(s[0], s[1], s[2], s[3], s[4], extras, extras);
                Tensor f1 = cpu.empty(DType.F64, s[1], s[3], s[4]), f2 = cpu.empty(DType.F64, s[1], s[3], s[4]);
                double e = GradCheck.relativeDifference(run(in, true, f2), run(in, false, f1));
                double ef = GradCheck.relativeDifference(f2.toDoubles(), f1.toDoubles());
                String what = java.util.Arrays.toString(s) + (extras ? " with lengths and initial state" : "") + " (seed " + seed + ")";
                assertTrue(e <= 1e-12, "outputs differ by " + e + " at " + what);
                assertTrue(ef <= 1e-12, "final states differ by " + ef + " at " + what);
            }
    }

    /** Mamba's selective scan written from its paper, independently of CpuScan: one modality. */
    static double[] plainMamba(double[] u, double[] deltaPre, double[] z, double[] a, double[] bm, double[] cm,
                               double[] dskip, int nb, int l, int d, int n) {
        double[] out = new double[nb * l * d];
        for (int b = 0; b < nb; b++)
            for (int c = 0; c < d; c++) {
                double[] h = new double[n];
                for (int t = 0; t < l; t++) {
                    int i = (b * l + t) * d + c;
                    double delta = Math.log(1 + Math.exp(deltaPre[i]));
                    double y = 0;
                    for (int k = 0; k < n; k++) {
                        h[k] = Math.exp(delta * a[c * n + k]) * h[k] + delta * bm[(b * l + t) * n + k] * u[i];
                        y += cm[(b * l + t) * n + k] * h[k];
                    }
                    y += dskip[c] * u[i];
                    out[i] = y * z[i] / (1 + Math.exp(-z[i]));
                }
            }
        return out;
    }

    @Test
    void withOneModalityItIsMambasSelectiveScan() {
        int b = 3, l = 40, d = 5, n = 8;
        ScanInputs in = inputs(1, b, l, d, n, false, false);
        double[] expected = plainMamba(in.u().toDoubles(), in.deltaPre().toDoubles(), in.z().toDoubles(),
                in.A().toDoubles(), in.B().toDoubles(), in.C().toDoubles(), in.Dskip().toDoubles(), b, l, d, n);
        double e = GradCheck.relativeDifference(run(in, false, null), expected);
        assertTrue(e <= 1e-13, "M = 1 differs from plain Mamba by " + e + " (seed " + seed + ")");
    }

    @Test
    void longSequenceWithThePapersInitialisationStaysFinite() {
        int m = 3, b = 1, l = 4096, d = 4, n = 16;
        // MODEL.md: A_log[d, n] = log(n + 1); softplus(dt bias) log-uniform in [1e-3, 1e-1]; Dskip = 1
        Tensor a = cpu.empty(DType.F32, m, d, n);
        double[] av = CpuBackend.data(a);
        for (int i = 0; i < av.length; i++) av[i] = -(i % n + 1);
        Tensor dpre = cpu.empty(DType.F32, m, b, l, d);
        double[] dp = CpuBackend.data(dpre);
        for (int i = 0; i < dp.length; i++) {
            double dt = Math.exp(Math.log(1e-3) + rnd.nextDouble() * (Math.log(1e-1) - Math.log(1e-3)));
            dp[i] = (float) Math.log(Math.expm1(dt));
        }
        Tensor ones = cpu.empty(DType.F32, m, d);
        cpu.fill(ones, 1);
        // inputs of constant sign are the worst case for growth
        Tensor u = cpu.empty(DType.F32, m, b, l, d), bm = cpu.empty(DType.F32, m, b, l, n), cm = cpu.empty(DType.F32, m, b, l, n);
        cpu.fill(u, 1);
        cpu.fill(bm, 1);
        cpu.fill(cm, 1);
        ScanInputs in = new ScanInputs(u, dpre, u, a, bm, cm, ones, null, null);
        Tensor out = cpu.empty(DType.F32, m, b, l, d), fin = cpu.empty(DType.F32, b, d, n);
        cpu.coupledScanForward(in, out, fin);
        for (double v : out.toDoubles()) assertTrue(Double.isFinite(v) && Math.abs(v) < 1e6, "output " + v + " at L = 4096");
        // contrast: the raw sum over modalities (no 1/M) on the same deltas overflows float32
        int overflowAt = -1;
        float raw = 0;
        for (int t = 0; t < l && overflowAt < 0; t++) {
            float g = 0, v = 0;
            for (int mm = 0; mm < m; mm++) {
                float delta = (float) Math.log1p(Math.exp(dp[(mm * b * l + t) * d]));
                g += (float) Math.exp(delta * av[mm * d * n]);
                v += delta;
            }
            raw = g * raw + v;
            if (Float.isInfinite(raw)) overflowAt = t;
        }
        assertTrue(overflowAt > 0 && overflowAt < l, "the raw-sum coupling should overflow float32 before L = " + l
                + " (it reached " + raw + ")");
    }

    /** Loss = sum(wOut * out) + sum(wFin * finalState), in float64. */
    double loss(ScanInputs in, double[] wOut, double[] wFin) {
        Tensor out = cpu.empty(DType.F64, in.u().shape().dims()), fin = cpu.empty(DType.F64, in.batch(), in.channels(), in.states());
        CpuScan.forwardSequential(in, out, fin);
        return GradCheck.dot(wOut, out.toDoubles()) + GradCheck.dot(wFin, fin.toDoubles());
    }

    void gradientCheck(int m, int b, int l, int d, int n, boolean lengths, boolean initial) {
        ScanInputs in = inputs(m, b, l, d, n, lengths, initial);
        double[] wOut = GradCheck.randomWeights(rnd, m * b * l * d), wFin = GradCheck.randomWeights(rnd, b * d * n);
        ScanGrads g = new ScanGrads(cpu.empty(DType.F64, m, b, l, d), cpu.empty(DType.F64, m, b, l, d),
                cpu.empty(DType.F64, m, b, l, d), cpu.empty(DType.F64, m, d, n), cpu.empty(DType.F64, m, b, l, n),
                cpu.empty(DType.F64, m, b, l, n), cpu.empty(DType.F64, m, d), initial ? cpu.empty(DType.F64, b, d, n) : null);
        Tensor[] all = {g.du(), g.dDeltaPre(), g.dz(), g.dA(), g.dB(), g.dC(), g.dDskip(), g.dInitialState()};
        for (Tensor t : all) if (t != null) cpu.fill(t, Double.NaN);
        cpu.coupledScanBackward(in, cpu.coupledScanForward(in, cpu.empty(DType.F64, m, b, l, d), null),
                cpu.fromDoubles(DType.F64, wOut, m, b, l, d), cpu.fromDoubles(DType.F64, wFin, b, d, n), g);
        Tensor[] xs = {in.u(), in.deltaPre(), in.z(), in.A(), in.B(), in.C(), in.Dskip(), in.initialState()};
        String[] names = {"du", "dDeltaPre", "dz", "dA", "dB", "dC", "dDskip", "dInitialState"};
        for (int i = 0; i < xs.length; i++) {
            if (xs[i] == null) continue;
            double[] analytic = all[i].toDoubles();
            for (double v : analytic) assertFalse(Double.isNaN(v), names[i] + " not fully written");
            double err = GradCheck.relativeError(CpuBackend.data(xs[i]), analytic, () -> loss(in, wOut, wFin));
            assertTrue(err <= 1e-6, names[i] + " relative error " + err + " for M " + m + " B " + b + " L " + l + " D " + d
                    + " N " + n + (lengths ? " with lengths" : "") + (initial ? " with initial state" : "") + " (seed " + seed + ")");
        }
    }

    @Test
    void backwardMatchesFiniteDifferences() {
        gradientCheck(1, 2, 5, 3, 2, false, false);
        gradientCheck(3, 2, 6, 3, 4, false, true);
        gradientCheck(2, 3, 7, 2, 3, true, true);
        gradientCheck(5, 1, 4, 1, 1, false, false);
    }

    @Test
    void paddedStepsAreFrozenAndGetNoGradient() {
        int m = 2, b = 3, l = 9, d = 4, n = 3;
        ScanInputs in = inputs(m, b, l, d, n, true, true);
        int[] lens = in.lengths().toInts();
        Tensor fin = cpu.empty(DType.F64, b, d, n);
        double[] out = run(in, false, fin);
        // outputs past the end are 0
        for (int mm = 0; mm < m; mm++)
            for (int s = 0; s < b; s++)
                for (int t = lens[s]; t < l; t++)
                    for (int c = 0; c < d; c++) assertEquals(0.0, out[((mm * b + s) * l + t) * d + c]);
        // changing padded inputs changes nothing
        double[] u = CpuBackend.data(in.u()), bm = CpuBackend.data(in.B());
        for (int mm = 0; mm < m; mm++)
            for (int s = 0; s < b; s++)
                for (int t = lens[s]; t < l; t++) {
                    for (int c = 0; c < d; c++) u[((mm * b + s) * l + t) * d + c] += 100;
                    for (int k = 0; k < n; k++) bm[((mm * b + s) * l + t) * n + k] -= 7;
                }
        Tensor fin2 = cpu.empty(DType.F64, b, d, n);
        assertArrayEquals(out, run(in, false, fin2), 0);
        assertArrayEquals(fin.toDoubles(), fin2.toDoubles(), 0);
        // gradients at padded positions are exactly 0
        ScanGrads g = new ScanGrads(cpu.empty(DType.F64, m, b, l, d), cpu.empty(DType.F64, m, b, l, d),
                cpu.empty(DType.F64, m, b, l, d), cpu.empty(DType.F64, m, d, n), cpu.empty(DType.F64, m, b, l, n),
                cpu.empty(DType.F64, m, b, l, n), cpu.empty(DType.F64, m, d), null);
        Tensor dout = randn(1, 0, m, b, l, d);
        cpu.coupledScanBackward(in, cpu.coupledScanForward(in, cpu.empty(DType.F64, m, b, l, d), null), dout, null, g);
        double[] du = g.du().toDoubles(), db = g.dB().toDoubles();
        for (int mm = 0; mm < m; mm++)
            for (int s = 0; s < b; s++)
                for (int t = lens[s]; t < l; t++) {
                    for (int c = 0; c < d; c++) assertEquals(0.0, du[((mm * b + s) * l + t) * d + c]);
                    for (int k = 0; k < n; k++) assertEquals(0.0, db[((mm * b + s) * l + t) * n + k]);
                }
    }

    @Test
    void twoHalvesChainedThroughTheStateEqualOneWholeRun() {
        int m = 3, b = 2, l = 12, d = 3, n = 4, h = 5;
        ScanInputs whole = inputs(m, b, l, d, n, false, true);
        ScanInputs first = slice(whole, 0, h, whole.initialState());
        Tensor mid = cpu.empty(DType.F64, b, d, n), fin1 = cpu.empty(DType.F64, b, d, n), fin2 = cpu.empty(DType.F64, b, d, n);
        double[] o1 = run(first, false, mid);
        ScanInputs second = slice(whole, h, l - h, mid);
        double[] o2 = run(second, false, fin2);
        double[] oWhole = run(whole, false, fin1);
        Tensor joined = cpu.empty(DType.F64, m, b, l, d);
        double[] j = CpuBackend.data(joined);
        for (int mm = 0; mm < m; mm++)
            for (int s = 0; s < b; s++) {
                System.arraycopy(o1, ((mm * b + s) * h) * d, j, ((mm * b + s) * l) * d, h * d);
                System.arraycopy(o2, ((mm * b + s) * (l - h)) * d, j, ((mm * b + s) * l + h) * d, (l - h) * d);
            }
        assertTrue(GradCheck.relativeDifference(j, oWhole) <= 1e-13, "halves differ from the whole (seed " + seed + ")");
        assertTrue(GradCheck.relativeDifference(fin2.toDoubles(), fin1.toDoubles()) <= 1e-13, "final states differ");

        // backward: the second half's dInitialState is the first half's dFinalState
        Tensor dout = randn(1, 0, m, b, l, d);
        ScanGrads gw = grads(whole, true), g2 = grads(second, true), g1 = grads(first, true);
        cpu.coupledScanBackward(whole, cpu.coupledScanForward(whole, cpu.empty(DType.F64, m, b, l, d), null), dout, null, gw);
        cpu.coupledScanBackward(second, cpu.coupledScanForward(second, cpu.empty(DType.F64, m, b, l - h, d), null),
                sliceTime(dout, h, l - h), null, g2);
        cpu.coupledScanBackward(first, cpu.coupledScanForward(first, cpu.empty(DType.F64, m, b, h, d), null),
                sliceTime(dout, 0, h), g2.dInitialState(), g1);
        assertTrue(GradCheck.relativeDifference(g1.dInitialState().toDoubles(), gw.dInitialState().toDoubles()) <= 1e-12,
                "dInitialState through two halves differs from the whole");
        double[] dAsum = g1.dA().toDoubles(), dA2 = g2.dA().toDoubles();
        for (int i = 0; i < dAsum.length; i++) dAsum[i] += dA2[i];
        assertTrue(GradCheck.relativeDifference(dAsum, gw.dA().toDoubles()) <= 1e-12, "dA through two halves differs");
        assertTrue(GradCheck.relativeDifference(sliceTime(gw.du(), 0, h).toDoubles(), g1.du().toDoubles()) <= 1e-12,
                "du of the first half differs");
    }

    ScanGrads grads(ScanInputs in, boolean initial) {
        int m = in.modalities(), b = in.batch(), l = in.length(), d = in.channels(), n = in.states();
        return new ScanGrads(cpu.empty(DType.F64, m, b, l, d), cpu.empty(DType.F64, m, b, l, d),
                cpu.empty(DType.F64, m, b, l, d), cpu.empty(DType.F64, m, d, n), cpu.empty(DType.F64, m, b, l, n),
                cpu.empty(DType.F64, m, b, l, n), cpu.empty(DType.F64, m, d), initial ? cpu.empty(DType.F64, b, d, n) : null);
    }

    /** Steps [t0, t0 + len) of an [M, B, L, X] tensor, copied. */
    Tensor sliceTime(Tensor x, int t0, int len) {
        int m = x.dim(0), b = x.dim(1), l = x.dim(2), w = x.dim(3);
        Tensor out = cpu.empty(DType.F64, m, b, len, w);
        cpu.copyBlock(out, 0, (long) len * w, x, (long) t0 * w, (long) l * w, m * b, len * w);
        return out;
    }

    ScanInputs slice(ScanInputs in, int t0, int len, Tensor initial) {
        return new ScanInputs(sliceTime(in.u(), t0, len), sliceTime(in.deltaPre(), t0, len), sliceTime(in.z(), t0, len),
                in.A(), sliceTime(in.B(), t0, len), sliceTime(in.C(), t0, len), in.Dskip(), null, initial);
    }

    @Test
    void lengthsOutOfRangeNameTheSample() {
        ScanInputs in = inputs(2, 3, 5, 2, 2, false, false);
        ScanInputs bad = new ScanInputs(in.u(), in.deltaPre(), in.z(), in.A(), in.B(), in.C(), in.Dskip(),
                cpu.fromInts(new int[]{5, 6, 0}, 3), null);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> cpu.coupledScanForward(bad, cpu.empty(DType.F64, 2, 3, 5, 2), null));
        assertTrue(e.getMessage().contains("sample 1") && e.getMessage().contains("6"), e.getMessage());
        IllegalArgumentException shape = assertThrows(IllegalArgumentException.class,
                () -> new ScanInputs(in.u(), in.deltaPre(), in.z(), in.A(), in.C().reshape(2, 3, 2, 5), in.C(), in.Dskip(), null, null));
        assertTrue(shape.getMessage().contains("expected B [2, 3, 5, 2]"), shape.getMessage());
    }
}
