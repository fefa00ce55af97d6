package io.cmamba.cpu;

import io.cmamba.tensor.*;

/** TODO(owner): implement. Signatures are fixed by CpuBackend. */
final class CpuConv1d {
    private CpuConv1d() {
    }

    static void forward(Tensor out, Tensor x, Tensor w, Tensor bias) {
        throw new UnsupportedOperationException("CpuConv1d not implemented yet");
    }

    static void backward(Tensor dx, Tensor dw, Tensor dbias, Tensor dout, Tensor x, Tensor w) {
        throw new UnsupportedOperationException("CpuConv1d not implemented yet");
    }

}
