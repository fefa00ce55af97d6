package io.cmamba.cuda;

import io.cmamba.tensor.Tensor;

/**
 * The global convolution (lti mode) on the GPU. Not built yet: every op says so clearly; the lti
 * mode runs on the CPU backend, and the selective mode (the model's default) on the GPU.
 */
final class CudaGlobalConv {
    private CudaGlobalConv() {
    }

    private static UnsupportedOperationException missing(String op) {
        return new UnsupportedOperationException(op + ": the global convolution (lti mode) has no GPU kernel in this build;"
                + " use --mode selective on the GPU or --device cpu for lti");
    }

    static void kernel(CudaBackend be, Tensor kernel, Tensor A, Tensor delta, Tensor B, Tensor C) {
        throw missing("globalConvKernel");
    }

    static void kernelBackward(CudaBackend be, Tensor dA, Tensor dDelta, Tensor dB, Tensor dC, Tensor dKernel, Tensor A,
                               Tensor delta, Tensor B, Tensor C) {
        throw missing("globalConvKernelBackward");
    }

    static void forward(CudaBackend be, Tensor y, Tensor u, Tensor kernel, Tensor Dskip) {
        throw missing("globalConvForward");
    }

    static void backward(CudaBackend be, Tensor du, Tensor dKernel, Tensor dDskip, Tensor dy, Tensor u, Tensor kernel, Tensor Dskip) {
        throw missing("globalConvBackward");
    }
}
