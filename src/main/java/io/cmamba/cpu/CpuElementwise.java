package io.cmamba.cpu;

import io.cmamba.tensor.*;

/** TODO(owner): implement. Signatures are fixed by CpuBackend. */
final class CpuElementwise {
    private CpuElementwise() {
    }

    static void axpby(Tensor out, double alpha, Tensor a, double beta, Tensor b) {
        throw new UnsupportedOperationException("CpuElementwise not implemented yet");
    }

    static void mul(Tensor out, Tensor a, Tensor b) {
        throw new UnsupportedOperationException("CpuElementwise not implemented yet");
    }

    static void activationForward(Activation f, Tensor out, Tensor x) {
        throw new UnsupportedOperationException("CpuElementwise not implemented yet");
    }

    static void activationBackward(Activation f, Tensor dx, Tensor dout, Tensor x) {
        throw new UnsupportedOperationException("CpuElementwise not implemented yet");
    }

    static void addBias(Tensor x, Tensor bias) {
        throw new UnsupportedOperationException("CpuElementwise not implemented yet");
    }

    static void sumRows(Tensor out, Tensor x) {
        throw new UnsupportedOperationException("CpuElementwise not implemented yet");
    }

    static void sumSquares(Tensor out, Tensor x) {
        throw new UnsupportedOperationException("CpuElementwise not implemented yet");
    }

    static void countNonFinite(Tensor out, Tensor x) {
        throw new UnsupportedOperationException("CpuElementwise not implemented yet");
    }

}
