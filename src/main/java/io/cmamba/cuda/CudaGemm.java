package io.cmamba.cuda;

import io.cmamba.tensor.Tensor;
import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.cuda.global.cublas;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Loader;

/**
 * Row-major GEMM on the device: cuBLAS through bytedeco on the backend's own memory (FP32 by
 * default, TF32 tensor cores with -Dcmamba.tf32=true), or the hand-written tiled kernel of gemm.cu
 * where cuBLAS cannot load or with -Dcmamba.gemm=tiled. Row-major C = op(A) op(B) is column-major
 * C^T = op(B)^T op(A)^T, so cuBLAS gets B first.
 */
final class CudaGemm implements AutoCloseable {
    /** A bytedeco pointer over device memory the project allocated (javacpp's address is protected). */
    static final class DeviceFloats extends FloatPointer {
        DeviceFloats(long address, long count) {
            this.address = address;
            this.capacity = count;
            this.limit = count;
        }
    }

    private final CudaBackend backend;
    private cublasContext handle;
    private final String why;

    CudaGemm(CudaBackend backend) {
        this.backend = backend;
        String reason = null;
        if (!"tiled".equals(System.getProperty("cmamba.gemm"))) {
            try {
                Loader.load(cublas.class);
                handle = new cublasContext();
                int rc = cublas.cublasCreate_v2(handle);
                if (rc != cublas.CUBLAS_STATUS_SUCCESS) {
                    reason = "cublasCreate failed with status " + rc;
                    handle = null;
                } else if (Boolean.getBoolean("cmamba.tf32")) {
                    cublas.cublasSetMathMode(handle, cublas.CUBLAS_TF32_TENSOR_OP_MATH);
                }
            } catch (Throwable t) {
                reason = "cuBLAS did not load: " + Driver.firstLine(t.getMessage() == null ? t.toString() : t.getMessage());
                handle = null;
            }
        } else {
            reason = "cmamba.gemm=tiled";
        }
        this.why = reason;
    }

    /** "cublas" (with "tf32" when enabled) or "tiled (reason)". */
    String engine() {
        return handle != null ? (Boolean.getBoolean("cmamba.tf32") ? "cublas tf32" : "cublas fp32") : "tiled (" + why + ")";
    }

    boolean usesCublas() {
        return handle != null;
    }

    void run(boolean transA, boolean transB, double alpha, Tensor a, Tensor b, double beta, Tensor c) {
        int m = (int) (transA ? a.shape().cols() : a.shape().rows());
        int k = (int) (transA ? a.shape().rows() : a.shape().cols());
        int n = (int) (transB ? b.shape().rows() : b.shape().cols());
        if (m == 0 || n == 0) return;
        if (handle != null) runCublas(transA, transB, m, n, k, alpha, a, b, beta, c);
        else runTiled(transA, transB, m, n, k, alpha, a, b, beta, c);
    }

    void runTiled(boolean transA, boolean transB, int m, int n, int k, double alpha, Tensor a, Tensor b, double beta, Tensor c) {
        backend.kernel("gemm.cu", "sgemm_tiled").launch((n + 63) / 64, (m + 63) / 64, 1, 256, 1, 1, 0,
                m, n, k, (float) alpha, a, transA, b, transB, (float) beta, c);
    }

    private void runCublas(boolean transA, boolean transB, int m, int n, int k, double alpha, Tensor a, Tensor b, double beta, Tensor c) {
        backend.device.makeCurrent();
        try (FloatPointer al = new FloatPointer((float) alpha); FloatPointer be = new FloatPointer((float) beta)) {
            int lda = transA ? m : k, ldb = transB ? k : n;
            int rc = cublas.cublasSgemm_v2(handle, transB ? cublas.CUBLAS_OP_T : cublas.CUBLAS_OP_N,
                    transA ? cublas.CUBLAS_OP_T : cublas.CUBLAS_OP_N, n, m, k, al,
                    new DeviceFloats(CudaBackend.address(b), b.size()), ldb,
                    new DeviceFloats(CudaBackend.address(a), a.size()), lda, be,
                    new DeviceFloats(CudaBackend.address(c), c.size()), n);
            if (rc != cublas.CUBLAS_STATUS_SUCCESS)
                throw new CudaException("cublasSgemm(" + m + " x " + n + " x " + k + ", transA " + transA + ", transB " + transB
                        + ") failed with status " + rc);
        }
    }

    @Override
    public void close() {
        if (handle != null) {
            cublas.cublasDestroy_v2(handle);
            handle = null;
        }
    }
}
