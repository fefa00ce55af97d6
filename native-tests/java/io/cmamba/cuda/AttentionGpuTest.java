package io.cmamba.cuda;

import io.cmamba.tensor.AttentionKind;
import io.cmamba.tensor.Saved;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static io.cmamba.cuda.GpuSupport.*;

/** Plain (materialised scores) and flash attention against the float64 CPU reference, forward and backward. */
@Tag("gpu")
class AttentionGpuTest {
    private final Random rnd = new Random(System.nanoTime());

    @Test
    void bothKindsForwardAndBackward() {
        for (AttentionKind kind : AttentionKind.values())
            for (int[] s : new int[][]{{2, 5, 7, 2, 16}, {3, 50, 100, 8, 16}, {1, 130, 67, 4, 32}, {2, 33, 64, 2, 64}, {1, 9, 10, 3, 4}}) {
                int nb = s[0], lq = s[1], lk = s[2], heads = s[3], w = heads * s[4];
                String what = kind + " " + java.util.Arrays.toString(s);
                Twin q = randn(rnd, 1, 0, nb, lq, w), k = randn(rnd, 1, 0, nb, lk, w), v = randn(rnd, 1, 0, nb, lk, w), o = out(nb, lq, w);
                Saved sg = gpu().attentionForward(kind, o.gpu(), q.gpu(), k.gpu(), v.gpu(), heads);
                Saved sc = CPU.attentionForward(kind, o.cpu(), q.cpu(), k.cpu(), v.cpu(), heads);
                assertClose("attention out " + what, o, 1e-5);
                Twin dout = randn(rnd, 1, 0, nb, lq, w), dq = out(nb, lq, w), dk = out(nb, lk, w), dv = out(nb, lk, w);
                gpu().attentionBackward(sg, dq.gpu(), dk.gpu(), dv.gpu(), dout.gpu());
                CPU.attentionBackward(sc, dq.cpu(), dk.cpu(), dv.cpu(), dout.cpu());
                assertClose("dq " + what, dq, 1e-4);
                assertClose("dk " + what, dk, 1e-4);
                assertClose("dv " + what, dv, 1e-4);
                sg.close();
            }
    }
}
