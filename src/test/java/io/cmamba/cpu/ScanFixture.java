package io.cmamba.cpu;

import io.cmamba.tensor.DType;
import io.cmamba.tensor.ScanGrads;
import io.cmamba.tensor.ScanInputs;
import io.cmamba.tensor.Tensor;

import java.util.Random;

import static io.cmamba.cpu.CpuTestSupport.CPU;
import static io.cmamba.cpu.CpuTestSupport.assertAllWritten;
import static io.cmamba.cpu.CpuTestSupport.poisoned;

/** Inputs, outputs and slicing for the coupled scan tests, all float64 on the CPU backend. */
final class ScanFixture {
    final Random rnd;

    ScanFixture(Random rnd) {
        this.rnd = rnd;
    }

    Tensor randn(double scale, double mean, int... shape) {
        Tensor t = CPU.empty(DType.F64, shape);
        double[] a = CpuBackend.data(t);
        for (int i = 0; i < a.length; i++) a[i] = mean + scale * rnd.nextGaussian();
        return t;
    }

    /**
     * Random inputs: u, z, B, C standard normal, deltaPre ~ N(-1, 0.5^2) (delta around 0.3), A = -exp(U(-1, 1)),
     * Dskip ~ N(1, 0.3^2); lengths (one full sample, the others uniform in [0, L]) and initial state optional.
     */
    ScanInputs inputs(int m, int b, int l, int d, int n, boolean lengths, boolean initial) {
        Tensor lens = null;
        if (lengths) {
            int[] ls = new int[b];
            for (int i = 0; i < b; i++) ls[i] = rnd.nextInt(l + 1);
            ls[0] = l;
            lens = CPU.fromInts(ls, b);
        }
        Tensor a = CPU.empty(DType.F64, m, d, n);
        double[] av = CpuBackend.data(a);
        for (int i = 0; i < av.length; i++) av[i] = -Math.exp(rnd.nextDouble() * 2 - 1);
        return new ScanInputs(randn(1, 0, m, b, l, d), randn(0.5, -1, m, b, l, d), randn(1, 0, m, b, l, d), a,
                randn(1, 0, m, b, l, n), randn(1, 0, m, b, l, n), randn(0.3, 1, m, d), lens,
                initial ? randn(1, 0, b, d, n) : null);
    }

    static ScanInputs withLengths(ScanInputs in, int... lengths) {
        return new ScanInputs(in.u(), in.deltaPre(), in.z(), in.A(), in.B(), in.C(), in.Dskip(),
                lengths == null ? null : CPU.fromInts(lengths, lengths.length), in.initialState());
    }

    static ScanInputs withInitial(ScanInputs in, Tensor initial) {
        return new ScanInputs(in.u(), in.deltaPre(), in.z(), in.A(), in.B(), in.C(), in.Dskip(), in.lengths(), initial);
    }

    /** Output and final state of one forward form, checked fully written. */
    record Forward(Tensor out, Tensor finalState, CpuScan.Checkpoints saved) {
    }

    static Forward sequential(ScanInputs in) {
        Tensor out = poisoned(DType.F64, in.u().shape().dims()), fin = poisoned(DType.F64, in.batch(), in.channels(), in.states());
        CpuScan.Checkpoints cp = CpuScan.forwardSequential(in, out, fin);
        assertAllWritten(out, "out");
        assertAllWritten(fin, "finalState");
        return new Forward(out, fin, cp);
    }

    static Forward parallel(ScanInputs in) {
        Tensor out = poisoned(DType.F64, in.u().shape().dims()), fin = poisoned(DType.F64, in.batch(), in.channels(), in.states());
        CpuScan.Checkpoints cp = CpuScan.forwardParallel(in, out, fin);
        assertAllWritten(out, "out");
        assertAllWritten(fin, "finalState");
        return new Forward(out, fin, cp);
    }

    /** Gradient tensors of a scan, poisoned with NaN; dInitialState always present. */
    static ScanGrads grads(ScanInputs in) {
        int m = in.modalities(), b = in.batch(), l = in.length(), d = in.channels(), n = in.states();
        return new ScanGrads(poisoned(DType.F64, m, b, l, d), poisoned(DType.F64, m, b, l, d), poisoned(DType.F64, m, b, l, d),
                poisoned(DType.F64, m, d, n), poisoned(DType.F64, m, b, l, n), poisoned(DType.F64, m, b, l, n),
                poisoned(DType.F64, m, d), poisoned(DType.F64, b, d, n));
    }

    static final String[] GRAD_NAMES = {"du", "dDeltaPre", "dz", "dA", "dB", "dC", "dDskip", "dInitialState"};

    static Tensor[] all(ScanGrads g) {
        return new Tensor[]{g.du(), g.dDeltaPre(), g.dz(), g.dA(), g.dB(), g.dC(), g.dDskip(), g.dInitialState()};
    }

    static void assertGradsWritten(ScanGrads g) {
        Tensor[] ts = all(g);
        for (int i = 0; i < ts.length; i++) if (ts[i] != null) CpuTestSupport.assertAllWritten(ts[i], GRAD_NAMES[i]);
    }

    /** Steps [t0, t0 + len) of an [M, B, L, X] tensor, copied. */
    static Tensor sliceTime(Tensor x, int t0, int len) {
        int m = x.dim(0), b = x.dim(1), l = x.dim(2), w = x.dim(3);
        Tensor out = CPU.empty(x.dtype(), m, b, len, w);
        CPU.copyBlock(out, 0, (long) len * w, x, (long) t0 * w, (long) l * w, m * b, len * w);
        return out;
    }

    /** Steps [t0, t0 + len) of the inputs with the given initial state, no lengths. */
    static ScanInputs sliceTime(ScanInputs in, int t0, int len, Tensor initial) {
        return new ScanInputs(sliceTime(in.u(), t0, len), sliceTime(in.deltaPre(), t0, len), sliceTime(in.z(), t0, len),
                in.A(), sliceTime(in.B(), t0, len), sliceTime(in.C(), t0, len), in.Dskip(), null, initial);
    }

    /** Sample b of an [M, B, L, X] tensor, steps [0, len), copied: [M, 1, len, X]. */
    static Tensor sample(Tensor x, int b, int len) {
        int m = x.dim(0), nb = x.dim(1), l = x.dim(2), w = x.dim(3);
        Tensor out = CPU.empty(x.dtype(), m, 1, len, w);
        CPU.copyBlock(out, 0, (long) len * w, x, (long) b * l * w, (long) nb * l * w, m, len * w);
        return out;
    }

    /** Sample b of a [B, D, N] state, copied: [1, D, N]. */
    static Tensor sampleState(Tensor s, int b) {
        Tensor out = CPU.empty(s.dtype(), 1, s.dim(1), s.dim(2));
        CPU.copy(out, s.narrow(b, 1));
        return out;
    }

    /** Sample b truncated to its first len steps, without lengths: [M, 1, len, X] inputs. */
    static ScanInputs truncated(ScanInputs in, int b, int len) {
        return new ScanInputs(sample(in.u(), b, len), sample(in.deltaPre(), b, len), sample(in.z(), b, len), in.A(),
                sample(in.B(), b, len), sample(in.C(), b, len), in.Dskip(), null,
                in.initialState() == null ? null : sampleState(in.initialState(), b));
    }

    /** The [M, B, L1 + L2, X] tensor of two time slices side by side. */
    static double[] joinTime(Tensor first, Tensor second) {
        int m = first.dim(0), b = first.dim(1), l1 = first.dim(2), l2 = second.dim(2), w = first.dim(3);
        double[] a = first.toDoubles(), c = second.toDoubles(), j = new double[m * b * (l1 + l2) * w];
        for (int r = 0; r < m * b; r++) {
            System.arraycopy(a, r * l1 * w, j, r * (l1 + l2) * w, l1 * w);
            System.arraycopy(c, r * l2 * w, j, (r * (l1 + l2) + l1) * w, l2 * w);
        }
        return j;
    }

    static double[] sum(Tensor a, Tensor b) {
        double[] x = a.toDoubles(), y = b.toDoubles();
        for (int i = 0; i < x.length; i++) x[i] += y[i];
        return x;
    }
}
