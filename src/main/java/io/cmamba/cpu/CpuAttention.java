package io.cmamba.cpu;

import io.cmamba.tensor.AttentionKind;
import io.cmamba.tensor.Saved;
import io.cmamba.tensor.Tensor;

import static io.cmamba.cpu.CpuBackend.data;
import static io.cmamba.cpu.CpuBackend.off;

/**
 * Multi-head attention without mask. q [B, Lq, H*dh], k and v [B, Lk, H*dh]; head h on columns
 * [h*dh, (h+1)*dh). PLAIN keeps the probabilities P [B, H, Lq, Lk] for the backward; FLASH keeps only
 * the row log-sum-exp [B, H, Lq] and recomputes P, as the GPU's fused kernel does.
 * Backward: dV = P^T dO, dP = dO V^T, dS = P (dP - rowsum(dO * O)), dQ = s dS K, dK = s dS^T Q.
 */
final class CpuAttention {
    private CpuAttention() {
    }

    static final class AttentionSaved implements Saved {
        final AttentionKind kind;
        final Tensor q, k, v, out;
        final int heads;
        double[] probs; // PLAIN: [B, H, Lq, Lk]
        double[] lse;   // both: [B, H, Lq]

        AttentionSaved(AttentionKind kind, Tensor q, Tensor k, Tensor v, Tensor out, int heads) {
            this.kind = kind;
            this.q = q;
            this.k = k;
            this.v = v;
            this.out = out;
            this.heads = heads;
        }

        @Override
        public void close() {
            probs = null;
            lse = null;
        }
    }

    static Saved forward(AttentionKind kind, Tensor out, Tensor q, Tensor k, Tensor v, int heads) {
        int nb = q.dim(0), lq = q.dim(1), w = q.dim(2), lk = k.dim(1), dh = w / heads;
        double scale = 1 / Math.sqrt(dh);
        double[] qa = data(q), ka = data(k), va = data(v), o = data(out);
        int oq = off(q), ok = off(k), ov = off(v), oo = off(out);
        AttentionSaved s = new AttentionSaved(kind, q, k, v, out, heads);
        s.lse = new double[nb * heads * lq];
        if (kind == AttentionKind.PLAIN) s.probs = new double[nb * heads * lq * lk];
        Parallel.forEach(nb * heads, (long) lq * lk * dh * 2, bh -> {
            int b = bh / heads, h = bh % heads;
            double[] p = new double[lk];
            for (int i = 0; i < lq; i++) {
                double max = Double.NEGATIVE_INFINITY;
                int qi = oq + (b * lq + i) * w + h * dh;
                for (int j = 0; j < lk; j++) {
                    int kj = ok + (b * lk + j) * w + h * dh;
                    double dot = 0;
                    for (int c = 0; c < dh; c++) dot += qa[qi + c] * ka[kj + c];
                    p[j] = dot * scale;
                    max = Math.max(max, p[j]);
                }
                double sum = 0;
                for (int j = 0; j < lk; j++) sum += p[j] = Math.exp(p[j] - max);
                for (int j = 0; j < lk; j++) p[j] /= sum;
                s.lse[bh * lq + i] = max + Math.log(sum);
                int oi = oo + (b * lq + i) * w + h * dh;
                for (int c = 0; c < dh; c++) {
                    double acc = 0;
                    for (int j = 0; j < lk; j++) acc += p[j] * va[ov + (b * lk + j) * w + h * dh + c];
                    o[oi + c] = acc;
                }
                if (s.probs != null) System.arraycopy(p, 0, s.probs, (bh * lq + i) * lk, lk);
            }
        });
        return s;
    }

    static void backward(Saved saved, Tensor dq, Tensor dk, Tensor dv, Tensor dout) {
        if (!(saved instanceof AttentionSaved s))
            throw new IllegalArgumentException("attentionBackward: saved state does not come from the CPU attention forward");
        Tensor q = s.q, k = s.k, v = s.v, out = s.out;
        io.cmamba.tensor.OpChecks.attention(out, q, k, v, s.heads);
        io.cmamba.tensor.Tensors.requireSameShape("dq", dq, q);
        io.cmamba.tensor.Tensors.requireSameShape("dk", dk, k);
        io.cmamba.tensor.Tensors.requireSameShape("dv", dv, v);
        io.cmamba.tensor.Tensors.requireSameShape("dout", dout, out);
        int heads = s.heads, nb = q.dim(0), lq = q.dim(1), w = q.dim(2), lk = k.dim(1), dh = w / heads;
        double scale = 1 / Math.sqrt(dh);
        double[] qa = data(q), ka = data(k), va = data(v), o = data(out), g = data(dout);
        double[] gq = data(dq), gk = data(dk), gv = data(dv);
        int oq = off(q), ok = off(k), ov = off(v), oo = off(out), og = off(dout), ogq = off(dq), ogk = off(dk), ogv = off(dv);
        java.util.Arrays.fill(gk, ogk, ogk + (int) dk.size(), 0);
        java.util.Arrays.fill(gv, ogv, ogv + (int) dv.size(), 0);
        // heads write disjoint columns of dk/dv, so (b, h) pairs are independent
        Parallel.forEach(nb * heads, (long) lq * lk * dh * 4, bh -> {
            int b = bh / heads, h = bh % heads;
            double[] p = new double[lk], dp = new double[lk];
            for (int i = 0; i < lq; i++) {
                int qi = oq + (b * lq + i) * w + h * dh, gi = og + (b * lq + i) * w + h * dh, oi = oo + (b * lq + i) * w + h * dh;
                if (s.probs != null) {
                    System.arraycopy(s.probs, (bh * lq + i) * lk, p, 0, lk);
                } else {
                    double lse = s.lse[bh * lq + i];
                    for (int j = 0; j < lk; j++) {
                        int kj = ok + (b * lk + j) * w + h * dh;
                        double dot = 0;
                        for (int c = 0; c < dh; c++) dot += qa[qi + c] * ka[kj + c];
                        p[j] = Math.exp(dot * scale - lse);
                    }
                }
                double rowDot = 0;
                for (int c = 0; c < dh; c++) rowDot += g[gi + c] * o[oi + c];
                for (int j = 0; j < lk; j++) {
                    int vj = ov + (b * lk + j) * w + h * dh;
                    double acc = 0;
                    for (int c = 0; c < dh; c++) acc += g[gi + c] * va[vj + c];
                    dp[j] = p[j] * (acc - rowDot); // dS
                }
                int dqi = ogq + (b * lq + i) * w + h * dh;
                for (int c = 0; c < dh; c++) {
                    double acc = 0;
                    for (int j = 0; j < lk; j++) acc += dp[j] * ka[ok + (b * lk + j) * w + h * dh + c];
                    gq[dqi + c] = acc * scale;
                }
                for (int j = 0; j < lk; j++) {
                    int kj = (b * lk + j) * w + h * dh;
                    for (int c = 0; c < dh; c++) {
                        gk[ogk + kj + c] += dp[j] * qa[qi + c] * scale;
                        gv[ogv + kj + c] += p[j] * g[gi + c];
                    }
                }
            }
        });
    }
}
