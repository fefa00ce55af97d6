package io.cmamba.cuda;

import io.cmamba.tensor.Activation;
import io.cmamba.tensor.AdamParams;
import io.cmamba.tensor.AttentionKind;
import io.cmamba.tensor.Backend;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.OpChecks;
import io.cmamba.tensor.Saved;
import io.cmamba.tensor.ScanGrads;
import io.cmamba.tensor.ScanInputs;
import io.cmamba.tensor.Shape;
import io.cmamba.tensor.Tensor;
import io.cmamba.tensor.Tensors;
import jcuda.Pointer;
import jcuda.driver.JCudaDriver;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The GPU backend: F32 and I32 tensors in device memory, every op a kernel compiled at run time by
 * NVRTC (kernels/*.cu) or a cuBLAS call, all issued in order on one stream.
 *
 * <h2>Runtime API for kernel wrappers</h2>
 * An op family lives in its own class holding static methods that take this backend first:
 * <pre>
 *   CudaFunction f = backend.kernel("coupled_scan_fwd.cu", "scan_fwd_f32"); // compiled once, cached on disk
 *   try (DeviceBuffer scratch = backend.scratch(bytes)) {                     // from the caching allocator
 *       backend.launch(f, Dim3.of(blocks, m), Dim3.of(256), sharedBytes,
 *                      out, u, scratch, batch, length, (float) scale);       // Tensor, DeviceBuffer, Integer, Float...
 *   }                                                                         // freeing is safe: stream-ordered
 * </pre>
 * {@link #kernel} loads kernels/FILE from the class path (its quoted includes of other kernels/
 * files become NVRTC headers), compiles it for this device's arch (or takes the cached CUBIN) and
 * looks the extern "C" function up; {@link #launch} checks the shape and every CUDA result, naming
 * the kernel, grid, block and shared size on error. {@link #address} is a tensor's device pointer,
 * {@link #gridFor} a grid for grid-stride loops, {@link #errorWord} the device error record that
 * kernels fill for bad indices (see common.cuh), {@link #stream} the stream to record
 * {@link CudaEvent}s on and {@link CudaTimer} times with.
 */
public final class CudaBackend implements Backend {
    private final CudaDevice device;
    private final CudaContext context;
    private final CudaStream stream;
    private final CachingAllocator allocator;
    private final KernelCompiler compiler;
    private final Map<String, CudaModule> modules = new HashMap<>();
    private final DeviceBuffer errorWord;
    private final CudaGemm gemm;
    private final CudaElementwise elementwise;
    private final List<ByteBuffer> pendingUploads = new ArrayList<>();
    private long pendingBytes;
    private KernelProfiler profiler;
    private boolean closed;

    /** Opens device {@code index}: context, stream, allocator, NVRTC (the chosen binding) and cuBLAS. */
    public CudaBackend(int index) {
        this(index, driverThenNvrtc(), new KernelCache(KernelCache.defaultDir()));
    }

    /** The NVRTC binding, once the driver is known to load: without a GPU, the error says that, not "no NVRTC". */
    private static NvrtcProvider driverThenNvrtc() {
        Cuda.init();
        return Nvrtc.provider();
    }

    /** Opens device {@code index} with a given compiler and cache (tests, benchmarks). */
    public CudaBackend(int index, NvrtcProvider nvrtc, KernelCache cache) {
        Cuda.init();
        this.device = CudaDevice.get(index);
        this.context = new CudaContext(device);
        this.stream = new CudaStream();
        this.allocator = new CachingAllocator(new CudaRawMemory(context), "cuda:" + index);
        this.compiler = new KernelCompiler(nvrtc, cache, device.arch());
        this.errorWord = allocator.allocate(16);
        Cuda.check(JCudaDriver.cuMemsetD32Async(errorWord.pointer(0), 0, 4, stream.handle()), "cuMemsetD32Async", "clearing the error record");
        this.elementwise = new CudaElementwise(this);
        this.gemm = new CudaGemm(this);
    }

    // ---------------------------------------------------------------- runtime API

    public CudaDevice device() {
        return device;
    }

    public CudaContext context() {
        return context;
    }

    /** The stream every op of this backend is issued on. */
    public CudaStream stream() {
        return stream;
    }

    public CachingAllocator allocator() {
        return allocator;
    }

    public KernelCompiler compiler() {
        return compiler;
    }

    public CudaGemm gemmEngine() {
        return gemm;
    }

    CudaElementwise elementwise() {
        return elementwise;
    }

    /** Lines for `cmamba info`: device, driver, NVRTC, kernel cache, GEMM path. */
    public List<String> describeRuntime() {
        int dv = Cuda.driverVersion();
        return List.of("device: " + device.describe(),
                "driver: CUDA " + dv / 1000 + "." + (dv % 1000) / 10,
                "nvrtc: " + compiler.nvrtc().describe(),
                "kernel cache: " + (compiler.cache().dir() == null ? "off" : compiler.cache().dir().toString()),
                "gemm: " + gemm.describe());
    }

    /** The module compiled from kernels/{@code file} (loaded once per backend). */
    public synchronized CudaModule module(String file) {
        checkOpen();
        CudaModule m = modules.get(file);
        if (m == null) {
            KernelSource src = KernelSource.load(file);
            m = new CudaModule(context, src.fileName(), compiler.cubin(src));
            modules.put(file, m);
        }
        return m;
    }

    /**
     * The module compiled from kernels/{@code file} with {@code prelude} (lines such as
     * "#define CS_M 3") put before its text: one module per distinct prelude, so that a file can
     * instantiate the compile-time variant a call needs. Cached on disk like any other module.
     */
    public synchronized CudaModule module(String file, String prelude) {
        if (prelude == null || prelude.isEmpty()) return module(file);
        checkOpen();
        String key = file + "\u0000" + prelude;
        CudaModule m = modules.get(key);
        if (m == null) {
            KernelSource src = KernelSource.load(file);
            String text = prelude + (prelude.endsWith("\n") ? "" : "\n") + "#line 1 \"" + src.fileName() + "\"\n" + src.text();
            m = new CudaModule(context, src.fileName(), compiler.cubin(KernelSource.of(src.fileName(), text, src.headers())));
            modules.put(key, m);
        }
        return m;
    }

    /** Kernel {@code name} of kernels/{@code file}. */
    public CudaFunction kernel(String file, String name) {
        return module(file).function(name);
    }

    /** Launches on this backend's stream (arguments as in {@link CudaFunction#launch}). */
    public void launch(CudaFunction f, Dim3 grid, Dim3 block, int sharedBytes, Object... args) {
        launch(null, f, grid, block, sharedBytes, args);
    }

    /**
     * As {@link #launch(CudaFunction, Dim3, Dim3, int, Object...)}, stating the launch's least work for
     * the profiler's roofline (null: the bytes of its tensor arguments, {@link KernelWork#ofArguments}).
     */
    public void launch(KernelWork work, CudaFunction f, Dim3 grid, Dim3 block, int sharedBytes, Object... args) {
        checkOpen();
        context.makeCurrent();
        if (profiler == null) f.launch(stream, grid, block, sharedBytes, args);
        else profiler.around(f.name(), work != null ? work : KernelWork.ofArguments(args),
                () -> f.launch(stream, grid, block, sharedBytes, args));
    }

    /** Runs {@code call} (one library call on this stream, e.g. cuBLAS) under the profiler when one is open. */
    void profiled(String name, KernelWork work, Runnable call) {
        if (profiler == null) call.run();
        else profiler.around(name, work, call);
    }

    /**
     * Starts timing every launch on this backend until the returned profiler is finished or closed
     * (see {@link KernelProfiler}); one at a time.
     */
    public KernelProfiler profile() {
        checkOpen();
        if (profiler != null) throw new IllegalStateException("a kernel profile is already running on this backend");
        profiler = new KernelProfiler(this);
        return profiler;
    }

    void stopProfiling(KernelProfiler p) {
        if (profiler == p) profiler = null;
    }

    /**
     * Blocks for a grid-stride loop over {@code work} items with {@code threads} per block: enough
     * to fill every SM several times over, never more than the work needs, at least 1.
     */
    public int gridFor(long work, int threads) {
        long need = (work + threads - 1) / threads;
        long cap = (long) device.smCount() * Math.max(1, 2048 / threads) * 4;
        return (int) Math.max(1, Math.min(need, cap));
    }

    /** Device scratch memory from the caching allocator; close it when the kernels are queued. */
    public DeviceBuffer scratch(long bytes) {
        checkOpen();
        return allocator.allocate(bytes);
    }

    /** The device address of a CUDA tensor's first element. */
    public static long address(Tensor t) {
        return CudaStorage.address(t);
    }

    /** int[4] on the device: {code, a, b, c} of the first bad index a kernel found (0: none). */
    public DeviceBuffer errorWord() {
        return errorWord;
    }

    private void checkOpen() {
        if (closed) throw new IllegalStateException("the CUDA backend of " + device.describe() + " is closed");
    }

    private void own(Tensor... ts) {
        checkOpen();
        context.makeCurrent();
        OpChecks.sameBackend(this, ts);
    }

    // ---------------------------------------------------------------- Backend: memory

    @Override
    public String name() {
        return "cuda:" + device.index();
    }

    @Override
    public boolean supports(DType dtype) {
        return dtype == DType.F32 || dtype == DType.I32;
    }

    private static void requireSupported(DType dtype, int[] shape) {
        if (dtype == DType.F64)
            throw new IllegalArgumentException("the CUDA backend stores F32 and I32 tensors; F64 was requested for shape "
                    + java.util.Arrays.toString(shape) + " (float64 runs on the CPU backend)");
    }

    @Override
    public Tensor empty(DType dtype, int... shape) {
        requireSupported(dtype, shape);
        checkOpen();
        Shape s = Shape.of(shape);
        DeviceBuffer buf = allocator.allocate(s.size() * CudaStorage.ELEMENT_BYTES);
        return new Tensor(this, new CudaStorage(buf, s.size()), 0, s, dtype, true);
    }

    @Override
    public Tensor fromDoubles(DType dtype, double[] values, int... shape) {
        requireSupported(dtype, shape);
        if (dtype == DType.I32) {
            int[] v = new int[values.length];
            for (int i = 0; i < v.length; i++) v[i] = (int) values[i];
            return fromInts(v, shape);
        }
        float[] v = new float[values.length];
        for (int i = 0; i < v.length; i++) v[i] = (float) values[i];
        return fromFloats(v, shape);
    }

    @Override
    public Tensor fromFloats(float[] values, int... shape) {
        Tensor t = empty(DType.F32, shape);
        if (values.length != t.size()) {
            t.close();
            throw new IllegalArgumentException(values.length + " values do not fill shape " + t.shape());
        }
        ByteBuffer b = ByteBuffer.allocateDirect(values.length * 4).order(ByteOrder.nativeOrder());
        b.asFloatBuffer().put(values);
        upload(t, b);
        return t;
    }

    @Override
    public Tensor fromInts(int[] values, int... shape) {
        Tensor t = empty(DType.I32, shape);
        if (values.length != t.size()) {
            t.close();
            throw new IllegalArgumentException(values.length + " values do not fill shape " + t.shape());
        }
        ByteBuffer b = ByteBuffer.allocateDirect(values.length * 4).order(ByteOrder.nativeOrder());
        b.asIntBuffer().put(values);
        upload(t, b);
        return t;
    }

    /**
     * Host to device, ordered on the stream. The host buffer is kept until the next
     * synchronisation, so the copy may still be in flight when this returns.
     */
    private void upload(Tensor t, ByteBuffer data) {
        context.makeCurrent();
        if (data.capacity() == 0) return;
        if (pendingBytes > (256L << 20)) synchronize();
        Cuda.check(JCudaDriver.cuMemcpyHtoDAsync(CudaStorage.pointer(t), Pointer.to(data), data.capacity(), stream.handle()),
                "cuMemcpyHtoDAsync", "uploading " + t.shape() + " (" + CachingAllocator.human(data.capacity()) + ")");
        synchronized (pendingUploads) {
            pendingUploads.add(data);
            pendingBytes += data.capacity();
        }
    }

    /** Device to host: waits for the queued work, then copies. */
    private ByteBuffer download(Tensor t) {
        own(t);
        synchronize();
        long bytes = t.size() * CudaStorage.ELEMENT_BYTES;
        if (bytes > Integer.MAX_VALUE - 8)
            throw new IllegalArgumentException("tensor " + t.shape() + " is too large to read to the host in one array");
        ByteBuffer b = ByteBuffer.allocateDirect((int) bytes).order(ByteOrder.nativeOrder());
        if (bytes == 0) return b;
        Cuda.check(JCudaDriver.cuMemcpyDtoHAsync(Pointer.to(b), CudaStorage.pointer(t), bytes, stream.handle()),
                "cuMemcpyDtoHAsync", "reading " + t.shape() + " to the host");
        stream.synchronize();
        return b;
    }

    @Override
    public double[] toDoubles(Tensor t) {
        ByteBuffer b = download(t);
        double[] r = new double[(int) t.size()];
        if (t.dtype() == DType.I32) {
            java.nio.IntBuffer ib = b.asIntBuffer();
            for (int i = 0; i < r.length; i++) r[i] = ib.get(i);
        } else {
            java.nio.FloatBuffer fb = b.asFloatBuffer();
            for (int i = 0; i < r.length; i++) r[i] = fb.get(i);
        }
        return r;
    }

    @Override
    public float[] toFloats(Tensor t) {
        ByteBuffer b = download(t);
        float[] r = new float[(int) t.size()];
        if (t.dtype() == DType.I32) {
            java.nio.IntBuffer ib = b.asIntBuffer();
            for (int i = 0; i < r.length; i++) r[i] = ib.get(i);
        } else {
            b.asFloatBuffer().get(r);
        }
        return r;
    }

    @Override
    public int[] toInts(Tensor t) {
        ByteBuffer b = download(t);
        int[] r = new int[(int) t.size()];
        if (t.dtype() == DType.I32) {
            b.asIntBuffer().get(r);
        } else {
            java.nio.FloatBuffer fb = b.asFloatBuffer();
            for (int i = 0; i < r.length; i++) r[i] = (int) fb.get(i);
        }
        return r;
    }

    /**
     * Waits for the stream, then reports the first bad index a kernel recorded since the last
     * synchronisation (an IllegalArgumentException naming the op and the values).
     */
    @Override
    public void synchronize() {
        checkOpen();
        context.makeCurrent();
        stream.synchronize();
        synchronized (pendingUploads) {
            pendingUploads.clear();
            pendingBytes = 0;
        }
        int[] err = new int[4];
        Cuda.check(JCudaDriver.cuMemcpyDtoHAsync(Pointer.to(err), errorWord.pointer(0), 16, stream.handle()),
                "cuMemcpyDtoHAsync", "reading the device error record");
        stream.synchronize();
        if (err[0] != 0) {
            Cuda.check(JCudaDriver.cuMemsetD32Async(errorWord.pointer(0), 0, 4, stream.handle()), "cuMemsetD32Async",
                    "clearing the device error record");
            throw new IllegalArgumentException(DeviceError.message(err));
        }
    }

    /** Decodes the device error record (codes of common.cuh). */
    static final class DeviceError {
        private DeviceError() {
        }

        static String message(int[] e) {
            String where = " (found by a GPU kernel, reported at the next synchronisation)";
            switch (e[0]) {
                case 1:
                    return "lengthPool: length of sample " + e[1] + " is " + e[2] + ", outside [0, " + e[3] + "]" + where;
                case 2:
                    return "crossEntropy: label of sample " + e[1] + " is " + e[2] + ", outside [0, " + e[3] + ")" + where;
                case 3:
                    return "maxPoolTimeBackward: argmax at flat index " + e[1] + " (sample * D + channel) is " + e[2]
                            + ", outside [0, " + e[3] + ")" + where;
                case 4:
                    return "coupledScan: length of sample " + e[1] + " is " + e[2] + ", outside [0, " + e[3] + "]" + where;
                default:
                    return "a GPU kernel reported error code " + e[0] + " (" + e[1] + ", " + e[2] + ", " + e[3] + ")" + where;
            }
        }
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        try {
            context.makeCurrent();
            stream.synchronize();
        } finally {
            closed = true;
            gemm.close();
            for (CudaModule m : modules.values()) m.close();
            modules.clear();
            allocator.close();
            stream.close();
            context.close();
        }
    }

    // ---------------------------------------------------------------- copies and elementwise

    @Override
    public void fill(Tensor out, double value) {
        own(out);
        elementwise.fill(out, value);
    }

    @Override
    public void copy(Tensor out, Tensor src) {
        own(out, src);
        OpChecks.copy(out, src);
        if (out.size() == 0) return;
        long bytes = out.size() * CudaStorage.ELEMENT_BYTES;
        profiled("memcpyDtoD", new KernelWork(2.0 * bytes, 0, 0), () -> Cuda.check(JCudaDriver.cuMemcpyDtoDAsync(CudaStorage.pointer(out),
                CudaStorage.pointer(src), bytes, stream.handle()), "cuMemcpyDtoDAsync", "copying " + src.shape()));
    }

    @Override
    public void copyBlock(Tensor out, long outOffset, long outStride, Tensor src, long srcOffset, long srcStride, int rows, int cols) {
        own(out, src);
        OpChecks.copyBlock(out, outOffset, outStride, src, srcOffset, srcStride, rows, cols);
        elementwise.copyBlock(out, outOffset, outStride, src, srcOffset, srcStride, rows, cols);
    }

    @Override
    public void axpby(Tensor out, double alpha, Tensor a, double beta, Tensor b) {
        own(out, a, b);
        OpChecks.elementwise("axpby", out, a, b);
        elementwise.axpby(out, alpha, a, beta, b);
    }

    @Override
    public void mul(Tensor out, Tensor a, Tensor b) {
        own(out, a, b);
        OpChecks.elementwise("mul", out, a, b);
        elementwise.mul(out, a, b);
    }

    @Override
    public void activationForward(Activation f, Tensor out, Tensor x) {
        own(out, x);
        OpChecks.elementwise("activation", out, x);
        elementwise.activationForward(f, out, x);
    }

    @Override
    public void activationBackward(Activation f, Tensor dx, Tensor dout, Tensor x) {
        own(dx, dout, x);
        OpChecks.elementwise("activationBackward", dx, dout, x);
        elementwise.activationBackward(f, dx, dout, x);
    }

    // ---------------------------------------------------------------- matrix products

    @Override
    public void gemm(boolean transA, boolean transB, double alpha, Tensor a, Tensor b, double beta, Tensor c) {
        own(a, b, c);
        OpChecks.gemm(transA, transB, a, b, c);
        gemm.gemm(transA, transB, alpha, a, b, beta, c);
    }

    @Override
    public void addBias(Tensor x, Tensor bias) {
        own(x, bias);
        OpChecks.addBias(x, bias);
        elementwise.addBias(x, bias);
    }

    @Override
    public void sumRows(Tensor out, Tensor x) {
        own(out, x);
        OpChecks.sumRows(out, x);
        elementwise.sumRows(out, x);
    }

    // ---------------------------------------------------------------- norms

    @Override
    public void layerNormForward(Tensor out, Tensor mean, Tensor rstd, Tensor x, Tensor gamma, Tensor beta, double eps) {
        own(out, mean, rstd, x, gamma, beta);
        OpChecks.layerNorm(out, mean, rstd, x, gamma, beta);
        CudaNorm.layerNormForward(this, out, mean, rstd, x, gamma, beta, eps);
    }

    @Override
    public void layerNormBackward(Tensor dx, Tensor dgamma, Tensor dbeta, Tensor dout, Tensor x, Tensor mean, Tensor rstd, Tensor gamma) {
        own(dx, dgamma, dbeta, dout, x, mean, rstd, gamma);
        OpChecks.layerNorm(dout, mean, rstd, x, gamma, dbeta);
        OpChecks.elementwise("layerNormBackward", dx, x);
        if (dgamma != null) Tensors.requireSameShape("dgamma", dgamma, gamma);
        if (mean == null) throw new IllegalArgumentException("layerNormBackward: mean is missing");
        CudaNorm.layerNormBackward(this, dx, dgamma, dbeta, dout, x, mean, rstd, gamma);
    }

    @Override
    public void rmsNormForward(Tensor out, Tensor rstd, Tensor x, Tensor gamma, double eps) {
        own(out, rstd, x, gamma);
        OpChecks.layerNorm(out, null, rstd, x, gamma, null);
        CudaNorm.rmsNormForward(this, out, rstd, x, gamma, eps);
    }

    @Override
    public void rmsNormBackward(Tensor dx, Tensor dgamma, Tensor dout, Tensor x, Tensor rstd, Tensor gamma) {
        own(dx, dgamma, dout, x, rstd, gamma);
        OpChecks.layerNorm(dout, null, rstd, x, gamma, null);
        OpChecks.elementwise("rmsNormBackward", dx, x);
        if (dgamma != null) Tensors.requireSameShape("dgamma", dgamma, gamma);
        CudaNorm.rmsNormBackward(this, dx, dgamma, dout, x, rstd, gamma);
    }

    /** Device memory is the scarce resource: layers recompute what is cheap in the backward. */
    @Override
    public boolean recomputesActivations() {
        return true;
    }

    // ---------------------------------------------------------------- conv1d

    @Override
    public void causalConv1dForward(Tensor out, Tensor x, Tensor w, Tensor bias, Tensor history) {
        own(out, x, w, bias, history);
        OpChecks.causalConv1d(out, x, w, bias, history);
        CudaConv1d.forward(this, out, x, w, bias, history);
    }

    @Override
    public void causalConv1dBackward(Tensor dx, Tensor dw, Tensor dbias, Tensor dout, Tensor x, Tensor w) {
        own(dx, dw, dbias, dout, x, w);
        OpChecks.causalConv1d(dout, x, w, dbias);
        OpChecks.elementwise("causalConv1dBackward", dx, x);
        OpChecks.elementwise("causalConv1dBackward dw", dw, w);
        CudaConv1d.backward(this, dx, dw, dbias, dout, x, w);
    }

    // ---------------------------------------------------------------- coupled scan

    @Override
    public Saved coupledScanForward(ScanInputs in, Tensor out, Tensor finalState) {
        return scanForward(in, out, finalState, true);
    }

    /** No chunk states are written (the kernel's n_saved is 0). */
    @Override
    public void coupledScanInference(ScanInputs in, Tensor out, Tensor finalState) {
        scanForward(in, out, finalState, false).close();
    }

    private Saved scanForward(ScanInputs in, Tensor out, Tensor finalState, boolean keepStates) {
        own(in.u(), in.deltaPre(), in.z(), in.A(), in.B(), in.C(), in.Dskip(), in.lengths(), in.initialState(), out, finalState);
        OpChecks.scanOutputs(in, out, finalState);
        return CudaScan.forward(this, in, out, finalState, keepStates);
    }

    @Override
    public void coupledScanBackward(ScanInputs in, Saved saved, Tensor dout, Tensor dFinalState, ScanGrads g) {
        own(dout, dFinalState, g.du(), g.dDeltaPre(), g.dz(), g.dA(), g.dB(), g.dC(), g.dDskip(), g.dInitialState());
        OpChecks.scanGrads(in, dout, dFinalState, g);
        CudaScan.backward(this, in, saved, dout, dFinalState, g);
    }

    // ---------------------------------------------------------------- global convolution

    @Override
    public void globalConvKernel(Tensor kernel, Tensor A, Tensor delta, Tensor B, Tensor C) {
        own(kernel, A, delta, B, C);
        OpChecks.globalConvKernel(kernel, A, delta, B, C);
        CudaGlobalConv.kernel(this, kernel, A, delta, B, C);
    }

    @Override
    public void globalConvKernelBackward(Tensor dA, Tensor dDelta, Tensor dB, Tensor dC, Tensor dKernel, Tensor A, Tensor delta, Tensor B, Tensor C) {
        own(dA, dDelta, dB, dC, dKernel, A, delta, B, C);
        OpChecks.globalConvKernel(dKernel, A, delta, B, C);
        OpChecks.globalConvKernel(dKernel, dA, dDelta, dB, dC);
        CudaGlobalConv.kernelBackward(this, dA, dDelta, dB, dC, dKernel, A, delta, B, C);
    }

    @Override
    public void globalConvForward(Tensor y, Tensor u, Tensor kernel, Tensor Dskip) {
        own(y, u, kernel, Dskip);
        OpChecks.globalConv(y, u, kernel, Dskip);
        CudaGlobalConv.forward(this, y, u, kernel, Dskip);
    }

    @Override
    public void globalConvBackward(Tensor du, Tensor dKernel, Tensor dDskip, Tensor dy, Tensor u, Tensor kernel, Tensor Dskip) {
        own(du, dKernel, dDskip, dy, u, kernel, Dskip);
        OpChecks.globalConv(dy, u, kernel, Dskip);
        OpChecks.globalConv(du, u, dKernel, dDskip);
        CudaGlobalConv.backward(this, du, dKernel, dDskip, dy, u, kernel, Dskip);
    }

    // ---------------------------------------------------------------- pooling and fusion

    @Override
    public void lengthPoolForward(Tensor out, Tensor x, Tensor lengths) {
        own(out, x, lengths);
        OpChecks.lengthPool(out, x, lengths);
        CudaPooling.lengthPoolForward(this, out, x, lengths);
    }

    @Override
    public void lengthPoolBackward(Tensor dx, Tensor dout, Tensor lengths) {
        own(dx, dout, lengths);
        OpChecks.lengthPool(dout, dx, lengths);
        CudaPooling.lengthPoolBackward(this, dx, dout, lengths);
    }

    @Override
    public void maxPoolTimeForward(Tensor out, Tensor argmax, Tensor x) {
        own(out, argmax, x);
        OpChecks.maxPoolTime(out, argmax, x);
        CudaPooling.maxPoolTimeForward(this, out, argmax, x);
    }

    @Override
    public void maxPoolTimeBackward(Tensor dx, Tensor dout, Tensor argmax) {
        own(dx, dout, argmax);
        OpChecks.maxPoolTime(dout, argmax, dx);
        CudaPooling.maxPoolTimeBackward(this, dx, dout, argmax);
    }

    @Override
    public void softmaxFusionForward(Tensor out, Tensor x, Tensor w) {
        own(out, x, w);
        OpChecks.softmaxFusion(out, x, w);
        CudaPooling.softmaxFusionForward(this, out, x, w);
    }

    @Override
    public void softmaxFusionBackward(Tensor dx, Tensor dw, Tensor dout, Tensor x, Tensor w) {
        own(dx, dw, dout, x, w);
        OpChecks.softmaxFusion(dout, x, w);
        OpChecks.softmaxFusion(dout, dx, dw);
        CudaPooling.softmaxFusionBackward(this, dx, dw, dout, x, w);
    }

    // ---------------------------------------------------------------- attention

    @Override
    public Saved attentionForward(AttentionKind kind, Tensor out, Tensor q, Tensor k, Tensor v, int heads) {
        own(out, q, k, v);
        OpChecks.attention(out, q, k, v, heads);
        return CudaAttention.forward(this, kind, out, q, k, v, heads);
    }

    @Override
    public void attentionBackward(Saved saved, Tensor dq, Tensor dk, Tensor dv, Tensor dout) {
        own(dq, dk, dv, dout);
        CudaAttention.backward(this, saved, dq, dk, dv, dout);
    }

    // ---------------------------------------------------------------- losses and reductions

    @Override
    public void l1LossForward(Tensor loss, Tensor pred, Tensor target) {
        own(loss, pred, target);
        OpChecks.l1Loss(loss, false, pred, target);
        CudaLoss.l1Forward(this, loss, pred, target);
    }

    @Override
    public void l1LossBackward(Tensor dpred, Tensor pred, Tensor target) {
        own(dpred, pred, target);
        OpChecks.l1Loss(dpred, true, pred, target);
        CudaLoss.l1Backward(this, dpred, pred, target);
    }

    @Override
    public void crossEntropyForward(Tensor loss, Tensor logits, Tensor labels) {
        own(loss, logits, labels);
        OpChecks.crossEntropy(loss, false, logits, labels);
        CudaLoss.crossEntropyForward(this, loss, logits, labels);
    }

    @Override
    public void crossEntropyBackward(Tensor dlogits, Tensor logits, Tensor labels) {
        own(dlogits, logits, labels);
        OpChecks.crossEntropy(dlogits, true, logits, labels);
        CudaLoss.crossEntropyBackward(this, dlogits, logits, labels);
    }

    @Override
    public void sumSquares(Tensor out, Tensor x) {
        own(out, x);
        OpChecks.reduction("sumSquares", out, x);
        elementwise.reduceToScalar(out, x, 0);
    }

    @Override
    public void countNonFinite(Tensor out, Tensor x) {
        own(out, x);
        OpChecks.reduction("countNonFinite", out, x);
        elementwise.reduceToScalar(out, x, 1);
    }

    // ---------------------------------------------------------------- optimizer

    @Override
    public void adamStep(Tensor param, Tensor grad, Tensor m, Tensor v, AdamParams p) {
        own(param, grad, m, v);
        OpChecks.adam(param, grad, m, v);
        CudaAdam.step(this, param, grad, m, v, p);
    }
}
