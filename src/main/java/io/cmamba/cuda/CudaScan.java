package io.cmamba.cuda;

import io.cmamba.tensor.DType;
import io.cmamba.tensor.Saved;
import io.cmamba.tensor.ScanGrads;
import io.cmamba.tensor.ScanInputs;
import io.cmamba.tensor.Tensor;

/**
 * Launches of kernels/coupled_scan.cu. The block is NP x DB threads (NP = d_state rounded up to a
 * power of two, DB = 256 / NP channels, at least 1), the grid (ceil(D / DB), B). The forward keeps
 * the state at the start of every 16 steps ([B, D, N, ceil(L/16)]) for the backward; that buffer is
 * the whole Saved state. Arguments were checked by CudaBackend.
 */
public final class CudaScan {
    static final int CHUNK = 16;
    static final int MAX_MODALITIES = 8;

    private CudaScan() {
    }

    static final class ScanSaved implements Saved {
        final Tensor chunkStates;

        ScanSaved(Tensor chunkStates) {
            this.chunkStates = chunkStates;
        }

        @Override
        public void close() {
            chunkStates.close();
        }
    }

    static int paddedStates(int n) {
        if (n < 1 || n > 256) throw new IllegalArgumentException("the CUDA scan supports d_state 1 to 256, got " + n);
        int np = 1;
        while (np < n) np <<= 1;
        return np;
    }

    private static void checkSizes(ScanInputs in) {
        if (in.modalities() > MAX_MODALITIES)
            throw new IllegalArgumentException("the CUDA scan supports up to " + MAX_MODALITIES + " modalities, got " + in.modalities());
        if (in.batch() > 65535) throw new IllegalArgumentException("the CUDA scan supports batches up to 65535, got " + in.batch());
    }

    public static Saved forward(CudaBackend be, ScanInputs in, Tensor out, Tensor finalState) {
        checkSizes(in);
        int m = in.modalities(), b = in.batch(), l = in.length(), d = in.channels(), n = in.states();
        int np = paddedStates(n), db = Math.max(1, 256 / np), chunks = (l + CHUNK - 1) / CHUNK;
        Tensor states = be.empty(DType.F32, b, d, n, Math.max(1, chunks));
        be.launch(be.kernel("coupled_scan.cu", "coupled_scan_fwd_" + np, "SCAN_NP=" + np), Dim3.of((d + db - 1) / db, b),
                Dim3.of(np, db), 0, out, address(finalState), states, in.u(), in.deltaPre(), in.z(), in.A(), in.B(), in.C(),
                in.Dskip(), address(in.lengths()), address(in.initialState()), m, b, l, d, n);
        return new ScanSaved(states);
    }

    public static void backward(CudaBackend be, ScanInputs in, Saved saved, Tensor dout, Tensor dFinalState, ScanGrads g) {
        checkSizes(in);
        if (!(saved instanceof ScanSaved s))
            throw new IllegalArgumentException("coupledScanBackward: the saved state does not come from the CUDA scan forward");
        int m = in.modalities(), b = in.batch(), l = in.length(), d = in.channels(), n = in.states();
        int np = paddedStates(n), db = Math.max(1, 256 / np);
        // these are sums the kernel adds into with atomics
        be.fill(g.dA(), 0);
        be.fill(g.dB(), 0);
        be.fill(g.dC(), 0);
        be.fill(g.dDskip(), 0);
        be.launch(be.kernel("coupled_scan.cu", "coupled_scan_bwd_" + np, "SCAN_NP=" + np), Dim3.of((d + db - 1) / db, b),
                Dim3.of(np, db), 0, g.du(), g.dDeltaPre(), g.dz(), g.dA(), g.dB(), g.dC(), g.dDskip(),
                address(g.dInitialState()), dout, address(dFinalState), s.chunkStates, in.u(), in.deltaPre(), in.z(), in.A(),
                in.B(), in.C(), in.Dskip(), address(in.lengths()), m, b, l, d, n);
    }

    private static long address(Tensor t) {
        return t == null ? 0L : CudaBackend.address(t);
    }
}
