package io.cmamba.nn;

import io.cmamba.tensor.Activation;
import io.cmamba.tensor.AttentionKind;
import io.cmamba.tensor.Backend;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Saved;
import io.cmamba.tensor.Tensor;

import java.util.List;

/**
 * The baseline's block for one target modality (MODEL.md, "The baseline the paper compares against"):
 * queries from the target x [B, L, d], keys and values from the context c [B, Lc, d] (the other
 * modalities concatenated along time, Lc = (M-1) L):
 * <pre>
 *   x1  = x + o_proj(attention(q_proj(norm_q(x)), k_proj(norm_kv(c)), v_proj(norm_kv(c))))
 *   out = x1 + ff2(gelu(ff1(norm_ff(x1))))          ff1: d -> 4d, ff2: 4d -> d
 * </pre>
 * Attention is multi-head, scale 1/sqrt(d / heads), no mask, through the backend's attention op.
 *
 * <p>Parameters under {@code {name}.}: {@code norm_q}, {@code norm_kv}, {@code norm_ff} (weight, and
 * bias for LayerNorm, [d]); {@code q_proj}, {@code k_proj}, {@code v_proj}, {@code o_proj} (weight
 * [d, d], bias [d]); {@code ff1} (weight [4d, d], bias [4d]); {@code ff2} (weight [d, 4d], bias [d]).
 */
public final class CrossAttentionBlock {
    private final Norm normQ, normKv, normFf;
    private final Linear q, k, v, o, ff1, ff2;
    private final int heads, dModel;
    private final String name;

    public CrossAttentionBlock(Init init, String name, int dModel, int heads, boolean rms) {
        if (heads < 1 || dModel % heads != 0)
            throw new IllegalArgumentException("CrossAttentionBlock " + name + ": dModel " + dModel + " must be a multiple of heads " + heads);
        this.heads = heads;
        this.dModel = dModel;
        this.name = name;
        normQ = new Norm(init, name + ".norm_q", dModel, rms);
        normKv = new Norm(init, name + ".norm_kv", dModel, rms);
        q = new Linear(init, name + ".q_proj", dModel, dModel, true);
        k = new Linear(init, name + ".k_proj", dModel, dModel, true);
        v = new Linear(init, name + ".v_proj", dModel, dModel, true);
        o = new Linear(init, name + ".o_proj", dModel, dModel, true);
        normFf = new Norm(init, name + ".norm_ff", dModel, rms);
        ff1 = new Linear(init, name + ".ff1", dModel, 4 * dModel, true);
        ff2 = new Linear(init, name + ".ff2", 4 * dModel, dModel, true);
    }

    /**
     * The block's saved activations; close frees what it allocated (x and the context stay the
     * caller's). q [B, L, d], k and v [B, Lc, d], the attention output att [B, L, d], x1 [B, L, d],
     * h = ff1(norm_ff(x1)) and gelu(h) [B, L, 4d], the attention's own saved state, output [B, L, d].
     */
    public final class Forward implements AutoCloseable {
        private final Work work = new Work();
        private Tensor x, context, qt, kt, vt, att, x1, h, g, output;
        private Norm.Saved nq, nkv, nff;
        private Saved attention;

        private boolean outputOnly;

        /** [B, L, d], owned by this object. */
        public Tensor output() {
            return output;
        }

        /** Frees every saved activation but the output (inference: no backward can follow). */
        public void keepOnlyOutput() {
            outputOnly = true;
            work.closeExcept(List.of(output));
        }

        @Override
        public void close() {
            work.close();
        }
    }

    /**
     * @param x       target [B, L, d] (kept by reference until the backward)
     * @param context [B, Lc, d] (kept by reference until the backward)
     */
    public Forward forward(Tensor x, Tensor context, AttentionKind kind) {
        if (x.rank() != 3 || x.dim(2) != dModel)
            throw new IllegalArgumentException("CrossAttentionBlock " + name + ": expected x [B, L, " + dModel + "], got " + x.shape());
        if (context.rank() != 3 || context.dim(0) != x.dim(0) || context.dim(2) != dModel)
            throw new IllegalArgumentException("CrossAttentionBlock " + name + ": expected context [" + x.dim(0) + ", Lc, " + dModel + "], got " + context.shape());
        Backend be = x.backend();
        DType dt = x.dtype();
        Forward f = new Forward();
        Work w = f.work;
        try {
            f.x = x;
            f.context = context;
            f.nq = w.keep(normQ.forward(x));
            f.nkv = w.keep(normKv.forward(context));
            f.qt = w.keep(q.forward(f.nq.out(), null));
            f.kt = w.keep(k.forward(f.nkv.out(), null));
            f.vt = w.keep(v.forward(f.nkv.out(), null));
            f.att = w.keep(be.empty(dt, f.qt.shape().dims()));
            f.attention = w.keep(be.attentionForward(kind, f.att, f.qt, f.kt, f.vt, heads));
            f.x1 = w.keep(o.forward(f.att, null));
            be.axpby(f.x1, 1, f.x1, 1, x);
            f.nff = w.keep(normFf.forward(f.x1));
            f.h = w.keep(ff1.forward(f.nff.out(), null));
            f.g = w.keep(be.empty(dt, f.h.shape().dims()));
            be.activationForward(Activation.GELU, f.g, f.h);
            f.output = w.keep(ff2.forward(f.g, null));
            be.axpby(f.output, 1, f.output, 1, f.x1);
            return f;
        } catch (RuntimeException e) {
            f.close();
            throw e;
        }
    }

    /** The two input gradients of {@link #backward}: dx [B, L, d] and dcontext [B, Lc, d] (the caller closes both). */
    public record Gradients(Tensor dx, Tensor dContext) implements AutoCloseable {
        @Override
        public void close() {
            dx.close();
            dContext.close();
        }
    }

    /** Overwrites the block's parameter gradients from dOut [B, L, d]. */
    public Gradients backward(Forward f, Tensor dOut) {
        if (f.outputOnly)
            throw new IllegalStateException("CrossAttentionBlock " + name + ": backward of a pass that kept only its output (inference)");
        if (!dOut.shape().equals(f.output.shape()))
            throw new IllegalArgumentException("CrossAttentionBlock " + name + ": expected dOut " + f.output.shape() + ", got " + dOut.shape());
        Backend be = dOut.backend();
        DType dt = dOut.dtype();
        Tensor dx = null;
        try (Work w = new Work()) {
            Tensor dG = w.keep(ff2.backward(f.g, dOut, true));
            Tensor dH = w.keep(be.empty(dt, f.h.shape().dims()));
            be.activationBackward(Activation.GELU, dH, dG, f.h);
            Tensor dNff = w.keep(ff1.backward(f.nff.out(), dH, true));
            Tensor dX1 = w.keep(normFf.backward(f.x1, f.nff, dNff));
            be.axpby(dX1, 1, dX1, 1, dOut);
            Tensor dAtt = w.keep(o.backward(f.att, dX1, true));
            Tensor dq = w.keep(be.empty(dt, f.qt.shape().dims()));
            Tensor dk = w.keep(be.empty(dt, f.kt.shape().dims()));
            Tensor dv = w.keep(be.empty(dt, f.vt.shape().dims()));
            be.attentionBackward(f.attention, dq, dk, dv, dAtt);
            Tensor dNq = w.keep(q.backward(f.nq.out(), dq, true));
            Tensor dNkv = w.keep(k.backward(f.nkv.out(), dk, true));
            Tensor dNkvV = w.keep(v.backward(f.nkv.out(), dv, true));
            be.axpby(dNkv, 1, dNkv, 1, dNkvV);
            dx = normQ.backward(f.x, f.nq, dNq);
            be.axpby(dx, 1, dx, 1, dX1);
            Tensor dContext = normKv.backward(f.context, f.nkv, dNkv);
            return new Gradients(dx, dContext);
        } catch (RuntimeException e) {
            if (dx != null) dx.close();
            throw e;
        }
    }
}
