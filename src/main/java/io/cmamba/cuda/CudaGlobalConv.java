package io.cmamba.cuda;

import io.cmamba.tensor.Tensor;

/** The global convolution (lti mode) on the GPU (kernels/global_conv.cu); arguments checked by CudaBackend. */
public final class CudaGlobalConv {
    private CudaGlobalConv() {
    }

    public static void kernel(CudaBackend b, Tensor kernel, Tensor A, Tensor delta, Tensor B, Tensor C) {
        throw new UnsupportedOperationException("globalConvKernel: GPU kernel not available in this build");
    }

    public static void kernelBackward(CudaBackend b, Tensor dA, Tensor dDelta, Tensor dB, Tensor dC, Tensor dKernel,
                                      Tensor A, Tensor delta, Tensor B, Tensor C) {
        throw new UnsupportedOperationException("globalConvKernelBackward: GPU kernel not available in this build");
    }

    public static void forward(CudaBackend b, Tensor y, Tensor u, Tensor kernel, Tensor Dskip) {
        throw new UnsupportedOperationException("globalConvForward: GPU kernel not available in this build");
    }

    public static void backward(CudaBackend b, Tensor du, Tensor dKernel, Tensor dDskip, Tensor dy, Tensor u, Tensor kernel,
                                Tensor Dskip) {
        throw new UnsupportedOperationException("globalConvBackward: GPU kernel not available in this build");
    }
}
