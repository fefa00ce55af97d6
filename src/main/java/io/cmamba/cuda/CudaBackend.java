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

/**
 * The GPU backend: every op is a kernel from kernels/*.cu (compiled at run time by NVRTC for the
 * device's own arch) launched on the default stream, so ops are ordered and asynchronous; host reads
 * synchronise. Tensors are float32 or int32 in device memory from a caching allocator. Arguments are
 * checked by {@link OpChecks}, as on the CPU. The coupled scan lives in {@link CudaScan}, attention in
 * {@link CudaAttention}, the global convolution in {@link CudaGlobalConv}, GEMM in {@link CudaGemm}.
 */
public final class CudaBackend implements Backend {
    final CudaDevice device;
    final DeviceAllocator allocator;
    final Kernels kernels;
    final CudaGemm gemm;
    private static final int THREADS = 256;

    public CudaBackend(int index) {
        this.device = new CudaDevice(index);
        this.allocator = new DeviceAllocator(device);
        this.kernels = new Kernels(device, NvrtcProvider.choose());
        this.gemm = new CudaGemm(this);
    }

    public CudaDevice device() {
        return device;
    }

    public DeviceAllocator allocator() {
        return allocator;
    }

    public Kernels kernels() {
        return kernels;
    }

    Kernels.Kernel kernel(String file, String name) {
        return kernels.get(file, name);
    }

    /** Device address of a tensor's first element. */
    public static long address(Tensor t) {
        if (!(t.storage() instanceof CudaStorage s))
            throw new IllegalArgumentException("tensor " + t.shape() + " is not on a CUDA device (it is on " + t.backend().name() + ")");
        return s.address() + t.offset() * 4L;
    }

    private static long addressOrZero(Tensor t) {
        return t == null ? 0L : address(t);
    }

    private void own(Tensor... ts) {
        OpChecks.sameBackend(this, ts);
        for (Tensor t : ts)
            if (t != null && t.dtype() == DType.F64)
                throw new IllegalArgumentException("the CUDA backend stores float32 and int32; got a float64 tensor " + t.shape());
    }

    @Override
    public String name() {
        return "cuda:" + device.index;
    }

    @Override
    public boolean supports(DType dtype) {
        return dtype != DType.F64;
    }

    // ---------------------------------------------------------------- memory

    @Override
    public Tensor empty(DType dtype, int... shape) {
        if (dtype == DType.F64) throw new IllegalArgumentException("the CUDA backend does not store float64 (asked for " + Shape.of(shape) + ")");
        Shape s = Shape.of(shape);
        return new Tensor(this, new CudaStorage(allocator, s.size(), 4), 0, s, dtype, true);
    }

    @Override
    public Tensor fromDoubles(DType dtype, double[] values, int... shape) {
        if (dtype == DType.I32) {
            int[] v = new int[values.length];
            for (int i = 0; i < v.length; i++) v[i] = (int) values[i];
            return fromInts(v, shape);
        }
        float[] f = new float[values.length];
        for (int i = 0; i < f.length; i++) f[i] = (float) values[i];
        return fromFloats(f, shape);
    }

    @Override
    public Tensor fromFloats(float[] values, int... shape) {
        Tensor t = empty(DType.F32, shape);
        if (values.length != t.size()) throw new IllegalArgumentException(values.length + " values do not fill shape " + t.shape());
        upload(t, Pointer.to(values));
        return t;
    }

    @Override
    public Tensor fromInts(int[] values, int... shape) {
        Tensor t = empty(DType.I32, shape);
        if (values.length != t.size()) throw new IllegalArgumentException(values.length + " values do not fill shape " + t.shape());
        upload(t, Pointer.to(values));
        return t;
    }

    private void upload(Tensor t, Pointer host) {
        if (t.size() == 0) return;
        device.makeCurrent();
        CudaStorage s = (CudaStorage) t.storage();
        Driver.check(JCudaDriver.cuMemcpyHtoD(s.pointer().withByteOffset(t.offset() * 4L), host, t.size() * 4L),
                "cuMemcpyHtoD(" + t.size() * 4L + " bytes)");
    }

    private void download(Tensor t, Pointer host) {
        if (t.size() == 0) return;
        device.makeCurrent();
        CudaStorage s = (CudaStorage) t.storage();
        Driver.check(JCudaDriver.cuMemcpyDtoH(host, s.pointer().withByteOffset(t.offset() * 4L), t.size() * 4L),
                "cuMemcpyDtoH(" + t.size() * 4L + " bytes) (a failure here usually comes from an earlier kernel)");
    }

    @Override
    public double[] toDoubles(Tensor t) {
        own(t);
        double[] r = new double[(int) t.size()];
        if (t.dtype() == DType.I32) {
            int[] v = toInts(t);
            for (int i = 0; i < r.length; i++) r[i] = v[i];
        } else {
            float[] v = toFloats(t);
            for (int i = 0; i < r.length; i++) r[i] = v[i];
        }
        return r;
    }

    @Override
    public float[] toFloats(Tensor t) {
        own(t);
        float[] r = new float[(int) t.size()];
        if (t.dtype() == DType.I32) {
            int[] v = toInts(t);
            for (int i = 0; i < r.length; i++) r[i] = v[i];
            return r;
        }
        download(t, Pointer.to(r));
        return r;
    }

    @Override
    public int[] toInts(Tensor t) {
        own(t);
        int[] r = new int[(int) t.size()];
        if (t.dtype() != DType.I32) {
            float[] f = toFloats(t);
            for (int i = 0; i < r.length; i++) r[i] = (int) f[i];
            return r;
        }
        download(t, Pointer.to(r));
        return r;
    }

    @Override
    public void synchronize() {
        device.makeCurrent();
        Driver.check(JCudaDriver.cuCtxSynchronize(), "cuCtxSynchronize (a failure here comes from an earlier kernel)");
    }

    @Override
    public void close() {
        synchronize();
        gemm.close();
        allocator.trim();
    }

    // ---------------------------------------------------------------- copies and elementwise

    @Override
    public void fill(Tensor out, double value) {
        own(out);
        int bits = out.dtype() == DType.I32 ? (int) value : Float.floatToRawIntBits((float) value);
        kernel("elementwise.cu", "fill_u32").launch1d(out.size(), THREADS, out, out.size(), bits);
    }

    @Override
    public void copy(Tensor out, Tensor src) {
        own(out, src);
        OpChecks.copy(out, src);
        if (out.size() == 0) return;
        copyBlock(out, 0, out.size(), src, 0, src.size(), 1, Math.toIntExact(out.size()));
    }

    @Override
    public void copyBlock(Tensor out, long outOffset, long outStride, Tensor src, long srcOffset, long srcStride, int rows, int cols) {
        own(out, src);
        OpChecks.copyBlock(out, outOffset, outStride, src, srcOffset, srcStride, rows, cols);
        if (rows == 0 || cols == 0) return;
        kernel("elementwise.cu", "copy_block").launch1d((long) rows * cols, THREADS, out, outOffset, outStride, src, srcOffset,
                srcStride, rows, cols);
    }

    @Override
    public void axpby(Tensor out, double alpha, Tensor a, double beta, Tensor b) {
        own(out, a, b);
        OpChecks.elementwise("axpby", out, a, b);
        kernel("elementwise.cu", "axpby").launch1d(out.size(), THREADS, out, (float) alpha, a, (float) beta, b, out.size());
    }

    @Override
    public void mul(Tensor out, Tensor a, Tensor b) {
        own(out, a, b);
        OpChecks.elementwise("mul", out, a, b);
        kernel("elementwise.cu", "mul").launch1d(out.size(), THREADS, out, a, b, out.size());
    }

    @Override
    public void activationForward(Activation f, Tensor out, Tensor x) {
        own(out, x);
        OpChecks.elementwise("activation", out, x);
        kernel("elementwise.cu", "act_fwd").launch1d(out.size(), THREADS, f.ordinal(), out, x, out.size());
    }

    @Override
    public void activationBackward(Activation f, Tensor dx, Tensor dout, Tensor x) {
        own(dx, dout, x);
        OpChecks.elementwise("activationBackward", dx, dout, x);
        kernel("elementwise.cu", "act_bwd").launch1d(dx.size(), THREADS, f.ordinal(), dx, dout, x, dx.size());
    }

    // ---------------------------------------------------------------- matrix products

    @Override
    public void gemm(boolean transA, boolean transB, double alpha, Tensor a, Tensor b, double beta, Tensor c) {
        own(a, b, c);
        OpChecks.gemm(transA, transB, a, b, c);
        gemm.run(transA, transB, alpha, a, b, beta, c);
    }

    @Override
    public void addBias(Tensor x, Tensor bias) {
        own(x, bias);
        OpChecks.addBias(x, bias);
        kernel("elementwise.cu", "add_bias").launch1d(x.size(), THREADS, x, bias, x.shape().rows(), x.shape().cols());
    }

    @Override
    public void sumRows(Tensor out, Tensor x) {
        own(out, x);
        OpChecks.sumRows(out, x);
        columnSums(out, x, x.shape().rows(), x.shape().cols());
    }

    /** out[c] = sum_r x[r, c] in two deterministic passes (partials per chunk of rows, then their sum). */
    void columnSums(Tensor out, Tensor x, long rows, int cols) {
        long rowsPerChunk = Math.max(64, (rows + 255) / 256);
        int chunks = (int) Math.max(1, (rows + rowsPerChunk - 1) / rowsPerChunk);
        try (Tensor partial = empty(DType.F32, chunks, cols)) {
            kernel("elementwise.cu", "sum_rows_partial").launch((cols + 31) / 32, chunks, 1, 32, 8, 1, 0, partial, x, rows, cols, rowsPerChunk);
            finishColumnSums(out, partial, chunks, cols);
        }
    }

    void finishColumnSums(Tensor out, Tensor partial, int chunks, int cols) {
        kernel("elementwise.cu", "sum_rows_final").launch((cols + 255) / 256, 1, 1, 256, 1, 1, 0, out, partial, chunks, cols);
    }

    // ---------------------------------------------------------------- norms

    private void normForward(Tensor out, Tensor mean, Tensor rstd, Tensor x, Tensor gamma, Tensor beta, double eps, boolean rms) {
        long rows = x.shape().rows();
        int n = x.shape().cols(), warps = 8;
        kernel("norm.cu", "norm_fwd").launch((int) Math.max(1, (rows + warps - 1) / warps), 1, 1, 32 * warps, 1, 1, 0,
                out, addressOrZero(mean), rstd, x, gamma, addressOrZero(beta), rows, n, (float) eps, rms);
    }

    private void normBackward(Tensor dx, Tensor dgamma, Tensor dbeta, Tensor dout, Tensor x, Tensor mean, Tensor rstd, Tensor gamma, boolean rms) {
        long rows = x.shape().rows();
        int n = x.shape().cols();
        int blocks = (int) Math.max(1, Math.min(512, (rows + 31) / 32));
        try (Tensor partial = empty(DType.F32, 2 * blocks, n)) {
            kernel("norm.cu", "norm_bwd").launch(blocks, 1, 1, 256, 1, 1, 2 * n * 4, dx, partial, dout, x, addressOrZero(mean),
                    rstd, gamma, rows, n, rms, dbeta != null);
            finishColumnSums(dgamma, partial, blocks, n);
            if (dbeta != null) finishColumnSums(dbeta, partial.narrow(blocks, blocks), blocks, n);
        }
    }

    @Override
    public void layerNormForward(Tensor out, Tensor mean, Tensor rstd, Tensor x, Tensor gamma, Tensor beta, double eps) {
        own(out, mean, rstd, x, gamma, beta);
        OpChecks.layerNorm(out, mean, rstd, x, gamma, beta);
        normForward(out, mean, rstd, x, gamma, beta, eps, false);
    }

    @Override
    public void layerNormBackward(Tensor dx, Tensor dgamma, Tensor dbeta, Tensor dout, Tensor x, Tensor mean, Tensor rstd, Tensor gamma) {
        own(dx, dgamma, dbeta, dout, x, mean, rstd, gamma);
        OpChecks.layerNorm(dout, mean, rstd, x, gamma, dbeta);
        OpChecks.elementwise("layerNormBackward", dx, x);
        Tensors.requireSameShape("dgamma", dgamma, gamma);
        normBackward(dx, dgamma, dbeta, dout, x, mean, rstd, gamma, false);
    }

    @Override
    public void rmsNormForward(Tensor out, Tensor rstd, Tensor x, Tensor gamma, double eps) {
        own(out, rstd, x, gamma);
        OpChecks.layerNorm(out, null, rstd, x, gamma, null);
        normForward(out, null, rstd, x, gamma, null, eps, true);
    }

    @Override
    public void rmsNormBackward(Tensor dx, Tensor dgamma, Tensor dout, Tensor x, Tensor rstd, Tensor gamma) {
        own(dx, dgamma, dout, x, rstd, gamma);
        OpChecks.layerNorm(dout, null, rstd, x, gamma, null);
        OpChecks.elementwise("rmsNormBackward", dx, x);
        Tensors.requireSameShape("dgamma", dgamma, gamma);
        normBackward(dx, dgamma, null, dout, x, null, rstd, gamma, true);
    }

    // ---------------------------------------------------------------- conv1d

    @Override
    public void causalConv1dForward(Tensor out, Tensor x, Tensor w, Tensor bias) {
        own(out, x, w, bias);
        OpChecks.causalConv1d(out, x, w, bias);
        requireConvWidth(w);
        kernel("conv1d.cu", "conv1d_fwd").launch1d(out.size(), THREADS, out, x, w, bias, x.dim(0), x.dim(1), x.dim(2), w.dim(1));
    }

    private static void requireConvWidth(Tensor w) {
        if (w.dim(1) > 8) throw new IllegalArgumentException("the CUDA conv1d supports widths up to 8, got " + w.dim(1));
    }

    @Override
    public void causalConv1dBackward(Tensor dx, Tensor dw, Tensor dbias, Tensor dout, Tensor x, Tensor w) {
        own(dx, dw, dbias, dout, x, w);
        OpChecks.causalConv1d(dout, x, w, dbias);
        OpChecks.elementwise("causalConv1dBackward", dx, x);
        OpChecks.elementwise("causalConv1dBackward dw", dw, w);
        requireConvWidth(w);
        int nb = x.dim(0), l = x.dim(1), d = x.dim(2), k = w.dim(1);
        kernel("conv1d.cu", "conv1d_bwd_dx").launch1d(dx.size(), THREADS, dx, dout, w, nb, l, d, k);
        long rows = (long) nb * l, rowsPerChunk = Math.max(64, (rows + 127) / 128);
        int chunks = (int) ((rows + rowsPerChunk - 1) / rowsPerChunk), width = d * k + d;
        try (Tensor partial = empty(DType.F32, chunks, width); Tensor sums = empty(DType.F32, width)) {
            kernel("conv1d.cu", "conv1d_bwd_dw").launch((d + 31) / 32, chunks, 1, 32, 8, 1, 0, partial, dout, x, nb, l, d, k, rowsPerChunk);
            finishColumnSums(sums, partial, chunks, width);
            copyBlock(dw, 0, (long) d * k, sums, 0, width, 1, d * k);
            copyBlock(dbias, 0, d, sums, (long) d * k, width, 1, d);
        }
    }

    // ---------------------------------------------------------------- scan, global convolution, attention

    @Override
    public Saved coupledScanForward(ScanInputs in, Tensor out, Tensor finalState) {
        own(in.u(), in.deltaPre(), in.z(), in.A(), in.B(), in.C(), in.Dskip(), in.lengths(), in.initialState(), out, finalState);
        OpChecks.scanOutputs(in, out, finalState);
        return CudaScan.forward(this, in, out, finalState);
    }

    @Override
    public void coupledScanBackward(ScanInputs in, Saved saved, Tensor dout, Tensor dFinalState, ScanGrads g) {
        own(dout, dFinalState, g.du(), g.dDeltaPre(), g.dz(), g.dA(), g.dB(), g.dC(), g.dDskip(), g.dInitialState());
        OpChecks.scanGrads(in, dout, dFinalState, g);
        CudaScan.backward(this, in, saved, dout, dFinalState, g);
    }

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

    // ---------------------------------------------------------------- pooling and fusion

    @Override
    public void lengthPoolForward(Tensor out, Tensor x, Tensor lengths) {
        own(out, x, lengths);
        OpChecks.lengthPool(out, x, lengths);
        kernel("pooling.cu", "length_pool_fwd").launch1d(out.size(), THREADS, out, x, lengths, x.dim(0), x.dim(1), out.dim(1), x.dim(2));
    }

    @Override
    public void lengthPoolBackward(Tensor dx, Tensor dout, Tensor lengths) {
        own(dx, dout, lengths);
        OpChecks.lengthPool(dout, dx, lengths);
        kernel("pooling.cu", "length_pool_bwd").launch1d(dx.size(), THREADS, dx, dout, lengths, dx.dim(0), dx.dim(1), dout.dim(1), dx.dim(2));
    }

    @Override
    public void maxPoolTimeForward(Tensor out, Tensor argmax, Tensor x) {
        own(out, argmax, x);
        OpChecks.maxPoolTime(out, argmax, x);
        kernel("pooling.cu", "maxpool_time_fwd").launch1d(out.size(), THREADS, out, argmax, x, x.dim(0), x.dim(1), x.dim(2));
    }

    @Override
    public void maxPoolTimeBackward(Tensor dx, Tensor dout, Tensor argmax) {
        own(dx, dout, argmax);
        OpChecks.maxPoolTime(dout, argmax, dx);
        kernel("pooling.cu", "maxpool_time_bwd").launch1d(dx.size(), THREADS, dx, dout, argmax, dx.dim(0), dx.dim(1), dx.dim(2));
    }

    @Override
    public void softmaxFusionForward(Tensor out, Tensor x, Tensor w) {
        own(out, x, w);
        OpChecks.softmaxFusion(out, x, w);
        requireFusionWidth(x);
        kernel("pooling.cu", "softmax_fusion_fwd").launch1d(out.size(), THREADS, out, x, w, x.dim(0), out.size());
    }

    private static void requireFusionWidth(Tensor x) {
        if (x.dim(0) > 8) throw new IllegalArgumentException("softmax fusion supports up to 8 modalities, got " + x.dim(0));
    }

    @Override
    public void softmaxFusionBackward(Tensor dx, Tensor dw, Tensor dout, Tensor x, Tensor w) {
        own(dx, dw, dout, x, w);
        OpChecks.softmaxFusion(dout, x, w);
        OpChecks.softmaxFusion(dout, dx, dw);
        requireFusionWidth(x);
        int m = x.dim(0);
        long n = dout.size();
        int blocks = (int) Math.max(1, Math.min(256, (n + THREADS - 1) / THREADS));
        try (Tensor partial = empty(DType.F32, blocks, m)) {
            kernel("pooling.cu", "softmax_fusion_bwd").launch(blocks, 1, 1, THREADS, 1, 1, 0, dx, partial, dout, x, w, m, n);
            kernel("pooling.cu", "softmax_fusion_dw").launch(1, 1, 1, 1, 1, 1, 0, dw, partial, w, m, blocks);
        }
    }

    // ---------------------------------------------------------------- losses and reductions

    @Override
    public void l1LossForward(Tensor loss, Tensor pred, Tensor target) {
        own(loss, pred, target);
        OpChecks.l1Loss(loss, false, pred, target);
        kernel("loss.cu", "l1_fwd").launch(1, 1, 1, 1024, 1, 1, 0, loss, pred, target, pred.dim(0));
    }

    @Override
    public void l1LossBackward(Tensor dpred, Tensor pred, Tensor target) {
        own(dpred, pred, target);
        OpChecks.l1Loss(dpred, true, pred, target);
        kernel("loss.cu", "l1_bwd").launch1d(pred.size(), THREADS, dpred, pred, target, pred.dim(0));
    }

    private void checkLabels(Tensor flag, int classes) {
        int bad = toInts(flag)[0];
        if (bad != 0) throw new IllegalArgumentException("crossEntropy: sample " + (bad - 1) + " has a label outside [0, " + classes + ")");
    }

    @Override
    public void crossEntropyForward(Tensor loss, Tensor logits, Tensor labels) {
        own(loss, logits, labels);
        OpChecks.crossEntropy(loss, false, logits, labels);
        try (Tensor flag = zeros(DType.I32, 1)) {
            kernel("loss.cu", "ce_fwd").launch(1, 1, 1, 1024, 1, 1, 0, loss, flag, logits, labels, logits.dim(0), logits.dim(1));
            checkLabels(flag, logits.dim(1));
        }
    }

    @Override
    public void crossEntropyBackward(Tensor dlogits, Tensor logits, Tensor labels) {
        own(dlogits, logits, labels);
        OpChecks.crossEntropy(dlogits, true, logits, labels);
        try (Tensor flag = zeros(DType.I32, 1)) {
            kernel("loss.cu", "ce_bwd").launch1d(logits.dim(0), THREADS, dlogits, flag, logits, labels, logits.dim(0), logits.dim(1));
            checkLabels(flag, logits.dim(1));
        }
    }

    private void reduce(Tensor out, Tensor x, int mode) {
        long n = x.size();
        int blocks = (int) Math.max(1, Math.min(1024, (n + THREADS - 1) / THREADS));
        // partials are doubles: two float32 slots each
        try (Tensor partial = empty(DType.F32, 2 * blocks)) {
            kernel("elementwise.cu", "reduce_partial").launch(blocks, 1, 1, THREADS, 1, 1, 0, partial, x, n, mode);
            kernel("elementwise.cu", "reduce_final").launch(1, 1, 1, 1, 1, 1, 0, out, partial, blocks);
        }
    }

    @Override
    public void sumSquares(Tensor out, Tensor x) {
        own(out, x);
        OpChecks.reduction("sumSquares", out, x);
        reduce(out, x, 0);
    }

    @Override
    public void countNonFinite(Tensor out, Tensor x) {
        own(out, x);
        OpChecks.reduction("countNonFinite", out, x);
        reduce(out, x, 1);
    }

    // ---------------------------------------------------------------- optimizer

    @Override
    public void adamStep(Tensor param, Tensor grad, Tensor m, Tensor v, AdamParams p) {
        own(param, grad, m, v);
        OpChecks.adam(param, grad, m, v);
        double c1 = 1 - Math.pow(p.beta1(), p.step()), c2 = 1 - Math.pow(p.beta2(), p.step());
        kernel("optim.cu", "adam_step").launch1d(param.size(), THREADS, param, grad, m, v, param.size(), (float) p.lr(),
                (float) p.beta1(), (float) p.beta2(), (float) p.eps(), (float) p.weightDecay(), p.decoupled(), (float) c1,
                (float) c2, (float) p.gradScale());
    }

    @Override
    public String toString() {
        return name() + " " + device + " with NVRTC " + kernels.nvrtc().name() + " " + kernels.nvrtc().version();
    }
}
