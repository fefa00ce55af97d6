package io.cmamba.cuda;

import io.cmamba.tensor.AttentionKind;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Saved;
import io.cmamba.tensor.Tensor;
import io.cmamba.tensor.Tensors;

/**
 * Launches of kernels/attention.cu. PLAIN writes the scores and probabilities [B, H, Lq, Lk] (the
 * baseline the paper measures; its backward overwrites them with dS); FLASH keeps only the row
 * log-sum-exp [B, H, Lq]. Head widths 4, 8, 16, 32 and 64 have kernels.
 */
public final class CudaAttention {
    private CudaAttention() {
    }

    static final class AttentionSaved implements Saved {
        final AttentionKind kind;
        final Tensor q, k, v, out, probs, lse;
        final int heads;
        boolean consumed;

        AttentionSaved(AttentionKind kind, Tensor q, Tensor k, Tensor v, Tensor out, Tensor probs, Tensor lse, int heads) {
            this.kind = kind;
            this.q = q;
            this.k = k;
            this.v = v;
            this.out = out;
            this.probs = probs;
            this.lse = lse;
            this.heads = heads;
        }

        @Override
        public void close() {
            if (probs != null) probs.close();
            lse.close();
        }
    }

    static int headWidth(Tensor q, int heads) {
        int dh = q.dim(2) / heads;
        if (dh != 4 && dh != 8 && dh != 16 && dh != 32 && dh != 64)
            throw new IllegalArgumentException("the CUDA attention supports head widths 4, 8, 16, 32 and 64, got " + dh
                    + " (width " + q.dim(2) + " over " + heads + " heads)");
        return dh;
    }

    public static Saved forward(CudaBackend be, AttentionKind kind, Tensor out, Tensor q, Tensor k, Tensor v, int heads) {
        int dh = headWidth(q, heads), nb = q.dim(0), lq = q.dim(1), lk = k.dim(1), bh = nb * heads;
        if (bh > 65535) throw new IllegalArgumentException("attention: batch x heads = " + bh + " exceeds 65535");
        float scale = (float) (1 / Math.sqrt(dh));
        // least work for the profiler: x FMAs per product of [lq, dh] by [dh, lk], e exponentials per softmax
        double e = (double) bh * lq * lk, x = e * dh;
        Tensor lse = be.empty(DType.F32, nb, heads, lq);
        if (kind == AttentionKind.FLASH) {
            be.launch(KernelWork.ofArguments(out, lse, q, k, v).withFmas(2 * x).withExps(e), be.kernel("attention.cu", "attn_flash_fwd_" + dh),
                    Dim3.of((lq + 63) / 64, bh, 1), Dim3.of(64, 1, 1), 0, out, lse, q, k, v, heads, lq, lk, scale);
            return new AttentionSaved(kind, q, k, v, out, null, lse, heads);
        }
        Tensor p = be.empty(DType.F32, nb, heads, lq, lk);
        be.launch(KernelWork.ofArguments(p, q, k).withFmas(x), be.kernel("attention.cu", "attn_scores_" + dh),
                Dim3.of((lk + 15) / 16, (lq + 15) / 16, bh), Dim3.of(16, 16, 1), 0, p, q, k, heads, lq, lk, scale);
        long rows = (long) bh * lq;
        be.launch(KernelWork.ofArguments(p, p, lse).withExps(e), be.kernel("attention.cu", "attn_softmax"),
                Dim3.of((int) ((rows + 7) / 8), 1, 1), Dim3.of(256, 1, 1), 0, p, lse, rows, lk);
        be.launch(KernelWork.ofArguments(out, p, v).withFmas(x), be.kernel("attention.cu", "attn_pv_" + dh),
                Dim3.of(1, (lq + 15) / 16, bh), Dim3.of(16, 16, 1), 0, out, p, v, heads, lq, lk);
        return new AttentionSaved(kind, q, k, v, out, p, lse, heads);
    }

    public static void backward(CudaBackend be, Saved saved, Tensor dq, Tensor dk, Tensor dv, Tensor dout) {
        if (!(saved instanceof AttentionSaved s))
            throw new IllegalArgumentException("attentionBackward: the saved state does not come from the CUDA attention forward");
        if (s.consumed) throw new IllegalStateException("attentionBackward: a PLAIN attention's saved state serves one backward");
        Tensors.requireSameShape("dq", dq, s.q);
        Tensors.requireSameShape("dk", dk, s.k);
        Tensors.requireSameShape("dv", dv, s.v);
        Tensors.requireSameShape("dout", dout, s.out);
        int heads = s.heads, dh = headWidth(s.q, heads), nb = s.q.dim(0), lq = s.q.dim(1), lk = s.k.dim(1), bh = nb * heads;
        float scale = (float) (1 / Math.sqrt(dh));
        long rows = (long) bh * lq;
        // least work: dV, dP, dK and dQ, one product each (flash's recomputed scores and dP not counted)
        double x = (double) bh * lq * lk * dh;
        try (Tensor rowDot = be.empty(DType.F32, nb, heads, lq)) {
            be.launch(be.kernel("attention.cu", "attn_row_dot_" + dh), Dim3.of((int) ((rows + 255) / 256), 1, 1), Dim3.of(256, 1, 1), 0,
                    rowDot, dout, s.out, heads, lq, rows);
            if (s.kind == AttentionKind.FLASH) {
                be.launch(KernelWork.ofArguments(dk, dv, s.q, s.k, s.v, dout, s.lse, rowDot).withFmas(3 * x),
                        be.kernel("attention.cu", "attn_flash_dkdv_" + dh), Dim3.of((lk + 63) / 64, bh, 1), Dim3.of(64, 1, 1), 0,
                        dk, dv, s.q, s.k, s.v, dout, s.lse, rowDot, heads, lq, lk, scale);
                be.launch(KernelWork.ofArguments(dq, s.q, s.k, s.v, dout, s.lse, rowDot).withFmas(x),
                        be.kernel("attention.cu", "attn_flash_dq_" + dh), Dim3.of((lq + 63) / 64, bh, 1), Dim3.of(64, 1, 1), 0,
                        dq, s.q, s.k, s.v, dout, s.lse, rowDot, heads, lq, lk, scale);
                return;
            }
            // dV = P^T dO first, then P is overwritten by dS = P (dO V^T - D)
            be.launch(KernelWork.ofArguments(dv, s.probs, dout).withFmas(x), be.kernel("attention.cu", "attn_matmul_t_" + dh),
                    Dim3.of(1, (lk + 15) / 16, bh), Dim3.of(16, 16, 1), 0, dv, s.probs, dout, heads, lk, lq, 1f);
            be.launch(KernelWork.ofArguments(s.probs, s.probs, dout, s.v, rowDot).withFmas(x), be.kernel("attention.cu", "attn_plain_ds_" + dh),
                    Dim3.of((lk + 15) / 16, (lq + 15) / 16, bh), Dim3.of(16, 16, 1), 0, s.probs, dout, s.v, rowDot, heads, lq, lk);
            s.consumed = true;
            be.launch(KernelWork.ofArguments(dq, s.probs, s.k).withFmas(x), be.kernel("attention.cu", "attn_matmul_" + dh),
                    Dim3.of(1, (lq + 15) / 16, bh), Dim3.of(16, 16, 1), 0, dq, s.probs, s.k, heads, lq, lk, scale);
            be.launch(KernelWork.ofArguments(dk, s.probs, s.q).withFmas(x), be.kernel("attention.cu", "attn_matmul_t_" + dh),
                    Dim3.of(1, (lk + 15) / 16, bh), Dim3.of(16, 16, 1), 0, dk, s.probs, s.q, heads, lk, lq, scale);
        }
    }
}
