package io.cmamba.cuda;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static io.cmamba.cuda.GpuTestSupport.*;

/** Depthwise causal conv1d forward (with and without history) and backward against the CPU, including sequences shorter than the kernel. */
@Tag("gpu")
class Conv1dGpuTest {
    /** {B, L, D, K} */
    private static final int[][] SHAPES = {{1, 1, 1, 1}, {2, 5, 3, 4}, {3, 50, 256, 4}, {2, 7, 33, 6}, {4, 3, 17, 4},
            {8, 200, 64, 4}, {1, 1000, 5, 2}, {16, 64, 512, 4}};

    @Test
    void forwardAndBackward() {
        Random rnd = random("conv1d");
        for (int[] s : SHAPES) {
            int b = s[0], l = s[1], d = s[2], k = s[3];
            String what = "conv1d " + Arrays.toString(s);
            try (Pair x = gaussianPair(rnd, b, l, d); Pair w = gaussianPair(rnd, d, k); Pair bias = gaussianPair(rnd, d);
                 Pair out = poisoned(b, l, d); Pair dout = gaussianPair(rnd, b, l, d); Pair dx = poisoned(b, l, d);
                 Pair dw = poisoned(d, k); Pair dbias = poisoned(d)) {
                CPU.causalConv1dForward(out.cpu(), x.cpu(), w.cpu(), bias.cpu());
                gpu().causalConv1dForward(out.gpu(), x.gpu(), w.gpu(), bias.gpu());
                assertMatches(out, TOL, what + " out");
                CPU.causalConv1dBackward(dx.cpu(), dw.cpu(), dbias.cpu(), dout.cpu(), x.cpu(), w.cpu());
                gpu().causalConv1dBackward(dx.gpu(), dw.gpu(), dbias.gpu(), dout.gpu(), x.gpu(), w.gpu());
                assertMatches(dx, TOL, what + " dx");
                assertMatches(dw, SUM_TOL, what + " dw");
                assertMatches(dbias, SUM_TOL, what + " dbias");
            }
            if (k == 1) continue;
            // continuing a sequence: the steps before t = 0 from history [B, K - 1, D]
            try (Pair x = gaussianPair(rnd, b, l, d); Pair w = gaussianPair(rnd, d, k); Pair bias = gaussianPair(rnd, d);
                 Pair history = gaussianPair(rnd, b, k - 1, d); Pair out = poisoned(b, l, d)) {
                CPU.causalConv1dForward(out.cpu(), x.cpu(), w.cpu(), bias.cpu(), history.cpu());
                gpu().causalConv1dForward(out.gpu(), x.gpu(), w.gpu(), bias.gpu(), history.gpu());
                assertMatches(out, TOL, what + " out with history");
            }
        }
    }
}
