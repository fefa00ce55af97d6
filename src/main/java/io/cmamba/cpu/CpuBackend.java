package io.cmamba.cpu;

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

/**
 * The reference backend: plain Java loops, multi-threaded where the work is large. It computes in
 * float64; a float32 tensor rounds each value it stores to float32, so its results are the float64
 * results rounded, and float64 tensors serve the gradient checks. Each op family lives in its own
 * class (CpuGemm, CpuNorm, CpuScan...) working on the raw arrays; this class checks and dispatches.
 */
public final class CpuBackend implements Backend {

    @Override
    public String name() {
        return "cpu";
    }

    @Override
    public boolean supports(DType dtype) {
        return true;
    }

    /** The array behind a CPU tensor (index with {@link Tensor#offset()}). */
    public static double[] data(Tensor t) {
        if (!(t.storage() instanceof CpuStorage s))
            throw new IllegalArgumentException("tensor " + t.shape() + " is not a CPU tensor (it is on " + t.backend().name() + ")");
        return s.data;
    }

    /** Offset of a tensor's first element, as an int array index. */
    public static int off(Tensor t) {
        return (int) t.offset();
    }

    /** Rounds a float32 output to float32 values (a no-op for F64 and I32). */
    static void round(Tensor t) {
        if (t == null || t.dtype() != DType.F32) return;
        double[] a = data(t);
        int o = off(t);
        long n = t.size();
        for (int i = 0; i < n; i++) a[o + i] = (float) a[o + i];
    }

    private static void round(Tensor... ts) {
        for (Tensor t : ts) round(t);
    }

    private void own(Tensor... ts) {
        OpChecks.sameBackend(this, ts);
    }

    // ---------------------------------------------------------------- memory

    @Override
    public Tensor empty(DType dtype, int... shape) {
        Shape s = Shape.of(shape);
        return new Tensor(this, new CpuStorage(s.size()), 0, s, dtype, true);
    }

    @Override
    public Tensor fromDoubles(DType dtype, double[] values, int... shape) {
        Tensor t = empty(dtype, shape);
        if (values.length != t.size())
            throw new IllegalArgumentException(values.length + " values do not fill shape " + t.shape());
        double[] a = data(t);
        for (int i = 0; i < values.length; i++) {
            double v = values[i];
            a[i] = dtype == DType.F32 ? (float) v : dtype == DType.I32 ? (int) v : v;
        }
        return t;
    }

    @Override
    public Tensor fromFloats(float[] values, int... shape) {
        Tensor t = empty(DType.F32, shape);
        if (values.length != t.size())
            throw new IllegalArgumentException(values.length + " values do not fill shape " + t.shape());
        double[] a = data(t);
        for (int i = 0; i < values.length; i++) a[i] = values[i];
        return t;
    }

    @Override
    public Tensor fromInts(int[] values, int... shape) {
        Tensor t = empty(DType.I32, shape);
        if (values.length != t.size())
            throw new IllegalArgumentException(values.length + " values do not fill shape " + t.shape());
        double[] a = data(t);
        for (int i = 0; i < values.length; i++) a[i] = values[i];
        return t;
    }

    @Override
    public double[] toDoubles(Tensor t) {
        own(t);
        double[] r = new double[(int) t.size()];
        System.arraycopy(data(t), off(t), r, 0, r.length);
        return r;
    }

    @Override
    public float[] toFloats(Tensor t) {
        own(t);
        double[] a = data(t);
        int o = off(t);
        float[] r = new float[(int) t.size()];
        for (int i = 0; i < r.length; i++) r[i] = (float) a[o + i];
        return r;
    }

    @Override
    public int[] toInts(Tensor t) {
        own(t);
        double[] a = data(t);
        int o = off(t);
        int[] r = new int[(int) t.size()];
        for (int i = 0; i < r.length; i++) r[i] = (int) a[o + i];
        return r;
    }

    @Override
    public void synchronize() {
    }

    @Override
    public void close() {
    }

    // ---------------------------------------------------------------- copies and elementwise

    @Override
    public void fill(Tensor out, double value) {
        own(out);
        double v = out.dtype() == DType.F32 ? (float) value : out.dtype() == DType.I32 ? (int) value : value;
        java.util.Arrays.fill(data(out), off(out), off(out) + (int) out.size(), v);
    }

    @Override
    public void copy(Tensor out, Tensor src) {
        own(out, src);
        OpChecks.copy(out, src);
        System.arraycopy(data(src), off(src), data(out), off(out), (int) out.size());
    }

    @Override
    public void copyBlock(Tensor out, long outOffset, long outStride, Tensor src, long srcOffset, long srcStride, int rows, int cols) {
        own(out, src);
        OpChecks.copyBlock(out, outOffset, outStride, src, srcOffset, srcStride, rows, cols);
        double[] o = data(out), s = data(src);
        for (int r = 0; r < rows; r++)
            System.arraycopy(s, (int) (off(src) + srcOffset + r * srcStride), o, (int) (off(out) + outOffset + r * outStride), cols);
    }

    @Override
    public void axpby(Tensor out, double alpha, Tensor a, double beta, Tensor b) {
        own(out, a, b);
        OpChecks.elementwise("axpby", out, a, b);
        CpuElementwise.axpby(out, alpha, a, beta, b);
        round(out);
    }

    @Override
    public void mul(Tensor out, Tensor a, Tensor b) {
        own(out, a, b);
        OpChecks.elementwise("mul", out, a, b);
        CpuElementwise.mul(out, a, b);
        round(out);
    }

    @Override
    public void activationForward(Activation f, Tensor out, Tensor x) {
        own(out, x);
        OpChecks.elementwise("activation", out, x);
        CpuElementwise.activationForward(f, out, x);
        round(out);
    }

    @Override
    public void activationBackward(Activation f, Tensor dx, Tensor dout, Tensor x) {
        own(dx, dout, x);
        OpChecks.elementwise("activationBackward", dx, dout, x);
        CpuElementwise.activationBackward(f, dx, dout, x);
        round(dx);
    }

    // ---------------------------------------------------------------- matrix products

    @Override
    public void gemm(boolean transA, boolean transB, double alpha, Tensor a, Tensor b, double beta, Tensor c) {
        own(a, b, c);
        OpChecks.gemm(transA, transB, a, b, c);
        CpuGemm.gemm(transA, transB, alpha, a, b, beta, c);
        round(c);
    }

    @Override
    public void addBias(Tensor x, Tensor bias) {
        own(x, bias);
        OpChecks.addBias(x, bias);
        CpuElementwise.addBias(x, bias);
        round(x);
    }

    @Override
    public void sumRows(Tensor out, Tensor x) {
        own(out, x);
        OpChecks.sumRows(out, x);
        CpuElementwise.sumRows(out, x);
        round(out);
    }

    // ---------------------------------------------------------------- norms

    @Override
    public void layerNormForward(Tensor out, Tensor mean, Tensor rstd, Tensor x, Tensor gamma, Tensor beta, double eps) {
        own(out, mean, rstd, x, gamma, beta);
        OpChecks.layerNorm(out, mean, rstd, x, gamma, beta);
        CpuNorm.layerNormForward(out, mean, rstd, x, gamma, beta, eps);
        round(out, mean, rstd);
    }

    @Override
    public void layerNormBackward(Tensor dx, Tensor dgamma, Tensor dbeta, Tensor dout, Tensor x, Tensor mean, Tensor rstd, Tensor gamma) {
        own(dx, dgamma, dbeta, dout, x, mean, rstd, gamma);
        OpChecks.layerNorm(dout, mean, rstd, x, gamma, dbeta);
        OpChecks.elementwise("layerNormBackward", dx, x);
        if (dgamma != null) Tensors.requireSameShape("dgamma", dgamma, gamma);
        CpuNorm.layerNormBackward(dx, dgamma, dbeta, dout, x, mean, rstd, gamma);
        round(dx, dgamma, dbeta);
    }

    @Override
    public void rmsNormForward(Tensor out, Tensor rstd, Tensor x, Tensor gamma, double eps) {
        own(out, rstd, x, gamma);
        OpChecks.layerNorm(out, null, rstd, x, gamma, null);
        CpuNorm.rmsNormForward(out, rstd, x, gamma, eps);
        round(out, rstd);
    }

    @Override
    public void rmsNormBackward(Tensor dx, Tensor dgamma, Tensor dout, Tensor x, Tensor rstd, Tensor gamma) {
        own(dx, dgamma, dout, x, rstd, gamma);
        OpChecks.layerNorm(dout, null, rstd, x, gamma, null);
        OpChecks.elementwise("rmsNormBackward", dx, x);
        if (dgamma != null) Tensors.requireSameShape("dgamma", dgamma, gamma);
        CpuNorm.rmsNormBackward(dx, dgamma, dout, x, rstd, gamma);
        round(dx, dgamma);
    }

    // ---------------------------------------------------------------- conv1d

    @Override
    public void causalConv1dForward(Tensor out, Tensor x, Tensor w, Tensor bias, Tensor history) {
        own(out, x, w, bias, history);
        OpChecks.causalConv1d(out, x, w, bias, history);
        CpuConv1d.forward(out, x, w, bias, history);
        round(out);
    }

    @Override
    public void causalConv1dBackward(Tensor dx, Tensor dw, Tensor dbias, Tensor dout, Tensor x, Tensor w) {
        own(dx, dw, dbias, dout, x, w);
        OpChecks.causalConv1d(dout, x, w, dbias);
        OpChecks.elementwise("causalConv1dBackward", dx, x);
        OpChecks.elementwise("causalConv1dBackward dw", dw, w);
        CpuConv1d.backward(dx, dw, dbias, dout, x, w);
        round(dx, dw, dbias);
    }

    // ---------------------------------------------------------------- coupled scan

    @Override
    public Saved coupledScanForward(ScanInputs in, Tensor out, Tensor finalState) {
        own(in.u(), in.deltaPre(), in.z(), in.A(), in.B(), in.C(), in.Dskip(), in.lengths(), in.initialState(), out, finalState);
        OpChecks.scanOutputs(in, out, finalState);
        Saved s = CpuScan.forward(in, out, finalState);
        round(out, finalState);
        return s;
    }

    @Override
    public void coupledScanBackward(ScanInputs in, Saved saved, Tensor dout, Tensor dFinalState, ScanGrads g) {
        own(dout, dFinalState, g.du(), g.dDeltaPre(), g.dz(), g.dA(), g.dB(), g.dC(), g.dDskip(), g.dInitialState());
        OpChecks.scanGrads(in, dout, dFinalState, g);
        CpuScan.backward(in, saved, dout, dFinalState, g);
        round(g.du(), g.dDeltaPre(), g.dz(), g.dA(), g.dB(), g.dC(), g.dDskip(), g.dInitialState());
    }

    // ---------------------------------------------------------------- global convolution

    @Override
    public void globalConvKernel(Tensor kernel, Tensor A, Tensor delta, Tensor B, Tensor C) {
        own(kernel, A, delta, B, C);
        OpChecks.globalConvKernel(kernel, A, delta, B, C);
        CpuGlobalConv.kernel(kernel, A, delta, B, C);
        round(kernel);
    }

    @Override
    public void globalConvKernelBackward(Tensor dA, Tensor dDelta, Tensor dB, Tensor dC, Tensor dKernel, Tensor A, Tensor delta, Tensor B, Tensor C) {
        own(dA, dDelta, dB, dC, dKernel, A, delta, B, C);
        OpChecks.globalConvKernel(dKernel, A, delta, B, C);
        OpChecks.globalConvKernel(dKernel, dA, dDelta, dB, dC);
        CpuGlobalConv.kernelBackward(dA, dDelta, dB, dC, dKernel, A, delta, B, C);
        round(dA, dDelta, dB, dC);
    }

    @Override
    public void globalConvForward(Tensor y, Tensor u, Tensor kernel, Tensor Dskip) {
        own(y, u, kernel, Dskip);
        OpChecks.globalConv(y, u, kernel, Dskip);
        CpuGlobalConv.forward(y, u, kernel, Dskip);
        round(y);
    }

    @Override
    public void globalConvBackward(Tensor du, Tensor dKernel, Tensor dDskip, Tensor dy, Tensor u, Tensor kernel, Tensor Dskip) {
        own(du, dKernel, dDskip, dy, u, kernel, Dskip);
        OpChecks.globalConv(dy, u, kernel, Dskip);
        OpChecks.globalConv(du, u, dKernel, dDskip);
        CpuGlobalConv.backward(du, dKernel, dDskip, dy, u, kernel, Dskip);
        round(du, dKernel, dDskip);
    }

    // ---------------------------------------------------------------- pooling and fusion

    @Override
    public void lengthPoolForward(Tensor out, Tensor x, Tensor lengths) {
        own(out, x, lengths);
        OpChecks.lengthPool(out, x, lengths);
        CpuPooling.lengthPoolForward(out, x, lengths);
        round(out);
    }

    @Override
    public void lengthPoolBackward(Tensor dx, Tensor dout, Tensor lengths) {
        own(dx, dout, lengths);
        OpChecks.lengthPool(dout, dx, lengths);
        CpuPooling.lengthPoolBackward(dx, dout, lengths);
        round(dx);
    }

    @Override
    public void maxPoolTimeForward(Tensor out, Tensor argmax, Tensor x) {
        own(out, argmax, x);
        OpChecks.maxPoolTime(out, argmax, x);
        CpuPooling.maxPoolTimeForward(out, argmax, x);
        round(out);
    }

    @Override
    public void maxPoolTimeBackward(Tensor dx, Tensor dout, Tensor argmax) {
        own(dx, dout, argmax);
        OpChecks.maxPoolTime(dout, argmax, dx);
        CpuPooling.maxPoolTimeBackward(dx, dout, argmax);
        round(dx);
    }

    @Override
    public void softmaxFusionForward(Tensor out, Tensor x, Tensor w) {
        own(out, x, w);
        OpChecks.softmaxFusion(out, x, w);
        CpuPooling.softmaxFusionForward(out, x, w);
        round(out);
    }

    @Override
    public void softmaxFusionBackward(Tensor dx, Tensor dw, Tensor dout, Tensor x, Tensor w) {
        own(dx, dw, dout, x, w);
        OpChecks.softmaxFusion(dout, x, w);
        OpChecks.softmaxFusion(dout, dx, dw);
        CpuPooling.softmaxFusionBackward(dx, dw, dout, x, w);
        round(dx, dw);
    }

    // ---------------------------------------------------------------- attention

    @Override
    public Saved attentionForward(AttentionKind kind, Tensor out, Tensor q, Tensor k, Tensor v, int heads) {
        own(out, q, k, v);
        OpChecks.attention(out, q, k, v, heads);
        Saved s = CpuAttention.forward(kind, out, q, k, v, heads);
        round(out);
        return s;
    }

    @Override
    public void attentionBackward(Saved saved, Tensor dq, Tensor dk, Tensor dv, Tensor dout) {
        own(dq, dk, dv, dout);
        CpuAttention.backward(saved, dq, dk, dv, dout);
        round(dq, dk, dv);
    }

    // ---------------------------------------------------------------- losses and reductions

    @Override
    public void l1LossForward(Tensor loss, Tensor pred, Tensor target) {
        own(loss, pred, target);
        OpChecks.l1Loss(loss, false, pred, target);
        CpuLoss.l1Forward(loss, pred, target);
        round(loss);
    }

    @Override
    public void l1LossBackward(Tensor dpred, Tensor pred, Tensor target) {
        own(dpred, pred, target);
        OpChecks.l1Loss(dpred, true, pred, target);
        CpuLoss.l1Backward(dpred, pred, target);
        round(dpred);
    }

    @Override
    public void crossEntropyForward(Tensor loss, Tensor logits, Tensor labels) {
        own(loss, logits, labels);
        OpChecks.crossEntropy(loss, false, logits, labels);
        CpuLoss.crossEntropyForward(loss, logits, labels);
        round(loss);
    }

    @Override
    public void crossEntropyBackward(Tensor dlogits, Tensor logits, Tensor labels) {
        own(dlogits, logits, labels);
        OpChecks.crossEntropy(dlogits, true, logits, labels);
        CpuLoss.crossEntropyBackward(dlogits, logits, labels);
        round(dlogits);
    }

    @Override
    public void sumSquares(Tensor out, Tensor x) {
        own(out, x);
        OpChecks.reduction("sumSquares", out, x);
        CpuElementwise.sumSquares(out, x);
        round(out);
    }

    @Override
    public void countNonFinite(Tensor out, Tensor x) {
        own(out, x);
        OpChecks.reduction("countNonFinite", out, x);
        CpuElementwise.countNonFinite(out, x);
    }

    // ---------------------------------------------------------------- optimizer

    @Override
    public void adamStep(Tensor param, Tensor grad, Tensor m, Tensor v, AdamParams p) {
        own(param, grad, m, v);
        OpChecks.adam(param, grad, m, v);
        CpuAdam.step(param, grad, m, v, p);
        round(param, m, v);
    }
}
