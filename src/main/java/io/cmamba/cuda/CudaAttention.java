package io.cmamba.cuda;

import io.cmamba.tensor.AttentionKind;
import io.cmamba.tensor.Saved;
import io.cmamba.tensor.Tensor;

/** Multi-head attention (the baseline) on the GPU (kernels/attention.cu); arguments checked by CudaBackend. */
public final class CudaAttention {
    private CudaAttention() {
    }

    public static Saved forward(CudaBackend b, AttentionKind kind, Tensor out, Tensor q, Tensor k, Tensor v, int heads) {
        throw new UnsupportedOperationException("attentionForward: GPU kernel not available in this build");
    }

    public static void backward(CudaBackend b, Saved saved, Tensor dq, Tensor dk, Tensor dv, Tensor dout) {
        throw new UnsupportedOperationException("attentionBackward: GPU kernel not available in this build");
    }
}
