package io.cmamba.cuda;

import io.cmamba.tensor.AdamParams;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static io.cmamba.cuda.GpuTestSupport.*;

/** Several Adam and AdamW steps against the CPU, on aligned and unaligned sizes. */
@Tag("gpu")
class AdamGpuTest {
    @Test
    void adamAndAdamWSteps() {
        Random rnd = random("adam");
        for (boolean decoupled : new boolean[]{false, true}) {
            for (int n : new int[]{1, 3, 1024, 100001}) {
                try (Pair w = gaussianPair(rnd, n); Pair m = pair(new double[n], n); Pair v = pair(new double[n], n)) {
                    for (int step = 1; step <= 5; step++) {
                        try (Pair g = gaussianPair(rnd, n)) {
                            AdamParams p = new AdamParams(5e-4 * step, 0.9, 0.999, 1e-8, 5e-4, decoupled, step, step == 3 ? 0.5 : 1.0);
                            CPU.adamStep(w.cpu(), g.cpu(), m.cpu(), v.cpu(), p);
                            gpu().adamStep(w.gpu(), g.gpu(), m.gpu(), v.gpu(), p);
                        }
                    }
                    String what = (decoupled ? "AdamW " : "Adam ") + n;
                    assertMatches(w, TOL, what + " param");
                    assertMatches(m, TOL, what + " m");
                    assertMatches(v, TOL, what + " v");
                }
            }
        }
        // an unaligned view takes the scalar path
        try (Pair w = gaussianPair(rnd, 1001); Pair g = gaussianPair(rnd, 1001); Pair m = pair(new double[1001], 1001);
             Pair v = pair(new double[1001], 1001)) {
            Pair ws = new Pair(w.cpu().narrow(1, 1000), w.gpu().narrow(1, 1000));
            Pair gs = new Pair(g.cpu().narrow(1, 1000), g.gpu().narrow(1, 1000));
            Pair ms = new Pair(m.cpu().narrow(1, 1000), m.gpu().narrow(1, 1000));
            Pair vs = new Pair(v.cpu().narrow(1, 1000), v.gpu().narrow(1, 1000));
            AdamParams p = new AdamParams(1e-3, 0.9, 0.999, 1e-8, 0, false, 1, 1);
            CPU.adamStep(ws.cpu(), gs.cpu(), ms.cpu(), vs.cpu(), p);
            gpu().adamStep(ws.gpu(), gs.gpu(), ms.gpu(), vs.gpu(), p);
            assertMatches(w, TOL, "Adam unaligned param (element 0 untouched)");
            assertMatches(m, TOL, "Adam unaligned m");
        }
    }
}
