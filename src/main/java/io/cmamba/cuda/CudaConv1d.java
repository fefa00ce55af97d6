package io.cmamba.cuda;

import io.cmamba.tensor.Tensor;

/** Launchers of kernels/conv1d.cu: depthwise causal conv, x [B, L, D], w [D, K] (shapes checked by the caller). */
final class CudaConv1d {
    private CudaConv1d() {
    }

    private static final String FILE = "conv1d.cu";
    private static final int THREADS = 256;

    static void forward(CudaBackend b, Tensor out, Tensor x, Tensor w, Tensor bias, Tensor history) {
        int batch = x.dim(0), len = x.dim(1), d = x.dim(2), k = w.dim(1);
        long n = x.size();
        if (n == 0) return;
        b.launch(b.kernel(FILE, "conv1d_fwd_f32"), Dim3.of(b.gridFor(n, THREADS)), Dim3.of(THREADS), 0,
                out, x, w, bias, history, batch, len, d, k);
    }

    static void backward(CudaBackend b, Tensor dx, Tensor dw, Tensor dbias, Tensor dout, Tensor x, Tensor w) {
        int batch = x.dim(0), len = x.dim(1), d = x.dim(2), k = w.dim(1);
        long rows = (long) batch * len;
        if (d == 0) return;
        ColumnSums plan = ColumnSums.plan(rows, d, b.device().smCount());
        try (DeviceBuffer partials = b.scratch((long) (k + 1) * Math.max(1, plan.chunks()) * d * 4)) {
            if (plan.chunks() > 0)
                b.launch(b.kernel(FILE, "conv1d_bwd_params_partial_f32"), Dim3.of(plan.strips(), plan.chunks(), k + 1),
                        Dim3.of(32, 8), 0, partials, dout, x, batch, len, d, k, plan.rowsPerChunk());
            b.launch(b.kernel(FILE, "conv1d_params_finish_f32"), Dim3.of(b.gridFor((long) d * (k + 1), THREADS)),
                    Dim3.of(THREADS), 0, dw, dbias, partials, plan.chunks(), d, k);
        }
        if (rows == 0) return;
        b.launch(b.kernel(FILE, "conv1d_bwd_dx_f32"), Dim3.of(b.gridFor(x.size(), THREADS)), Dim3.of(THREADS), 0,
                dx, dout, w, batch, len, d, k);
    }
}
