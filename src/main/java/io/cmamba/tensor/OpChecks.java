package io.cmamba.tensor;

import static io.cmamba.tensor.Tensors.requireDType;
import static io.cmamba.tensor.Tensors.requireFloat;
import static io.cmamba.tensor.Tensors.requireSameShape;
import static io.cmamba.tensor.Tensors.requireShape;

/**
 * Shape and dtype checks of every {@link Backend} op, called first by each backend so that all
 * report a bad argument with the same words. Each method is named after its op.
 */
public final class OpChecks {
    private OpChecks() {
    }

    private static int rowsOf(Tensor t) {
        return Math.toIntExact(t.shape().rows());
    }

    public static void sameBackend(Backend b, Tensor... ts) {
        for (Tensor t : ts)
            if (t != null && t.backend() != b)
                throw new IllegalArgumentException("tensor " + t.shape() + " belongs to " + t.backend().name()
                        + ", not to " + b.name());
    }

    public static void copy(Tensor out, Tensor src) {
        requireSameShape("out", out, src);
        if (out.dtype() != src.dtype()) throw new IllegalArgumentException("copy: dtype " + src.dtype() + " into " + out.dtype());
    }

    public static void copyBlock(Tensor out, long outOffset, long outStride, Tensor src, long srcOffset, long srcStride,
                                 int rows, int cols) {
        if (rows < 0 || cols < 0 || outOffset < 0 || srcOffset < 0 || outStride < 0 || srcStride < 0)
            throw new IllegalArgumentException("copyBlock: negative rows, cols, offset or stride");
        if (rows == 0 || cols == 0) return;
        long lastOut = outOffset + (rows - 1) * outStride + cols;
        long lastSrc = srcOffset + (rows - 1) * srcStride + cols;
        if (lastOut > out.size()) throw new IllegalArgumentException("copyBlock: block of " + rows + "x" + cols
                + " at offset " + outOffset + " stride " + outStride + " overruns out " + out.shape());
        if (lastSrc > src.size()) throw new IllegalArgumentException("copyBlock: block of " + rows + "x" + cols
                + " at offset " + srcOffset + " stride " + srcStride + " overruns src " + src.shape());
        if (out.dtype() != src.dtype()) throw new IllegalArgumentException("copyBlock: dtype " + src.dtype() + " into " + out.dtype());
    }

    public static void elementwise(String op, Tensor out, Tensor... ins) {
        for (Tensor in : ins) requireSameShape(op + " input", in, out);
        Tensor[] all = new Tensor[ins.length + 1];
        all[0] = out;
        System.arraycopy(ins, 0, all, 1, ins.length);
        requireFloat(op, all);
    }

    public static void gemm(boolean transA, boolean transB, Tensor a, Tensor b, Tensor c) {
        requireFloat("gemm", a, b, c);
        long m = transA ? a.shape().cols() : a.shape().rows();
        long ka = transA ? a.shape().rows() : a.shape().cols();
        long kb = transB ? b.shape().cols() : b.shape().rows();
        long n = transB ? b.shape().rows() : b.shape().cols();
        if (ka != kb) throw new IllegalArgumentException("gemm: inner dimensions differ: op(A) is [" + m + ", " + ka
                + "] from A " + a.shape() + (transA ? "^T" : "") + ", op(B) is [" + kb + ", " + n + "] from B " + b.shape() + (transB ? "^T" : ""));
        if (c.shape().rows() != m || c.shape().cols() != n)
            throw new IllegalArgumentException("gemm: expected C [" + m + ", " + n + "], got " + c.shape());
    }

    public static void addBias(Tensor x, Tensor bias) {
        requireFloat("addBias", x, bias);
        requireShape("bias", bias, x.shape().cols());
    }

    public static void sumRows(Tensor out, Tensor x) {
        requireFloat("sumRows", out, x);
        requireShape("out", out, x.shape().cols());
    }

    public static void layerNorm(Tensor out, Tensor mean, Tensor rstd, Tensor x, Tensor gamma, Tensor beta) {
        requireFloat("layerNorm", out, mean, rstd, x, gamma, beta);
        requireSameShape("out", out, x);
        int n = x.shape().cols();
        requireShape("gamma", gamma, n);
        if (beta != null) requireShape("beta", beta, n);
        if (mean != null) requireShape("mean", mean, rowsOf(x));
        requireShape("rstd", rstd, rowsOf(x));
    }

    public static void causalConv1d(Tensor out, Tensor x, Tensor w, Tensor bias) {
        causalConv1d(out, x, w, bias, null);
    }

    /** history [B, K - 1, D] or null. */
    public static void causalConv1d(Tensor out, Tensor x, Tensor w, Tensor bias, Tensor history) {
        requireFloat("causalConv1d", out, x, w, bias);
        if (x.rank() != 3) throw new IllegalArgumentException("expected x [B, L, D], got " + x.shape());
        requireSameShape("out", out, x);
        int d = x.dim(2);
        if (w.rank() != 2 || w.dim(0) != d) throw new IllegalArgumentException("expected w [" + d + ", K], got " + w.shape());
        requireShape("bias", bias, d);
        if (history != null) {
            requireFloat("causalConv1d history", history, x);
            requireShape("history", history, x.dim(0), w.dim(1) - 1, d);
        }
    }

    public static void globalConvKernel(Tensor kernel, Tensor A, Tensor delta, Tensor B, Tensor C) {
        requireFloat("globalConvKernel", kernel, A, delta, B, C);
        if (A.rank() != 3) throw new IllegalArgumentException("expected A [M, D, N], got " + A.shape());
        int m = A.dim(0), d = A.dim(1), n = A.dim(2);
        if (kernel.rank() != 4) throw new IllegalArgumentException("expected kernel [M, M, D, L], got " + kernel.shape());
        requireShape("kernel", kernel, m, m, d, kernel.dim(3));
        requireShape("delta", delta, m, d);
        requireShape("B", B, m, n);
        requireShape("C", C, m, n);
    }

    public static void globalConv(Tensor y, Tensor u, Tensor kernel, Tensor Dskip) {
        requireFloat("globalConv", y, u, kernel, Dskip);
        if (u.rank() != 4) throw new IllegalArgumentException("expected u [M, B, L, D], got " + u.shape());
        int m = u.dim(0), l = u.dim(2), d = u.dim(3);
        requireSameShape("y", y, u);
        requireShape("kernel", kernel, m, m, d, l);
        requireShape("Dskip", Dskip, m, d);
    }

    public static void lengthPool(Tensor out, Tensor x, Tensor lengths) {
        requireFloat("lengthPool", out, x);
        if (x.rank() != 3) throw new IllegalArgumentException("expected x [B, Lin, F], got " + x.shape());
        if (out.rank() != 3 || out.dim(0) != x.dim(0) || out.dim(2) != x.dim(2))
            throw new IllegalArgumentException("expected out [" + x.dim(0) + ", Lout, " + x.dim(2) + "], got " + out.shape());
        requireShape("lengths", lengths, x.dim(0));
        requireDType("lengths", lengths, DType.I32);
    }

    public static void maxPoolTime(Tensor out, Tensor argmax, Tensor x) {
        requireFloat("maxPoolTime", out, x);
        if (x.rank() != 3) throw new IllegalArgumentException("expected x [B, L, D], got " + x.shape());
        requireShape("out", out, x.dim(0), x.dim(2));
        requireShape("argmax", argmax, x.dim(0), x.dim(2));
        requireDType("argmax", argmax, DType.I32);
    }

    public static void softmaxFusion(Tensor out, Tensor x, Tensor w) {
        requireFloat("softmaxFusion", out, x, w);
        if (x.rank() != 3) throw new IllegalArgumentException("expected x [M, B, D], got " + x.shape());
        requireShape("out", out, x.dim(1), x.dim(2));
        requireShape("w", w, x.dim(0));
    }

    public static void attention(Tensor out, Tensor q, Tensor k, Tensor v, int heads) {
        requireFloat("attention", out, q, k, v);
        if (q.rank() != 3) throw new IllegalArgumentException("expected q [B, Lq, H*dh], got " + q.shape());
        if (heads < 1 || q.dim(2) % heads != 0)
            throw new IllegalArgumentException("attention: width " + q.dim(2) + " is not a multiple of " + heads + " heads");
        if (k.rank() != 3 || k.dim(0) != q.dim(0) || k.dim(2) != q.dim(2))
            throw new IllegalArgumentException("expected k [" + q.dim(0) + ", Lk, " + q.dim(2) + "], got " + k.shape());
        requireSameShape("v", v, k);
        requireSameShape("out", out, q);
    }

    public static void l1Loss(Tensor lossOrGrad, boolean isGrad, Tensor pred, Tensor target) {
        requireFloat("l1Loss", lossOrGrad, pred, target);
        if (pred.rank() != 1) throw new IllegalArgumentException("expected pred [B], got " + pred.shape());
        requireSameShape("target", target, pred);
        if (isGrad) requireSameShape("dpred", lossOrGrad, pred);
        else requireShape("loss", lossOrGrad, 1);
    }

    public static void crossEntropy(Tensor lossOrGrad, boolean isGrad, Tensor logits, Tensor labels) {
        requireFloat("crossEntropy", lossOrGrad, logits);
        if (logits.rank() != 2) throw new IllegalArgumentException("expected logits [B, K], got " + logits.shape());
        requireShape("labels", labels, logits.dim(0));
        requireDType("labels", labels, DType.I32);
        if (isGrad) requireSameShape("dlogits", lossOrGrad, logits);
        else requireShape("loss", lossOrGrad, 1);
    }

    public static void reduction(String op, Tensor out, Tensor x) {
        requireFloat(op, out, x);
        requireShape("out", out, 1);
    }

    public static void adam(Tensor param, Tensor grad, Tensor m, Tensor v) {
        requireFloat("adamStep", param, grad, m, v);
        requireSameShape("grad", grad, param);
        requireSameShape("m", m, param);
        requireSameShape("v", v, param);
    }

    public static void scanOutputs(ScanInputs in, Tensor out, Tensor finalState) {
        requireFloat("coupledScan", in.u(), in.deltaPre(), in.z(), in.A(), in.B(), in.C(), in.Dskip(), in.initialState(), out, finalState);
        requireSameShape("out", out, in.u());
        if (finalState != null) requireShape("finalState", finalState, in.batch(), in.channels(), in.states());
    }

    public static void scanGrads(ScanInputs in, Tensor dout, Tensor dFinalState, ScanGrads g) {
        requireSameShape("dout", dout, in.u());
        if (dFinalState != null) requireShape("dFinalState", dFinalState, in.batch(), in.channels(), in.states());
        requireSameShape("du", g.du(), in.u());
        requireSameShape("dDeltaPre", g.dDeltaPre(), in.u());
        requireSameShape("dz", g.dz(), in.u());
        requireSameShape("dA", g.dA(), in.A());
        requireSameShape("dB", g.dB(), in.B());
        requireSameShape("dC", g.dC(), in.C());
        requireSameShape("dDskip", g.dDskip(), in.Dskip());
        if (g.dInitialState() != null) requireShape("dInitialState", g.dInitialState(), in.batch(), in.channels(), in.states());
    }
}
