package io.cmamba.cuda;

import io.cmamba.tensor.AdamParams;
import io.cmamba.tensor.Tensor;

/** Launcher of kernels/optim.cu: one Adam/AdamW step (shapes checked by the caller). */
final class CudaAdam {
    private CudaAdam() {
    }

    static void step(CudaBackend b, Tensor param, Tensor grad, Tensor m, Tensor v, AdamParams p) {
        long n = param.size();
        if (n == 0) return;
        double c1 = 1 - Math.pow(p.beta1(), p.step()), c2 = 1 - Math.pow(p.beta2(), p.step());
        b.launch(b.kernel("optim.cu", "adam_f32"), Dim3.of(b.gridFor((n + 3) / 4, 256)), Dim3.of(256), 0,
                param, grad, m, v, n, (float) p.lr(), (float) p.beta1(), (float) p.beta2(), (float) (1 - p.beta1()),
                (float) (1 - p.beta2()), (float) p.eps(),
                (float) p.weightDecay(), p.decoupled(), (float) c1, (float) c2, (float) p.gradScale());
    }
}
