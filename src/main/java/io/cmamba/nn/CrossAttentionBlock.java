package io.cmamba.nn;

import io.cmamba.tensor.Activation;
import io.cmamba.tensor.AttentionKind;
import io.cmamba.tensor.Backend;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Saved;
import io.cmamba.tensor.Tensor;

/**
 * The baseline's block for one target modality (MODEL.md, "The baseline"): queries from the target
 * x [B, L, d], keys and values from the context (the other modalities concatenated along time)
 * [B, Lc, d]; x1 = x + W_o attn(W_q norm(x), W_k norm(c), W_v norm(c)); out = x1 + ff2(gelu(ff1(norm(x1)))).
 */
public final class CrossAttentionBlock {
    private final Norm normQ, normKv, normFf;
    private final Linear q, k, v, o, ff1, ff2;
    private final int heads;

    public CrossAttentionBlock(Init init, String name, int dModel, int heads, boolean rms) {
        this.heads = heads;
        normQ = new Norm(init, name + ".norm_q", dModel, rms);
        normKv = new Norm(init, name + ".norm_kv", dModel, rms);
        q = new Linear(init, name + ".q", dModel, dModel, true);
        k = new Linear(init, name + ".k", dModel, dModel, true);
        v = new Linear(init, name + ".v", dModel, dModel, true);
        o = new Linear(init, name + ".o", dModel, dModel, true);
        normFf = new Norm(init, name + ".norm_ff", dModel, rms);
        ff1 = new Linear(init, name + ".ff1", dModel, 4 * dModel, true);
        ff2 = new Linear(init, name + ".ff2", 4 * dModel, dModel, true);
    }

    public final class Forward implements AutoCloseable {
        final Work work = new Work();
        Tensor x, context, qt, kt, vt, att, x1, h, g;
        Norm.Saved nq, nkv, nff;
        Saved attention;
        public Tensor output;

        @Override
        public void close() {
            work.close();
        }
    }

    public Forward forward(Tensor x, Tensor context, AttentionKind kind) {
        Backend be = x.backend();
        DType dt = x.dtype();
        Forward f = new Forward();
        Work w = f.work;
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
    }

    /** Returns {dx, dcontext} (new tensors) and writes the parameter gradients. */
    public Tensor[] backward(Forward f, Tensor dOut) {
        Backend be = dOut.backend();
        DType dt = dOut.dtype();
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
            Tensor dx = normQ.backward(f.x, f.nq, dNq);
            be.axpby(dx, 1, dx, 1, dX1);
            Tensor dContext = normKv.backward(f.context, f.nkv, dNkv);
            return new Tensor[]{dx, dContext};
        }
    }
}
