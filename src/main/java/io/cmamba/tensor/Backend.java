package io.cmamba.tensor;

/**
 * The operations layers are written against, once; {@code cpu.CpuBackend} and {@code cuda.CudaBackend}
 * implement them. Conventions:
 * <ul>
 *   <li>Outputs come first and are allocated by the caller; an op overwrites every element of its
 *       outputs (backward ops too: they never accumulate, callers add with {@link #axpby}).</li>
 *   <li>Shapes are checked and a mismatch throws {@link IllegalArgumentException} naming the argument,
 *       the expected and the actual shape. Tensors of different backends never mix.</li>
 *   <li>Ops are asynchronous on a device backend: host reads ({@link #toDoubles} and friends) and
 *       {@link #synchronize} wait for them.</li>
 *   <li>Symbols (A, B, C, delta, G, V) are those of MODEL.md.</li>
 * </ul>
 */
public interface Backend extends AutoCloseable {

    /** "cpu" or "cuda:0" and so on. */
    String name();

    /**
     * Whether layers free what their backward can recompute cheaply (norm outputs, activations, small
     * projections) instead of keeping it from the forward: true where memory is the scarce resource (a
     * GPU), false where time is (host memory; the CPU backend keeps everything).
     */
    default boolean recomputesActivations() {
        return false;
    }

    /** Element types this backend stores. */
    boolean supports(DType dtype);

    // ---------------------------------------------------------------- memory

    /** A new tensor with unspecified contents. */
    Tensor empty(DType dtype, int... shape);

    default Tensor zeros(DType dtype, int... shape) {
        Tensor t = empty(dtype, shape);
        fill(t, 0);
        return t;
    }

    /** A new tensor holding {@code values} (rounded to the dtype). */
    Tensor fromDoubles(DType dtype, double[] values, int... shape);

    Tensor fromFloats(float[] values, int... shape);

    Tensor fromInts(int[] values, int... shape);

    double[] toDoubles(Tensor t);

    float[] toFloats(Tensor t);

    int[] toInts(Tensor t);

    /** Waits until every op issued so far has finished. */
    void synchronize();

    /** Releases the backend's resources; its tensors are unusable afterwards. */
    @Override
    void close();

    // ---------------------------------------------------------------- copies and elementwise

    void fill(Tensor out, double value);

    /** out = src (same shape and dtype). */
    void copy(Tensor out, Tensor src);

    /**
     * Strided 2-D copy of {@code rows x cols} elements: out[outOffset + r*outStride + c] =
     * src[srcOffset + r*srcStride + c]; offsets and strides in elements relative to each tensor's
     * first element. Splits and concatenations along the last or a middle axis are this op.
     */
    void copyBlock(Tensor out, long outOffset, long outStride, Tensor src, long srcOffset, long srcStride,
                   int rows, int cols);

    /** out = alpha * a + beta * b (any equal shapes; out may alias a or b). */
    void axpby(Tensor out, double alpha, Tensor a, double beta, Tensor b);

    /** out = a * b elementwise (out may alias a or b). */
    void mul(Tensor out, Tensor a, Tensor b);

    /** out = f(x); out may alias x. */
    void activationForward(Activation f, Tensor out, Tensor x);

    /** dx = dout * f'(x); dx may alias dout. */
    void activationBackward(Activation f, Tensor dx, Tensor dout, Tensor x);

    // ---------------------------------------------------------------- matrix products

    /**
     * C = alpha * op(A) * op(B) + beta * C with every tensor read as a row-major matrix
     * [rows, cols] (all leading dimensions folded into rows); op(X) is X or its transpose.
     * With beta 0 the previous contents of C are ignored (NaN included).
     */
    void gemm(boolean transA, boolean transB, double alpha, Tensor a, Tensor b, double beta, Tensor c);

    /** x[r, :] += bias for every row r; x read as [rows, n], bias [n]. */
    void addBias(Tensor x, Tensor bias);

    /** out[n] = sum over rows r of x[r, n] (bias gradient). */
    void sumRows(Tensor out, Tensor x);

    // ---------------------------------------------------------------- norms

    /**
     * LayerNorm over the last dimension: x [rows, n], gamma and beta [n]; writes out [rows, n] and
     * the saved statistics mean, rstd [rows].
     */
    void layerNormForward(Tensor out, Tensor mean, Tensor rstd, Tensor x, Tensor gamma, Tensor beta, double eps);

    void layerNormBackward(Tensor dx, Tensor dgamma, Tensor dbeta, Tensor dout, Tensor x, Tensor mean, Tensor rstd,
                           Tensor gamma);

    /** RMSNorm over the last dimension: out = x * rstd * gamma, rstd [rows] = 1/sqrt(mean(x^2) + eps). */
    void rmsNormForward(Tensor out, Tensor rstd, Tensor x, Tensor gamma, double eps);

    void rmsNormBackward(Tensor dx, Tensor dgamma, Tensor dout, Tensor x, Tensor rstd, Tensor gamma);

    // ---------------------------------------------------------------- depthwise causal conv1d

    /**
     * out[b, t, d] = bias[d] + sum_{j<K} w[d, j] * x[b, t - K + 1 + j, d] with zero left padding.
     * x, out [B, L, D]; w [D, K]; bias [D].
     */
    default void causalConv1dForward(Tensor out, Tensor x, Tensor w, Tensor bias) {
        causalConv1dForward(out, x, w, bias, null);
    }

    /**
     * As the causal conv above, continuing a sequence: steps before t = 0 are read from
     * {@code history} [B, K - 1, D] (the previous piece's last K - 1 input steps) instead of zero;
     * null is zero padding.
     */
    void causalConv1dForward(Tensor out, Tensor x, Tensor w, Tensor bias, Tensor history);

    void causalConv1dBackward(Tensor dx, Tensor dw, Tensor dbias, Tensor dout, Tensor x, Tensor w);

    // ---------------------------------------------------------------- coupled selective scan

    /**
     * The fused coupled scan of MODEL.md: softplus(deltaPre), discretisation, s_t = G_t s_{t-1} + V_t,
     * h^m_t = Abar^m_t s_{t-1} + Bbar^m_t u^m_t, y = C.h + Dskip u, out = y * silu(z).
     *
     * @param out        [M, B, L, D]
     * @param finalState [B, D, N] s at each sample's last valid step, or null
     * @return what the backward needs (chunk-boundary states; never a [B, L, D, N] tensor)
     */
    Saved coupledScanForward(ScanInputs in, Tensor out, Tensor finalState);

    /**
     * The forward for inference: the same outputs, with nothing kept for a backward (a backend may
     * then skip the chunk-boundary states, [B, L / 16, D, N], the largest thing the forward writes).
     * finalState may be in.initialState() itself: each (b, d) row is read before it is overwritten,
     * so that a sequence streamed in pieces carries one state buffer.
     */
    default void coupledScanInference(ScanInputs in, Tensor out, Tensor finalState) {
        coupledScanForward(in, out, finalState).close();
    }

    /**
     * Backward of {@link #coupledScanForward}; dFinalState [B, D, N] may be null (zero).
     * Writes every non-null tensor of {@code grads}.
     */
    void coupledScanBackward(ScanInputs in, Saved saved, Tensor dout, Tensor dFinalState, ScanGrads grads);

    // ---------------------------------------------------------------- global convolution (lti mode)

    /**
     * Materialises the coupled convolution kernels from time-invariant parameters:
     * for lag l >= 1, K[m, k, d, l] = (1/M) sum_n C[m,n] Abar[m,d,n] G[d,n]^(l-1) Bbar[k,d,n];
     * lag 0 holds the direct term, K[m, k, d, 0] = [m == k] sum_n C[m,n] Bbar[m,d,n].
     * Abar = exp(delta A), Bbar = delta B[n], G = mean_m Abar.
     *
     * @param kernel [M, M, D, L]
     * @param A      [M, D, N] negative reals
     * @param delta  [M, D] positive step (after softplus)
     * @param B      [M, N]
     * @param C      [M, N]
     */
    void globalConvKernel(Tensor kernel, Tensor A, Tensor delta, Tensor B, Tensor C);

    /** Backward of {@link #globalConvKernel} from dKernel [M, M, D, L]. */
    void globalConvKernelBackward(Tensor dA, Tensor dDelta, Tensor dB, Tensor dC, Tensor dKernel,
                                  Tensor A, Tensor delta, Tensor B, Tensor C);

    /**
     * y[m, b, t, d] = sum_k sum_{j<=t} K[m, k, d, t - j] u[k, b, j, d] + Dskip[m, d] u[m, b, t, d].
     * y, u [M, B, L, D]; K [M, M, D, L]; Dskip [M, D].
     */
    void globalConvForward(Tensor y, Tensor u, Tensor kernel, Tensor Dskip);

    void globalConvBackward(Tensor du, Tensor dKernel, Tensor dDskip, Tensor dy, Tensor u, Tensor kernel,
                            Tensor Dskip);

    // ---------------------------------------------------------------- pooling and fusion

    /**
     * Adaptive average pooling along time that sees only each sample's first lengths[b] steps:
     * out[b, i, f] = mean of x[b, t, f] for t in [floor(i len / Lout), ceil((i+1) len / Lout));
     * a sample of length 0 pools to zeros. x [B, Lin, F]; out [B, Lout, F]; lengths [B] int32.
     */
    void lengthPoolForward(Tensor out, Tensor x, Tensor lengths);

    void lengthPoolBackward(Tensor dx, Tensor dout, Tensor lengths);

    /** out[b, d] = max_t x[b, t, d]; argmax [B, D] int32 keeps the first maximal t. x [B, L, D]. */
    void maxPoolTimeForward(Tensor out, Tensor argmax, Tensor x);

    /** dx[b, t, d] = dout[b, d] where t == argmax[b, d], else 0. */
    void maxPoolTimeBackward(Tensor dx, Tensor dout, Tensor argmax);

    /** out[b, d] = sum_m softmax(w)[m] x[m, b, d]. x [M, B, D]; w [M]. */
    void softmaxFusionForward(Tensor out, Tensor x, Tensor w);

    void softmaxFusionBackward(Tensor dx, Tensor dw, Tensor dout, Tensor x, Tensor w);

    // ---------------------------------------------------------------- attention (the baseline)

    /**
     * Multi-head attention without mask, scale 1/sqrt(dh): q [B, Lq, H*dh], k and v [B, Lk, H*dh],
     * out [B, Lq, H*dh], head h on columns [h*dh, (h+1)*dh).
     *
     * @return what the backward needs (PLAIN: probabilities [B, H, Lq, Lk]; FLASH: log-sum-exp
     *         [B, H, Lq]); it keeps references to q, k, v and out, which must stay unchanged
     */
    Saved attentionForward(AttentionKind kind, Tensor out, Tensor q, Tensor k, Tensor v, int heads);

    void attentionBackward(Saved saved, Tensor dq, Tensor dk, Tensor dv, Tensor dout);

    // ---------------------------------------------------------------- losses and reductions

    /** loss [1] = mean_b |pred[b] - target[b]|; pred and target [B]. */
    void l1LossForward(Tensor loss, Tensor pred, Tensor target);

    /** dpred = sign(pred - target) / B (sign(0) = 0). */
    void l1LossBackward(Tensor dpred, Tensor pred, Tensor target);

    /** loss [1] = mean_b -log softmax(logits[b])[labels[b]]; logits [B, K]; labels [B] int32 in [0, K). */
    void crossEntropyForward(Tensor loss, Tensor logits, Tensor labels);

    /** dlogits = (softmax(logits) - onehot(labels)) / B. */
    void crossEntropyBackward(Tensor dlogits, Tensor logits, Tensor labels);

    /** out [1] = sum of x^2 (accumulated in double precision on the CPU; gradient clipping). */
    void sumSquares(Tensor out, Tensor x);

    /** out [1] = number of NaN or infinite elements of x. */
    void countNonFinite(Tensor out, Tensor x);

    // ---------------------------------------------------------------- optimizer

    /** One Adam/AdamW step on param with grad, updating the moments m and v in place. */
    void adamStep(Tensor param, Tensor grad, Tensor m, Tensor v, AdamParams p);
}
