package io.cmamba.cuda;

import io.cmamba.tensor.Activation;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;

/** Launchers of kernels/elementwise.cu (shapes checked by the caller). */
final class CudaElementwise {
    private static final String FILE = "elementwise.cu";
    private static final int THREADS = 256;
    private final CudaBackend b;

    CudaElementwise(CudaBackend b) {
        this.b = b;
    }

    private CudaFunction k(String name) {
        return b.kernel(FILE, name);
    }

    private void pointwise(String name, long n, Object... args) {
        if (n == 0) return;
        b.launch(k(name), Dim3.of(b.gridFor((n + 3) / 4, THREADS)), Dim3.of(THREADS), 0, args);
    }

    void fill(Tensor out, double value) {
        int bits = out.dtype() == DType.I32 ? (int) value : Float.floatToRawIntBits((float) value);
        pointwise("fill_u32", out.size(), out, out.size(), bits);
    }

    void copyBlock(Tensor out, long outOffset, long outStride, Tensor src, long srcOffset, long srcStride, int rows, int cols) {
        if (rows == 0 || cols == 0) return;
        long o = CudaBackend.address(out) + outOffset * 4, s = CudaBackend.address(src) + srcOffset * 4;
        // raw addresses (offsets into the tensors), so the profiler is told the bytes: each element read and written
        b.launch(new KernelWork(8.0 * rows * cols, 0, 0), k("copy_block_u32"), Dim3.of(b.gridFor(((long) rows * cols + 3) / 4, THREADS)),
                Dim3.of(THREADS), 0, o, outStride, s, srcStride, rows, cols);
    }

    void axpby(Tensor out, double alpha, Tensor a, double beta, Tensor bb) {
        pointwise("axpby_f32", out.size(), out, out.size(), (float) alpha, a, (float) beta, bb);
    }

    void mul(Tensor out, Tensor a, Tensor bb) {
        pointwise("mul_f32", out.size(), out, out.size(), a, bb);
    }

    void activationForward(Activation f, Tensor out, Tensor x) {
        pointwise("activation_fwd_f32", out.size(), out, out.size(), x, f.ordinal());
    }

    void activationBackward(Activation f, Tensor dx, Tensor dout, Tensor x) {
        pointwise("activation_bwd_f32", dx.size(), dx, dx.size(), dout, x, f.ordinal());
    }

    void addBias(Tensor x, Tensor bias) {
        pointwise("add_bias_f32", x.size(), x, x.shape().rows(), x.shape().cols(), bias);
    }

    void sumRows(Tensor out, Tensor x) {
        long rows = x.shape().rows();
        int cols = x.shape().cols();
        if (cols == 0) return;
        ColumnSums plan = ColumnSums.plan(rows, cols, b.device().smCount());
        try (DeviceBuffer partials = b.scratch((long) Math.max(1, plan.chunks()) * cols * 4)) {
            if (plan.chunks() > 0)
                b.launch(k("sum_rows_partial_f32"), Dim3.of(plan.strips(), plan.chunks()), Dim3.of(32, 8), 0,
                        partials, x, rows, cols, plan.rowsPerChunk());
            b.launch(k("sum_rows_finish_f32"), Dim3.of(b.gridFor(cols, THREADS)), Dim3.of(THREADS), 0,
                    out, partials, plan.chunks(), cols);
        }
    }

    /** mode 0: out = sum of x^2; mode 1: out = count of non-finite x. Float64 partials, fixed partition. */
    void reduceToScalar(Tensor out, Tensor x, int mode) {
        long n = x.size();
        int blocks = (int) Math.min(Math.max(1, (n + THREADS - 1) / THREADS), 2L * b.device().smCount() * 4);
        try (DeviceBuffer partials = b.scratch((long) blocks * 8)) {
            b.launch(k("reduce_partial_f32"), Dim3.of(blocks), Dim3.of(THREADS), 0, partials, x, n, mode);
            b.launch(k("reduce_finish_f32"), Dim3.of(1), Dim3.of(1024), 0, out, partials, blocks);
        }
    }
}
