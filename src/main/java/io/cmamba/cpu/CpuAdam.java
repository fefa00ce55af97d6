package io.cmamba.cpu;

import io.cmamba.tensor.*;

/** TODO(owner): implement. Signatures are fixed by CpuBackend. */
final class CpuAdam {
    private CpuAdam() {
    }

    static void step(Tensor param, Tensor grad, Tensor m, Tensor v, AdamParams p) {
        throw new UnsupportedOperationException("CpuAdam not implemented yet");
    }

}
