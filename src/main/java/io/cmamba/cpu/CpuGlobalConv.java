package io.cmamba.cpu;

import io.cmamba.tensor.*;

/** TODO(owner): implement. Signatures are fixed by CpuBackend. */
final class CpuGlobalConv {
    private CpuGlobalConv() {
    }

    static void kernel(Tensor kernel, Tensor A, Tensor delta, Tensor B, Tensor C) {
        throw new UnsupportedOperationException("CpuGlobalConv not implemented yet");
    }

    static void kernelBackward(Tensor dA, Tensor dDelta, Tensor dB, Tensor dC, Tensor dKernel, Tensor A, Tensor delta, Tensor B, Tensor C) {
        throw new UnsupportedOperationException("CpuGlobalConv not implemented yet");
    }

    static void forward(Tensor y, Tensor u, Tensor kernel, Tensor Dskip) {
        throw new UnsupportedOperationException("CpuGlobalConv not implemented yet");
    }

    static void backward(Tensor du, Tensor dKernel, Tensor dDskip, Tensor dy, Tensor u, Tensor kernel, Tensor Dskip) {
        throw new UnsupportedOperationException("CpuGlobalConv not implemented yet");
    }

}
