package io.cmamba.cpu;

import io.cmamba.tensor.*;

/** TODO(owner): implement. Signatures are fixed by CpuBackend. */
final class CpuScan {
    private CpuScan() {
    }

    static Saved forward(ScanInputs in, Tensor out, Tensor finalState) {
        throw new UnsupportedOperationException("CpuScan not implemented yet");
    }

    static void backward(ScanInputs in, Saved saved, Tensor dout, Tensor dFinalState, ScanGrads g) {
        throw new UnsupportedOperationException("CpuScan not implemented yet");
    }

}
