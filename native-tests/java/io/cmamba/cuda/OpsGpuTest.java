package io.cmamba.cuda;

import io.cmamba.tensor.Activation;
import io.cmamba.tensor.AdamParams;
import io.cmamba.tensor.DType;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static io.cmamba.cuda.GpuSupport.*;
import static org.junit.jupiter.api.Assertions.*;

/** Every non-scan op of the CUDA backend against the float64 CPU reference, several shapes, odd ones included. */
@Tag("gpu")
class OpsGpuTest {
    private final long seed = System.nanoTime();
    private final Random rnd = new Random(seed);
    private static final double TOL = 2e-6;

    @Test
    void elementwiseActivationsAndCopies() {
        for (int[] shape : new int[][]{{1}, {7, 13}, {3, 50, 129}}) {
            Twin a = randn(rnd, 2, 0, shape), b = randn(rnd, 1, 0.5, shape);
            Twin o = out(shape);
            gpu().axpby(o.gpu(), 0.7, a.gpu(), -1.3, b.gpu());
            CPU.axpby(o.cpu(), 0.7, a.cpu(), -1.3, b.cpu());
            assertClose("axpby " + java.util.Arrays.toString(shape), o, TOL);
            o = out(shape);
            gpu().mul(o.gpu(), a.gpu(), b.gpu());
            CPU.mul(o.cpu(), a.cpu(), b.cpu());
            assertClose("mul", o, TOL);
            for (Activation f : Activation.values()) {
                o = out(shape);
                gpu().activationForward(f, o.gpu(), a.gpu());
                CPU.activationForward(f, o.cpu(), a.cpu());
                assertClose(f + " forward", o, 1e-5);
                o = out(shape);
                gpu().activationBackward(f, o.gpu(), b.gpu(), a.gpu());
                CPU.activationBackward(f, o.cpu(), b.cpu(), a.cpu());
                assertClose(f + " backward", o, 1e-5);
            }
        }
        // copyBlock: the middle columns of a [5, 11] matrix into a [5, 4] one
        Twin src = randn(rnd, 1, 0, 5, 11), dst = out(5, 4);
        gpu().copyBlock(dst.gpu(), 0, 4, src.gpu(), 3, 11, 5, 4);
        CPU.copyBlock(dst.cpu(), 0, 4, src.cpu(), 3, 11, 5, 4);
        assertClose("copyBlock", dst, 0);
    }

    @Test
    void biasRowSumsAndReductions() {
        for (int[] rc : new int[][]{{1, 1}, {37, 5}, {51200, 130}}) {
            Twin x = randn(rnd, 1, 0, rc[0], rc[1]), bias = randn(rnd, 1, 0, rc[1]);
            gpu().addBias(x.gpu(), bias.gpu());
            CPU.addBias(x.cpu(), bias.cpu());
            assertClose("addBias", x, TOL);
            Twin s = out(rc[1]);
            gpu().sumRows(s.gpu(), x.gpu());
            CPU.sumRows(s.cpu(), x.cpu());
            assertClose("sumRows " + rc[0] + "x" + rc[1], s, 1e-5);
            Twin q = out(1);
            gpu().sumSquares(q.gpu(), x.gpu());
            CPU.sumSquares(q.cpu(), x.cpu());
            assertClose("sumSquares", q, 1e-6);
        }
        float[] v = randomFloats(rnd, 1000, 1, 0);
        v[3] = Float.NaN;
        v[999] = Float.POSITIVE_INFINITY;
        Twin x = twin(v, 1000), c = out(1);
        gpu().countNonFinite(c.gpu(), x.gpu());
        assertEquals(2f, c.gpu().toFloats()[0]);
    }

    @Test
    void layerNormAndRmsNorm() {
        for (int[] rc : new int[][]{{1, 4}, {33, 128}, {1000, 77}}) {
            Twin x = randn(rnd, 2, 0.3, rc), g = randn(rnd, 0.5, 1, rc[1]), bt = randn(rnd, 0.5, 0, rc[1]);
            Twin y = out(rc), mean = out(rc[0]), rstd = out(rc[0]);
            gpu().layerNormForward(y.gpu(), mean.gpu(), rstd.gpu(), x.gpu(), g.gpu(), bt.gpu(), 1e-5);
            CPU.layerNormForward(y.cpu(), mean.cpu(), rstd.cpu(), x.cpu(), g.cpu(), bt.cpu(), 1e-5);
            assertClose("layerNorm out", y, 1e-5);
            Twin dy = randn(rnd, 1, 0, rc), dx = out(rc), dg = out(rc[1]), db = out(rc[1]);
            gpu().layerNormBackward(dx.gpu(), dg.gpu(), db.gpu(), dy.gpu(), x.gpu(), mean.gpu(), rstd.gpu(), g.gpu());
            CPU.layerNormBackward(dx.cpu(), dg.cpu(), db.cpu(), dy.cpu(), x.cpu(), mean.cpu(), rstd.cpu(), g.cpu());
            assertClose("layerNorm dx", dx, 1e-5);
            assertClose("layerNorm dgamma", dg, 1e-5);
            assertClose("layerNorm dbeta", db, 1e-5);
            Twin r = out(rc[0]);
            y = out(rc);
            gpu().rmsNormForward(y.gpu(), r.gpu(), x.gpu(), g.gpu(), 1e-5);
            CPU.rmsNormForward(y.cpu(), r.cpu(), x.cpu(), g.cpu(), 1e-5);
            assertClose("rmsNorm out", y, 1e-5);
            dx = out(rc);
            dg = out(rc[1]);
            gpu().rmsNormBackward(dx.gpu(), dg.gpu(), dy.gpu(), x.gpu(), r.gpu(), g.gpu());
            CPU.rmsNormBackward(dx.cpu(), dg.cpu(), dy.cpu(), x.cpu(), r.cpu(), g.cpu());
            assertClose("rmsNorm dx", dx, 1e-5);
            assertClose("rmsNorm dgamma", dg, 1e-5);
        }
    }

    @Test
    void causalConv1d() {
        for (int[] s : new int[][]{{1, 1, 1, 4}, {3, 50, 257, 4}, {2, 7, 9, 3}}) {
            int nb = s[0], l = s[1], d = s[2], k = s[3];
            Twin x = randn(rnd, 1, 0, nb, l, d), w = randn(rnd, 0.5, 0, d, k), b = randn(rnd, 0.5, 0, d), y = out(nb, l, d);
            gpu().causalConv1dForward(y.gpu(), x.gpu(), w.gpu(), b.gpu());
            CPU.causalConv1dForward(y.cpu(), x.cpu(), w.cpu(), b.cpu());
            assertClose("conv1d forward", y, 1e-6);
            Twin dy = randn(rnd, 1, 0, nb, l, d), dx = out(nb, l, d), dw = out(d, k), db = out(d);
            gpu().causalConv1dBackward(dx.gpu(), dw.gpu(), db.gpu(), dy.gpu(), x.gpu(), w.gpu());
            CPU.causalConv1dBackward(dx.cpu(), dw.cpu(), db.cpu(), dy.cpu(), x.cpu(), w.cpu());
            assertClose("conv1d dx", dx, 1e-6);
            assertClose("conv1d dw", dw, 1e-5);
            assertClose("conv1d dbias", db, 1e-5);
        }
    }

    @Test
    void poolingAndFusion() {
        int nb = 5, lin = 23, f = 9, lout = 8;
        int[] lens = {23, 0, 1, 17, 8};
        Twin x = randn(rnd, 1, 0, nb, lin, f), len = ints(lens, nb), y = out(nb, lout, f);
        gpu().lengthPoolForward(y.gpu(), x.gpu(), len.gpu());
        CPU.lengthPoolForward(y.cpu(), x.cpu(), len.cpu());
        assertClose("lengthPool forward", y, 1e-6);
        Twin dy = randn(rnd, 1, 0, nb, lout, f), dx = out(nb, lin, f);
        gpu().lengthPoolBackward(dx.gpu(), dy.gpu(), len.gpu());
        CPU.lengthPoolBackward(dx.cpu(), dy.cpu(), len.cpu());
        assertClose("lengthPool backward", dx, 1e-6);

        Twin h = randn(rnd, 1, 0, 4, 13, 70), m = out(4, 70), am = outInts(4, 70);
        gpu().maxPoolTimeForward(m.gpu(), am.gpu(), h.gpu());
        CPU.maxPoolTimeForward(m.cpu(), am.cpu(), h.cpu());
        assertClose("maxPool forward", m, 0);
        assertArrayEquals(am.cpu().toInts(), am.gpu().toInts(), "argmax");
        Twin dm = randn(rnd, 1, 0, 4, 70), dh = out(4, 13, 70);
        gpu().maxPoolTimeBackward(dh.gpu(), dm.gpu(), am.gpu());
        CPU.maxPoolTimeBackward(dh.cpu(), dm.cpu(), am.cpu());
        assertClose("maxPool backward", dh, 0);

        Twin xs = randn(rnd, 1, 0, 3, 31, 17), w = randn(rnd, 1, 0, 3), fo = out(31, 17);
        gpu().softmaxFusionForward(fo.gpu(), xs.gpu(), w.gpu());
        CPU.softmaxFusionForward(fo.cpu(), xs.cpu(), w.cpu());
        assertClose("softmaxFusion forward", fo, 1e-6);
        Twin dfo = randn(rnd, 1, 0, 31, 17), dxs = out(3, 31, 17), dw = out(3);
        gpu().softmaxFusionBackward(dxs.gpu(), dw.gpu(), dfo.gpu(), xs.gpu(), w.gpu());
        CPU.softmaxFusionBackward(dxs.cpu(), dw.cpu(), dfo.cpu(), xs.cpu(), w.cpu());
        assertClose("softmaxFusion dx", dxs, 1e-6);
        assertClose("softmaxFusion dw", dw, 1e-5);
    }

    @Test
    void lossesAndAdam() {
        Twin p = randn(rnd, 1, 0, 1031), t = randn(rnd, 1, 0, 1031), l = out(1), dp = out(1031);
        gpu().l1LossForward(l.gpu(), p.gpu(), t.gpu());
        CPU.l1LossForward(l.cpu(), p.cpu(), t.cpu());
        assertClose("l1 loss", l, 1e-6);
        gpu().l1LossBackward(dp.gpu(), p.gpu(), t.gpu());
        CPU.l1LossBackward(dp.cpu(), p.cpu(), t.cpu());
        assertClose("l1 backward", dp, 1e-6);
        int[] labels = new int[257];
        for (int i = 0; i < labels.length; i++) labels[i] = rnd.nextInt(7);
        Twin logits = randn(rnd, 2, 0, 257, 7), lab = ints(labels, 257), ce = out(1), dl = out(257, 7);
        gpu().crossEntropyForward(ce.gpu(), logits.gpu(), lab.gpu());
        CPU.crossEntropyForward(ce.cpu(), logits.cpu(), lab.cpu());
        assertClose("cross entropy", ce, 1e-6);
        gpu().crossEntropyBackward(dl.gpu(), logits.gpu(), lab.gpu());
        CPU.crossEntropyBackward(dl.cpu(), logits.cpu(), lab.cpu());
        assertClose("cross entropy backward", dl, 1e-5);
        labels[100] = 7;
        Twin bad = ints(labels, 257);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> gpu().crossEntropyForward(ce.gpu(), logits.gpu(), bad.gpu()));
        assertTrue(e.getMessage().contains("sample 100"), e.getMessage());

        for (boolean decoupled : new boolean[]{false, true}) {
            Twin w = randn(rnd, 1, 0, 333), g = randn(rnd, 1, 0, 333), m = randn(rnd, 0.1, 0, 333);
            float[] vv = randomFloats(rnd, 333, 0.1, 0);
            for (int i = 0; i < vv.length; i++) vv[i] = Math.abs(vv[i]); // a second moment is never negative
            Twin v = twin(vv, 333);
            AdamParams ap = new AdamParams(1e-3, 0.9, 0.999, 1e-8, 5e-4, decoupled, 7, 0.5);
            gpu().adamStep(w.gpu(), g.gpu(), m.gpu(), v.gpu(), ap);
            CPU.adamStep(w.cpu(), g.cpu(), m.cpu(), v.cpu(), ap);
            assertClose("adam param", w, 1e-6);
            assertClose("adam m", m, 1e-6);
            assertClose("adam v", v, 1e-6);
        }
    }

    @Test
    void float64IsRejectedWithAClearMessage() {
        CudaBackend be = gpu();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> be.empty(DType.F64, 3));
        assertTrue(e.getMessage().contains("float64"), e.getMessage());
    }
}
