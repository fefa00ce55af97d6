package io.cmamba.cuda;

import io.cmamba.tensor.Tensor;

/** Launchers of kernels/norm.cu: LayerNorm and RMSNorm, one warp per row (shapes checked by the caller). */
final class CudaNorm {
    private CudaNorm() {
    }

    private static final String FILE = "norm.cu";
    /** Rows per block: NORM_WARPS in norm.cu. */
    private static final int WARPS = 8;

    private static Dim3 rowGrid(CudaBackend b, long rows) {
        return Dim3.of(b.gridFor(rows, WARPS));
    }

    static void layerNormForward(CudaBackend b, Tensor out, Tensor mean, Tensor rstd, Tensor x, Tensor gamma, Tensor beta, double eps) {
        long rows = x.shape().rows();
        int n = x.shape().cols();
        if (rows == 0) return;
        b.launch(b.kernel(FILE, "layernorm_fwd_f32"), rowGrid(b, rows), Dim3.of(32 * WARPS), 0,
                out, mean, rstd, x, gamma, beta, rows, n, (float) eps);
    }

    static void layerNormBackward(CudaBackend b, Tensor dx, Tensor dgamma, Tensor dbeta, Tensor dout, Tensor x, Tensor mean,
                                  Tensor rstd, Tensor gamma) {
        long rows = x.shape().rows();
        int n = x.shape().cols();
        // parameter sums first: they read dout, which dx may overwrite
        if (n > 0 && (dgamma != null || dbeta != null)) {
            ColumnSums plan = ColumnSums.plan(rows, n, b.device().smCount());
            int parts = dbeta != null ? 2 : 1;
            long slice = (long) Math.max(1, plan.chunks()) * n;
            try (DeviceBuffer partials = b.scratch(parts * slice * 4)) {
                if (plan.chunks() > 0)
                    b.launch(b.kernel(FILE, "layernorm_bwd_params_partial_f32"), Dim3.of(plan.strips(), plan.chunks(), parts),
                            Dim3.of(32, 8), 0, partials, dout, x, mean, rstd, rows, n, plan.rowsPerChunk());
                CudaFunction finish = b.kernel(FILE, "norm_params_finish_f32");
                Dim3 grid = Dim3.of(b.gridFor(n, 256));
                if (dgamma != null) {
                    // with dbeta absent the single slice holds dgamma; with both, slice 0 is dgamma
                    b.launch(finish, grid, Dim3.of(256), 0, dgamma, partials.address(), plan.chunks(), n);
                }
                if (dbeta != null)
                    b.launch(finish, grid, Dim3.of(256), 0, dbeta, partials.address() + slice * 4 * (parts - 1), plan.chunks(), n);
            }
        }
        if (rows == 0) return;
        b.launch(b.kernel(FILE, "layernorm_bwd_dx_f32"), rowGrid(b, rows), Dim3.of(32 * WARPS), 0,
                dx, dout, x, mean, rstd, gamma, rows, n);
    }

    static void rmsNormForward(CudaBackend b, Tensor out, Tensor rstd, Tensor x, Tensor gamma, double eps) {
        long rows = x.shape().rows();
        if (rows == 0) return;
        b.launch(b.kernel(FILE, "rmsnorm_fwd_f32"), rowGrid(b, rows), Dim3.of(32 * WARPS), 0,
                out, rstd, x, gamma, rows, x.shape().cols(), (float) eps);
    }

    static void rmsNormBackward(CudaBackend b, Tensor dx, Tensor dgamma, Tensor dout, Tensor x, Tensor rstd, Tensor gamma) {
        long rows = x.shape().rows();
        int n = x.shape().cols();
        if (dgamma != null && n > 0) {
            ColumnSums plan = ColumnSums.plan(rows, n, b.device().smCount());
            try (DeviceBuffer partials = b.scratch((long) Math.max(1, plan.chunks()) * n * 4)) {
                if (plan.chunks() > 0)
                    b.launch(b.kernel(FILE, "rmsnorm_bwd_params_partial_f32"), Dim3.of(plan.strips(), plan.chunks()),
                            Dim3.of(32, 8), 0, partials, dout, x, rstd, rows, n, plan.rowsPerChunk());
                b.launch(b.kernel(FILE, "norm_params_finish_f32"), Dim3.of(b.gridFor(n, 256)), Dim3.of(256), 0,
                        dgamma, partials, plan.chunks(), n);
            }
        }
        if (rows == 0) return;
        b.launch(b.kernel(FILE, "rmsnorm_bwd_dx_f32"), rowGrid(b, rows), Dim3.of(32 * WARPS), 0,
                dx, dout, x, rstd, gamma, rows, n);
    }
}
