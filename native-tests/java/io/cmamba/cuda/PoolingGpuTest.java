package io.cmamba.cuda;

import io.cmamba.tensor.DType;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static io.cmamba.cuda.GpuTestSupport.*;

/** Length-aware pooling, max pooling over time and the softmax fusion against the CPU; bad indices reported. */
@Tag("gpu")
class PoolingGpuTest {
    @Test
    void lengthPoolForwardAndBackward() {
        Random rnd = random("lengthPool");
        // {B, Lin, F, Lout}: shrinking, growing (windows overlap), equal, one step
        int[][] shapes = {{1, 1, 1, 1}, {3, 10, 4, 3}, {4, 7, 5, 20}, {2, 50, 128, 50}, {5, 375, 74, 50}, {3, 9, 3, 1}};
        for (int[] s : shapes) {
            int b = s[0], lin = s[1], f = s[2], lout = s[3];
            int[] lengths = new int[b];
            for (int i = 0; i < b; i++) lengths[i] = i == 0 ? lin : i == 1 ? 0 : 1 + rnd.nextInt(lin);
            String what = "lengthPool " + Arrays.toString(s) + " lengths " + Arrays.toString(lengths);
            try (Pair x = gaussianPair(rnd, b, lin, f); Pair len = pairInts(lengths, b); Pair out = poisoned(b, lout, f);
                 Pair dout = gaussianPair(rnd, b, lout, f); Pair dx = poisoned(b, lin, f)) {
                CPU.lengthPoolForward(out.cpu(), x.cpu(), len.cpu());
                gpu().lengthPoolForward(out.gpu(), x.gpu(), len.gpu());
                assertMatches(out, TOL, what + " out");
                CPU.lengthPoolBackward(dx.cpu(), dout.cpu(), len.cpu());
                gpu().lengthPoolBackward(dx.gpu(), dout.gpu(), len.gpu());
                assertMatches(dx, TOL, what + " dx");
            }
        }
    }

    @Test
    void badLengthIsReported() {
        try (Pair x = gaussianPair(random("bad length"), 2, 5, 3); Pair len = pairInts(new int[]{5, 9}, 2); Pair out = poisoned(2, 4, 3)) {
            assertRejected(() -> gpu().lengthPoolForward(out.gpu(), x.gpu(), len.gpu()), "length of sample 1 is 9", "[0, 5]");
            // the error is reported once; the backend goes on working
            gpu().synchronize();
        }
    }

    @Test
    void maxPoolTimeForwardAndBackward() {
        Random rnd = random("maxPoolTime");
        int[][] shapes = {{1, 1, 1}, {2, 7, 5}, {8, 50, 128}, {3, 1000, 33}, {2, 4099, 40}};
        for (int[] s : shapes) {
            int b = s[0], l = s[1], d = s[2];
            double[] xv = gaussian(rnd, b * l * d);
            for (int i = 0; i < xv.length; i += 7) xv[i] = Math.round(xv[i]);  // ties: the first maximum wins
            if (xv.length > 20) xv[13] = Double.NaN;                           // a NaN wins
            if (l > 40) xv[13 + 37 * d] = Double.NaN;                          // a later NaN of the same channel loses
            if (l > 40) xv[(l - 1) * d + 3] = Double.NaN;                      // a NaN at the last step
            String what = "maxPoolTime " + Arrays.toString(s);
            try (Pair x = pair(xv, b, l, d); Pair out = poisoned(b, d); Pair arg = poisoned(DType.I32, b, d);
                 Pair dout = gaussianPair(rnd, b, d); Pair dx = poisoned(b, l, d)) {
                CPU.maxPoolTimeForward(out.cpu(), arg.cpu(), x.cpu());
                gpu().maxPoolTimeForward(out.gpu(), arg.gpu(), x.gpu());
                assertMatches(out, 0, what + " out");
                assertSameInts(arg, what + " argmax");
                CPU.maxPoolTimeBackward(dx.cpu(), dout.cpu(), arg.cpu());
                gpu().maxPoolTimeBackward(dx.gpu(), dout.gpu(), arg.gpu());
                assertMatches(dx, 0, what + " dx");
            }
        }
        try (Pair dout = gaussianPair(rnd, 2, 3); Pair arg = pairInts(new int[]{0, 1, 4, 0, 0, 0}, 2, 3); Pair dx = poisoned(2, 4, 3)) {
            assertRejected(() -> gpu().maxPoolTimeBackward(dx.gpu(), dout.gpu(), arg.gpu()), "argmax", "is 4", "[0, 4)");
        }
    }

    @Test
    void softmaxFusionForwardAndBackward() {
        Random rnd = random("softmaxFusion");
        int[][] shapes = {{1, 1, 1}, {3, 4, 5}, {3, 32, 128}, {2, 1000, 257}, {7, 3, 1}};
        for (int[] s : shapes) {
            int m = s[0], b = s[1], d = s[2];
            String what = "softmaxFusion " + Arrays.toString(s);
            try (Pair x = gaussianPair(rnd, m, b, d); Pair w = gaussianPair(rnd, m); Pair out = poisoned(b, d);
                 Pair dout = gaussianPair(rnd, b, d); Pair dx = poisoned(m, b, d); Pair dw = poisoned(m)) {
                CPU.softmaxFusionForward(out.cpu(), x.cpu(), w.cpu());
                gpu().softmaxFusionForward(out.gpu(), x.gpu(), w.gpu());
                assertMatches(out, TOL, what + " out");
                CPU.softmaxFusionBackward(dx.cpu(), dw.cpu(), dout.cpu(), x.cpu(), w.cpu());
                gpu().softmaxFusionBackward(dx.gpu(), dw.gpu(), dout.gpu(), x.gpu(), w.gpu());
                assertMatches(dx, TOL, what + " dx");
                assertMatches(dw, SUM_TOL, what + " dw");
            }
        }
    }
}
