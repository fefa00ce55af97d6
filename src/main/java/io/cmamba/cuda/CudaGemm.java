package io.cmamba.cuda;

import io.cmamba.tensor.Tensor;
import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;

import static org.bytedeco.cuda.global.cublas.*;

/**
 * C = alpha op(A) op(B) + beta C on row-major device tensors, by cuBLAS (bytedeco's binding,
 * running on this package's own memory and stream) or by the hand-written tiled kernel of
 * kernels/gemm.cu.
 * <ul>
 *   <li>-Dcmamba.gemm=auto (default): cuBLAS when it loads, else the tiled kernel;
 *       =cublas requires cuBLAS; =tiled forces the kernel.</li>
 *   <li>-Dcmamba.tf32=true lets cuBLAS use TF32 tensor cores (10-bit mantissa inputs); the default
 *       is full FP32.</li>
 * </ul>
 * cuBLAS is column-major: a row-major [r, c] matrix is its column-major transpose, so
 * C^T = op(B)^T op(A)^T is one column-major call with the operands swapped, m and n swapped, and
 * each operand's own transpose flag and leading dimension (its row length) unchanged.
 */
public final class CudaGemm implements AutoCloseable {
    /** A bytedeco pointer at a device address (javacpp passes the address through untouched). */
    static final class DeviceFloats extends FloatPointer {
        DeviceFloats(long address) {
            super();
            this.address = address;
        }
    }

    /** A bytedeco pointer at a raw address of another kind (a stream). */
    static final class RawPointer extends Pointer {
        RawPointer(long address) {
            super();
            this.address = address;
        }
    }

    public enum Path { CUBLAS, TILED }

    private final CudaBackend backend;
    private final boolean tf32;
    private final String mode;
    private cublasContext handle;
    private String cublasProblem;
    private int cublasVersion;
    private FloatPointer alphaHost, betaHost;

    CudaGemm(CudaBackend backend) {
        this.backend = backend;
        this.tf32 = Boolean.getBoolean("cmamba.tf32");
        this.mode = System.getProperty("cmamba.gemm", "auto").trim().toLowerCase();
        if (!mode.equals("auto") && !mode.equals("cublas") && !mode.equals("tiled"))
            throw new IllegalArgumentException("-Dcmamba.gemm=" + mode + ": expected auto, cublas or tiled");
        if (mode.equals("tiled")) {
            cublasProblem = "-Dcmamba.gemm=tiled";
        } else {
            try {
                openCublas();
            } catch (LinkageError | RuntimeException e) {
                handle = null;
                cublasProblem = "cuBLAS did not load: " + Cuda.firstLine(e);
                if (mode.equals("cublas"))
                    throw new CudaException("-Dcmamba.gemm=cublas but " + cublasProblem, e);
            }
        }
    }

    private void openCublas() {
        backend.context().makeCurrent();
        cublasContext h = new cublasContext();
        checkBlas(cublasCreate_v2(h), "cublasCreate_v2", "creating a cuBLAS handle");
        handle = h;
        checkBlas(cublasSetStream_v2(h, new CUstream_st(new RawPointer(backend.stream().address()))), "cublasSetStream_v2", "");
        checkBlas(cublasSetMathMode(h, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH), "cublasSetMathMode", "");
        int[] v = new int[1];
        checkBlas(cublasGetVersion_v2(h, v), "cublasGetVersion_v2", "");
        cublasVersion = v[0];
        alphaHost = new FloatPointer(1);
        betaHost = new FloatPointer(1);
    }

    private static void checkBlas(int status, String call, String what) {
        if (status != CUBLAS_STATUS_SUCCESS)
            throw new CudaException(call, status, call + " failed with cuBLAS status " + status + (what.isEmpty() ? "" : " while " + what));
    }

    /** The path {@link #gemm} takes. */
    public Path path() {
        return handle != null ? Path.CUBLAS : Path.TILED;
    }

    public boolean cublasAvailable() {
        return handle != null;
    }

    /** "cuBLAS 130100 (FP32)" or "tiled kernel (cuBLAS did not load: ...)". */
    public String describe() {
        return handle != null ? "cuBLAS " + cublasVersion + (tf32 ? " (TF32 tensor cores)" : " (FP32)")
                : "tiled kernel (" + cublasProblem + ")";
    }

    /** Shapes checked by the caller (OpChecks.gemm). */
    public void gemm(boolean transA, boolean transB, double alpha, Tensor a, Tensor b, double beta, Tensor c) {
        if (handle != null) cublas(transA, transB, alpha, a, b, beta, c);
        else tiled(transA, transB, alpha, a, b, beta, c);
    }

    private record Dims(int m, int n, int k, int lda, int ldb) {
    }

    private static Dims dims(boolean transA, boolean transB, Tensor a, Tensor b, Tensor c) {
        int m = Math.toIntExact(c.shape().rows()), n = c.shape().cols();
        int k = Math.toIntExact(transA ? a.shape().rows() : a.shape().cols());
        return new Dims(m, n, k, a.shape().cols(), b.shape().cols());
    }

    /** Returns true when nothing is left to compute (an empty C, or K = 0 handled as C = beta C). */
    private boolean trivial(Dims d, double beta, Tensor c) {
        if (d.m() == 0 || d.n() == 0) return true;
        if (d.k() == 0) {
            backend.elementwise().axpby(c, 0, c, beta, c);
            return true;
        }
        return false;
    }

    /** The cuBLAS path (throws when cuBLAS is not loaded). */
    public synchronized void cublas(boolean transA, boolean transB, double alpha, Tensor a, Tensor b, double beta, Tensor c) {
        if (handle == null) throw new IllegalStateException("cuBLAS is not available: " + cublasProblem);
        Dims d = dims(transA, transB, a, b, c);
        if (trivial(d, beta, c)) return;
        backend.context().makeCurrent();
        alphaHost.put(0, (float) alpha);
        betaHost.put(0, (float) beta);
        backend.profiled("cublasSgemm", work(d, beta, a, b, c), () -> {
            int status = cublasSgemm_v2(handle, transB ? CUBLAS_OP_T : CUBLAS_OP_N, transA ? CUBLAS_OP_T : CUBLAS_OP_N,
                    d.n(), d.m(), d.k(), alphaHost, new DeviceFloats(CudaStorage.address(b)), d.ldb(),
                    new DeviceFloats(CudaStorage.address(a)), d.lda(), betaHost, new DeviceFloats(CudaStorage.address(c)), d.n());
            if (status != CUBLAS_STATUS_SUCCESS)   // the message only on failure: this is every GEMM's path
                checkBlas(status, "cublasSgemm_v2", "computing C " + c.shape() + " = op(A " + a.shape() + (transA ? "^T" : "")
                        + ") op(B " + b.shape() + (transB ? "^T" : "") + ")");
        });
        if (CudaFunction.SYNC_EACH_LAUNCH) backend.stream().synchronize();
    }

    /** A, B read once, C written once (and read when beta is not 0); M N K FMAs. */
    private static KernelWork work(Dims d, double beta, Tensor a, Tensor b, Tensor c) {
        double bytes = 4.0 * (a.size() + b.size() + c.size() * (beta != 0 ? 2 : 1));
        return new KernelWork(bytes, (double) d.m() * d.n() * d.k(), 0);
    }

    /** The hand-written kernel (kernels/gemm.cu). */
    public void tiled(boolean transA, boolean transB, double alpha, Tensor a, Tensor b, double beta, Tensor c) {
        Dims d = dims(transA, transB, a, b, c);
        if (trivial(d, beta, c)) return;
        String name = "sgemm_" + (transA ? "t" : "n") + (transB ? "t" : "n");
        CudaFunction f = backend.kernel("gemm.cu", name);
        int gx = (d.n() + 127) / 128, gy = (d.m() + 127) / 128;
        int splits = splitK(gx * gy, d.k(), backend.device().smCount());
        if (splits == 1) {
            backend.launch(work(d, beta, a, b, c), f, Dim3.of(gx, gy), Dim3.of(256), 0,
                    d.m(), d.n(), d.k(), (float) alpha, a, d.lda(), b, d.ldb(), (float) beta, c, d.k(), null);
            return;
        }
        int chunk = (d.k() + splits - 1) / splits;
        chunk = (chunk + 7) / 8 * 8;
        splits = (d.k() + chunk - 1) / chunk;
        long mn = (long) d.m() * d.n();
        try (DeviceBuffer partials = backend.scratch(splits * mn * 4)) {
            backend.launch(work(d, 0, a, b, c).plus(new KernelWork(4.0 * (splits - 1) * mn, 0, 0)), f, Dim3.of(gx, gy, splits), Dim3.of(256), 0,
                    d.m(), d.n(), d.k(), 1f, a, d.lda(), b, d.ldb(), 0f, c, chunk, partials);
            backend.launch(backend.kernel("gemm.cu", "sgemm_splitk_reduce"), Dim3.of(backend.gridFor(mn, 256)), Dim3.of(256), 0,
                    c, partials, splits, mn, (float) alpha, (float) beta);
        }
    }

    /**
     * Slices of K for the tiled kernel: 1 when C's tiles fill the GPU; otherwise enough slices to give
     * about two blocks per SM, each at least 512 long (shorter slices cost more in the reduction than
     * they gain).
     */
    static int splitK(int tiles, int k, int smCount) {
        if (tiles >= smCount || k < 1024) return 1;
        int want = (2 * smCount + tiles - 1) / tiles;
        return Math.max(1, Math.min(Math.min(want, k / 512), 64));
    }

    @Override
    public synchronized void close() {
        if (handle != null) {
            backend.context().makeCurrent();
            cublasDestroy_v2(handle);
            handle = null;
            alphaHost.close();
            betaHost.close();
        }
    }
}
