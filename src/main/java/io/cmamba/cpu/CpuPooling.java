package io.cmamba.cpu;

import io.cmamba.tensor.*;

/** TODO(owner): implement. Signatures are fixed by CpuBackend. */
final class CpuPooling {
    private CpuPooling() {
    }

    static void lengthPoolForward(Tensor out, Tensor x, Tensor lengths) {
        throw new UnsupportedOperationException("CpuPooling not implemented yet");
    }

    static void lengthPoolBackward(Tensor dx, Tensor dout, Tensor lengths) {
        throw new UnsupportedOperationException("CpuPooling not implemented yet");
    }

    static void maxPoolTimeForward(Tensor out, Tensor argmax, Tensor x) {
        throw new UnsupportedOperationException("CpuPooling not implemented yet");
    }

    static void maxPoolTimeBackward(Tensor dx, Tensor dout, Tensor argmax) {
        throw new UnsupportedOperationException("CpuPooling not implemented yet");
    }

    static void softmaxFusionForward(Tensor out, Tensor x, Tensor w) {
        throw new UnsupportedOperationException("CpuPooling not implemented yet");
    }

    static void softmaxFusionBackward(Tensor dx, Tensor dw, Tensor dout, Tensor x, Tensor w) {
        throw new UnsupportedOperationException("CpuPooling not implemented yet");
    }

}
