package io.cmamba.cpu;

import io.cmamba.tensor.*;

/** TODO(owner): implement. Signatures are fixed by CpuBackend. */
final class CpuLoss {
    private CpuLoss() {
    }

    static void l1Forward(Tensor loss, Tensor pred, Tensor target) {
        throw new UnsupportedOperationException("CpuLoss not implemented yet");
    }

    static void l1Backward(Tensor dpred, Tensor pred, Tensor target) {
        throw new UnsupportedOperationException("CpuLoss not implemented yet");
    }

    static void crossEntropyForward(Tensor loss, Tensor logits, Tensor labels) {
        throw new UnsupportedOperationException("CpuLoss not implemented yet");
    }

    static void crossEntropyBackward(Tensor dlogits, Tensor logits, Tensor labels) {
        throw new UnsupportedOperationException("CpuLoss not implemented yet");
    }

}
