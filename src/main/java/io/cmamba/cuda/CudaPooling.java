package io.cmamba.cuda;

import io.cmamba.tensor.Tensor;

/** Launchers of kernels/pooling.cu (shapes checked by the caller; bad lengths/argmax reported by the kernels). */
final class CudaPooling {
    private CudaPooling() {
    }

    private static final String FILE = "pooling.cu";
    private static final int THREADS = 256;

    private static Dim3 grid(CudaBackend b, long n) {
        return Dim3.of(b.gridFor(n, THREADS));
    }

    static void lengthPoolForward(CudaBackend b, Tensor out, Tensor x, Tensor lengths) {
        if (out.size() == 0) return;
        b.launch(b.kernel(FILE, "length_pool_fwd_f32"), grid(b, out.size()), Dim3.of(THREADS), 0,
                out, x, lengths, x.dim(0), x.dim(1), x.dim(2), out.dim(1), b.errorWord());
    }

    static void lengthPoolBackward(CudaBackend b, Tensor dx, Tensor dout, Tensor lengths) {
        if (dx.size() == 0) return;
        b.launch(b.kernel(FILE, "length_pool_bwd_f32"), grid(b, dx.size()), Dim3.of(THREADS), 0,
                dx, dout, lengths, dx.dim(0), dx.dim(1), dx.dim(2), dout.dim(1), b.errorWord());
    }

    static void maxPoolTimeForward(CudaBackend b, Tensor out, Tensor argmax, Tensor x) {
        if (x.dim(1) == 0) throw new IllegalArgumentException("maxPoolTime: x " + x.shape() + " has no time steps");
        if (out.size() == 0) return;
        if (x.dim(0) > 65535) throw new IllegalArgumentException("maxPoolTime: batch " + x.dim(0) + " exceeds 65535");
        // 32 channels x 16 time slices per block (kernels/pooling.cu)
        b.launch(b.kernel(FILE, "max_pool_time_fwd_f32"), Dim3.of((x.dim(2) + 31) / 32, x.dim(0), 1), Dim3.of(32, 16, 1), 0,
                out, argmax, x, x.dim(0), x.dim(1), x.dim(2));
    }

    static void maxPoolTimeBackward(CudaBackend b, Tensor dx, Tensor dout, Tensor argmax) {
        if (dx.size() == 0) return;
        b.launch(b.kernel(FILE, "max_pool_time_bwd_f32"), grid(b, dx.size()), Dim3.of(THREADS), 0,
                dx, dout, argmax, dx.dim(0), dx.dim(1), dx.dim(2), b.errorWord());
    }

    static void softmaxFusionForward(CudaBackend b, Tensor out, Tensor x, Tensor w) {
        int m = x.dim(0);
        long n = (long) x.dim(1) * x.dim(2);
        if (n == 0) return;
        b.launch(b.kernel(FILE, "softmax_fusion_fwd_f32"), grid(b, n), Dim3.of(THREADS), 0, out, x, w, m, n);
    }

    static void softmaxFusionBackward(CudaBackend b, Tensor dx, Tensor dw, Tensor dout, Tensor x, Tensor w) {
        int m = x.dim(0);
        long n = (long) x.dim(1) * x.dim(2);
        if (m == 0) return;
        if (m > 1024) throw new IllegalArgumentException("softmaxFusion on the GPU takes at most 1024 modalities, got " + m);
        int blocks = (int) Math.max(1, Math.min((n + THREADS - 1) / THREADS, 4L * b.device().smCount() / m + 1));
        try (DeviceBuffer partials = b.scratch((long) m * blocks * 4)) {
            b.launch(b.kernel(FILE, "softmax_fusion_bwd_partial_f32"), Dim3.of(blocks, m), Dim3.of(THREADS), 0,
                    dx, partials, dout, x, w, m, n);
            b.launch(b.kernel(FILE, "softmax_fusion_bwd_finish_f32"), Dim3.of(1), Dim3.of((m + 31) / 32 * 32), 0,
                    dw, partials, w, m, blocks);
        }
    }
}
