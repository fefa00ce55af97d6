package io.cmamba.cpu;

import io.cmamba.tensor.AdamParams;
import io.cmamba.tensor.Tensor;

import static io.cmamba.cpu.CpuBackend.data;
import static io.cmamba.cpu.CpuBackend.off;

/**
 * One Adam step per element, in float64:
 * <pre>
 *   g = gradScale * grad (+ weightDecay * param when not decoupled: L2 decay, the paper's Adam)
 *   m = beta1 m + (1 - beta1) g;   v = beta2 v + (1 - beta2) g^2
 *   param -= lr * weightDecay * param               (decoupled only: AdamW, from the old param)
 *   param -= lr * (m / (1 - beta1^step)) / (sqrt(v / (1 - beta2^step)) + eps)
 * </pre>
 */
final class CpuAdam {
    private CpuAdam() {
    }

    static void step(Tensor param, Tensor grad, Tensor m, Tensor v, AdamParams p) {
        double[] w = data(param), g = data(grad), mm = data(m), vv = data(v);
        int wo = off(param), go = off(grad), mo = off(m), vo = off(v);
        long n = param.size();
        double b1 = p.beta1(), b2 = p.beta2(), lr = p.lr(), eps = p.eps(), wd = p.weightDecay(), scale = p.gradScale();
        double c1 = 1 - Math.pow(b1, p.step()), c2 = 1 - Math.pow(b2, p.step());
        boolean decoupled = p.decoupled();
        int chunk = CpuElementwise.CHUNK;
        Parallel.forEach((int) ((n + chunk - 1) / chunk), 16L * chunk, c -> {
            int s = c * chunk, e = (int) Math.min(n, s + (long) chunk);
            for (int i = s; i < e; i++) {
                double wi = w[wo + i];
                double gi = scale * g[go + i];
                if (!decoupled) gi += wd * wi;
                double mi = b1 * mm[mo + i] + (1 - b1) * gi;
                double vi = b2 * vv[vo + i] + (1 - b2) * gi * gi;
                mm[mo + i] = mi;
                vv[vo + i] = vi;
                if (decoupled) wi -= lr * wd * wi;
                w[wo + i] = wi - lr * (mi / c1) / (Math.sqrt(vi / c2) + eps);
            }
        });
    }
}
