package io.cmamba.cuda;

import io.cmamba.tensor.Tensor;

/** Launchers of kernels/loss.cu (shapes checked by the caller; bad labels reported by the kernels). */
final class CudaLoss {
    private CudaLoss() {
    }

    private static final String FILE = "loss.cu";
    private static final int THREADS = 256;

    private static int batchOf(String op, Tensor t) {
        int n = t.dim(0);
        if (n == 0) throw new IllegalArgumentException(op + ": empty batch (shape " + t.shape() + ")");
        return n;
    }

    static void l1Forward(CudaBackend b, Tensor loss, Tensor pred, Tensor target) {
        int n = batchOf("l1Loss", pred);
        b.launch(b.kernel(FILE, "l1_fwd_f32"), Dim3.of(1), Dim3.of(THREADS), 0, loss, pred, target, n);
    }

    static void l1Backward(CudaBackend b, Tensor dpred, Tensor pred, Tensor target) {
        int n = batchOf("l1Loss", pred);
        b.launch(b.kernel(FILE, "l1_bwd_f32"), Dim3.of(b.gridFor(n, THREADS)), Dim3.of(THREADS), 0, dpred, pred, target, n);
    }

    static void crossEntropyForward(CudaBackend b, Tensor loss, Tensor logits, Tensor labels) {
        int n = batchOf("crossEntropy", logits);
        b.launch(b.kernel(FILE, "ce_fwd_f32"), Dim3.of(1), Dim3.of(THREADS), 0, loss, logits, labels, n, logits.dim(1), b.errorWord());
    }

    static void crossEntropyBackward(CudaBackend b, Tensor dlogits, Tensor logits, Tensor labels) {
        int n = batchOf("crossEntropy", logits);
        if (logits.dim(1) == 0) return;
        // one warp per row
        b.launch(b.kernel(FILE, "ce_bwd_f32"), Dim3.of(b.gridFor(32L * n, THREADS)), Dim3.of(THREADS), 0,
                dlogits, logits, labels, n, logits.dim(1), b.errorWord());
    }
}
