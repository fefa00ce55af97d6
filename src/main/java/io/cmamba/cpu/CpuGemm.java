package io.cmamba.cpu;

import io.cmamba.tensor.*;

/** TODO(owner): implement. Signatures are fixed by CpuBackend. */
final class CpuGemm {
    private CpuGemm() {
    }

    static void gemm(boolean transA, boolean transB, double alpha, Tensor a, Tensor b, double beta, Tensor c) {
        throw new UnsupportedOperationException("CpuGemm not implemented yet");
    }

}
