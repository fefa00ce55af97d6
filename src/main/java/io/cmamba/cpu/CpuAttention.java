package io.cmamba.cpu;

import io.cmamba.tensor.*;

/** TODO(owner): implement. Signatures are fixed by CpuBackend. */
final class CpuAttention {
    private CpuAttention() {
    }

    static Saved forward(AttentionKind kind, Tensor out, Tensor q, Tensor k, Tensor v, int heads) {
        throw new UnsupportedOperationException("CpuAttention not implemented yet");
    }

    static void backward(Saved saved, Tensor dq, Tensor dk, Tensor dv, Tensor dout) {
        throw new UnsupportedOperationException("CpuAttention not implemented yet");
    }

}
