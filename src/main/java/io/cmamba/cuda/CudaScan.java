package io.cmamba.cuda;

import io.cmamba.tensor.Saved;
import io.cmamba.tensor.ScanGrads;
import io.cmamba.tensor.ScanInputs;
import io.cmamba.tensor.Tensor;

/** The coupled selective scan on the GPU (kernels/coupled_scan_*.cu); arguments checked by CudaBackend. */
public final class CudaScan {
    private CudaScan() {
    }

    public static Saved forward(CudaBackend b, ScanInputs in, Tensor out, Tensor finalState) {
        throw new UnsupportedOperationException("coupledScanForward: GPU kernel not available in this build");
    }

    public static void backward(CudaBackend b, ScanInputs in, Saved saved, Tensor dout, Tensor dFinalState, ScanGrads g) {
        throw new UnsupportedOperationException("coupledScanBackward: GPU kernel not available in this build");
    }
}
