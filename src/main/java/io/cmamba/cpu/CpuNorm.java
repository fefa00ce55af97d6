package io.cmamba.cpu;

import io.cmamba.tensor.*;

/** TODO(owner): implement. Signatures are fixed by CpuBackend. */
final class CpuNorm {
    private CpuNorm() {
    }

    static void layerNormForward(Tensor out, Tensor mean, Tensor rstd, Tensor x, Tensor gamma, Tensor beta, double eps) {
        throw new UnsupportedOperationException("CpuNorm not implemented yet");
    }

    static void layerNormBackward(Tensor dx, Tensor dgamma, Tensor dbeta, Tensor dout, Tensor x, Tensor mean, Tensor rstd, Tensor gamma) {
        throw new UnsupportedOperationException("CpuNorm not implemented yet");
    }

    static void rmsNormForward(Tensor out, Tensor rstd, Tensor x, Tensor gamma, double eps) {
        throw new UnsupportedOperationException("CpuNorm not implemented yet");
    }

    static void rmsNormBackward(Tensor dx, Tensor dgamma, Tensor dout, Tensor x, Tensor rstd, Tensor gamma) {
        throw new UnsupportedOperationException("CpuNorm not implemented yet");
    }

}
