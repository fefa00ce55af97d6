package io.cmamba.cuda;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static io.cmamba.cuda.GpuTestSupport.*;

/** L1 and cross-entropy losses and their gradients against the CPU; bad labels reported. */
@Tag("gpu")
class LossGpuTest {
    @Test
    void l1ForwardAndBackward() {
        Random rnd = random("l1");
        for (int n : new int[]{1, 7, 32, 1000, 4099}) {
            double[] p = gaussian(rnd, n), t = gaussian(rnd, n);
            t[0] = p[0];  // sign(0) = 0
            try (Pair pred = pair(p, n); Pair target = pair(t, n); Pair loss = poisoned(1); Pair dpred = poisoned(n)) {
                CPU.l1LossForward(loss.cpu(), pred.cpu(), target.cpu());
                gpu().l1LossForward(loss.gpu(), pred.gpu(), target.gpu());
                assertMatches(loss, TOL, "l1 loss " + n);
                CPU.l1LossBackward(dpred.cpu(), pred.cpu(), target.cpu());
                gpu().l1LossBackward(dpred.gpu(), pred.gpu(), target.gpu());
                assertMatches(dpred, 0, "l1 gradient " + n);
            }
        }
    }

    @Test
    void crossEntropyForwardAndBackward() {
        Random rnd = random("crossEntropy");
        int[][] shapes = {{1, 1}, {1, 3}, {8, 2}, {32, 37}, {1000, 7}, {5, 1000}, {257, 64}};
        for (int[] s : shapes) {
            int b = s[0], k = s[1];
            double[] z = gaussian(rnd, b * k);
            for (int i = 0; i < z.length; i += 11) z[i] *= 30;  // large logits: the max shift matters
            int[] labels = new int[b];
            for (int i = 0; i < b; i++) labels[i] = rnd.nextInt(k);
            String what = "crossEntropy " + b + "x" + k;
            try (Pair logits = pair(z, b, k); Pair lab = pairInts(labels, b); Pair loss = poisoned(1); Pair dlogits = poisoned(b, k)) {
                CPU.crossEntropyForward(loss.cpu(), logits.cpu(), lab.cpu());
                gpu().crossEntropyForward(loss.gpu(), logits.gpu(), lab.gpu());
                assertMatches(loss, TOL, what + " loss");
                CPU.crossEntropyBackward(dlogits.cpu(), logits.cpu(), lab.cpu());
                gpu().crossEntropyBackward(dlogits.gpu(), logits.gpu(), lab.gpu());
                assertMatches(dlogits, TOL, what + " gradient");
            }
        }
    }

    /** A confident correct row: its loss (4e-18) and label gradient keep their relative precision in float32. */
    @Test
    void crossEntropyOfAConfidentRow() {
        try (Pair logits = pair(new double[]{0, -40, -45}, 1, 3); Pair lab = pairInts(new int[]{0}, 1);
             Pair loss = poisoned(1); Pair d = poisoned(1, 3)) {
            CPU.crossEntropyForward(loss.cpu(), logits.cpu(), lab.cpu());
            gpu().crossEntropyForward(loss.gpu(), logits.gpu(), lab.gpu());
            assertMatches(loss, TOL, "confident row loss");
            CPU.crossEntropyBackward(d.cpu(), logits.cpu(), lab.cpu());
            gpu().crossEntropyBackward(d.gpu(), logits.gpu(), lab.gpu());
            assertMatches(d, TOL, "confident row gradient");
        }
    }

    @Test
    void badLabelIsReported() {
        try (Pair logits = gaussianPair(random("bad label"), 3, 4); Pair lab = pairInts(new int[]{0, 4, 1}, 3);
             Pair loss = poisoned(1); Pair d = poisoned(3, 4)) {
            assertRejected(() -> gpu().crossEntropyForward(loss.gpu(), logits.gpu(), lab.gpu()), "label of sample 1 is 4", "[0, 4)");
            assertRejected(() -> gpu().crossEntropyBackward(d.gpu(), logits.gpu(), lab.gpu()), "label of sample 1 is 4");
        }
    }
}
