package io.cmamba.cpu;

import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static io.cmamba.cpu.CpuTestSupport.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

class CpuLossTest {

    @Test
    void l1HandMadeValues() {
        Tensor pred = tensor(DType.F64, new double[]{1, -2, 0.5}, 3);
        Tensor target = tensor(DType.F64, new double[]{0, 1, 0.5}, 3);
        Tensor loss = poisoned(DType.F64, 1);
        CPU.l1LossForward(loss, pred, target);
        assertEquals(4.0 / 3, loss.toDoubles()[0], 1e-15);
        Tensor d = poisoned(DType.F64, 3);
        CPU.l1LossBackward(d, pred, target);
        // sign(0) = 0 where the prediction is exact
        assertArrayEquals(new double[]{1.0 / 3, -1.0 / 3, 0}, d.toDoubles(), 1e-15);
    }

    @Test
    void l1MatchesItsDefinitionAndItsGradient() {
        Random rnd = random("l1");
        int n = 37;
        for (DType dt : new DType[]{DType.F64, DType.F32}) {
            Tensor pred = tensor(dt, gaussian(rnd, n), n), target = tensor(dt, gaussian(rnd, n), n);
            double[] p = pred.toDoubles(), t = target.toDoubles();
            double e = 0;
            for (int i = 0; i < n; i++) e += Math.abs(p[i] - t[i]);
            Tensor loss = poisoned(dt, 1);
            CPU.l1LossForward(loss, pred, target);
            assertClose(loss, new double[]{e / n}, dt == DType.F64 ? F64_TOL : F32_TOL, "l1 " + dt);
        }
        double[] p = gaussian(rnd, n), t = gaussian(rnd, n);
        for (int i = 0; i < n; i++) if (Math.abs(p[i] - t[i]) < 1e-3) p[i] += 0.1; // off the kink
        Tensor pred = tensor(DType.F64, p, n), target = tensor(DType.F64, t, n);
        Tensor d = poisoned(DType.F64, n), loss = CPU.empty(DType.F64, 1);
        CPU.l1LossBackward(d, pred, target);
        assertAllWritten(d, "dpred");
        assertGradient(pred, d, () -> {
            CPU.l1LossForward(loss, pred, target);
            return loss.toDoubles()[0];
        }, "l1 dpred");
    }

    @Test
    void crossEntropyHandMadeValues() {
        Tensor two = tensor(DType.F64, new double[]{0, 0}, 1, 2);
        Tensor loss = poisoned(DType.F64, 1);
        CPU.crossEntropyForward(loss, two, CPU.fromInts(new int[]{0}, 1));
        assertEquals(Math.log(2), loss.toDoubles()[0], 1e-15);
        Tensor d = poisoned(DType.F64, 1, 2);
        CPU.crossEntropyBackward(d, two, CPU.fromInts(new int[]{0}, 1));
        assertArrayEquals(new double[]{-0.5, 0.5}, d.toDoubles(), 1e-15);

        Tensor three = tensor(DType.F64, new double[]{1, 2, 3}, 1, 3);
        CPU.crossEntropyForward(loss, three, CPU.fromInts(new int[]{2}, 1));
        assertEquals(0.4076059644443804, loss.toDoubles()[0], 1e-15);
        Tensor d3 = poisoned(DType.F64, 1, 3);
        CPU.crossEntropyBackward(d3, three, CPU.fromInts(new int[]{2}, 1));
        assertArrayEquals(new double[]{0.09003057317038046, 0.24472847105479767, 0.6652409557748219 - 1},
                d3.toDoubles(), 1e-15);

        // a logit of 1000 must not overflow; the mean is over the batch of two
        Tensor big = tensor(DType.F64, new double[]{1000, 0, 0, 0}, 2, 2);
        CPU.crossEntropyForward(loss, big, CPU.fromInts(new int[]{1, 0}, 2));
        assertEquals((1000 + Math.log(2)) / 2, loss.toDoubles()[0], 1e-12);
        Tensor dbig = poisoned(DType.F64, 2, 2);
        CPU.crossEntropyBackward(dbig, big, CPU.fromInts(new int[]{1, 0}, 2));
        assertArrayEquals(new double[]{0.5, -0.5, -0.25, 0.25}, dbig.toDoubles(), 1e-15);
    }

    /** A confident correct row: loss and label gradient near 4e-18, far below 1 + x's resolution, keep their digits. */
    @Test
    void crossEntropyOfAConfidentRowKeepsItsRelativePrecision() {
        Tensor logits = tensor(DType.F64, new double[]{0, -40, -45, 3, 0, 1}, 2, 3);
        Tensor labels = CPU.fromInts(new int[]{0, 0}, 2);
        double rest = Math.exp(-40) + Math.exp(-45);   // the other classes' terms of row 0
        double row1 = Math.log(Math.exp(3) + 1 + Math.exp(1)) - 3;
        Tensor loss = poisoned(DType.F64, 1);
        CPU.crossEntropyForward(loss, logits, labels);
        assertEquals((Math.log1p(rest) + row1) / 2, loss.toDoubles()[0], 1e-15);
        Tensor one = tensor(DType.F64, new double[]{0, -40, -45}, 1, 3);
        Tensor l1 = poisoned(DType.F64, 1);
        CPU.crossEntropyForward(l1, one, CPU.fromInts(new int[]{0}, 1));
        assertEquals(rest, l1.toDoubles()[0], 1e-12 * rest);   // log1p(rest) = rest to 1e-18
        Tensor d = poisoned(DType.F64, 1, 3);
        CPU.crossEntropyBackward(d, one, CPU.fromInts(new int[]{0}, 1));
        double[] g = d.toDoubles();
        assertEquals(-rest, g[0], 1e-12 * rest);
        assertEquals(Math.exp(-40), g[1], 1e-12 * Math.exp(-40));
        assertEquals(Math.exp(-45), g[2], 1e-12 * Math.exp(-45));
    }

    @Test
    void crossEntropyMatchesItsDefinitionAndItsGradient() {
        Random rnd = random("crossEntropy");
        int b = 9, k = 5;
        int[] labels = new int[b];
        for (int i = 0; i < b; i++) labels[i] = rnd.nextInt(k);
        Tensor lab = CPU.fromInts(labels, b);
        for (DType dt : new DType[]{DType.F64, DType.F32}) {
            Tensor logits = tensor(dt, uniform(rnd, b * k, -4, 4), b, k);
            double[] z = logits.toDoubles();
            double e = 0;
            for (int i = 0; i < b; i++) {
                double s = 0;
                for (int j = 0; j < k; j++) s += Math.exp(z[i * k + j]);
                e += -Math.log(Math.exp(z[i * k + labels[i]]) / s);
            }
            Tensor loss = poisoned(dt, 1);
            CPU.crossEntropyForward(loss, logits, lab);
            assertClose(loss, new double[]{e / b}, dt == DType.F64 ? F64_TOL : F32_TOL, "cross entropy " + dt);
        }
        Tensor logits = tensor(DType.F64, uniform(rnd, b * k, -4, 4), b, k);
        Tensor d = poisoned(DType.F64, b, k), loss = CPU.empty(DType.F64, 1);
        CPU.crossEntropyBackward(d, logits, lab);
        assertAllWritten(d, "dlogits");
        assertGradient(logits, d, () -> {
            CPU.crossEntropyForward(loss, logits, lab);
            return loss.toDoubles()[0];
        }, "cross entropy dlogits");
    }

    @Test
    void labelsOutsideTheClassesNameTheSample() {
        Tensor logits = CPU.zeros(DType.F64, 3, 4);
        Tensor loss = CPU.zeros(DType.F64, 1), d = CPU.zeros(DType.F64, 3, 4);
        assertRejected(() -> CPU.crossEntropyForward(loss, logits, CPU.fromInts(new int[]{0, 4, 1}, 3)),
                "sample 1", "4", "[0, 4)");
        assertRejected(() -> CPU.crossEntropyBackward(d, logits, CPU.fromInts(new int[]{0, 1, -1}, 3)),
                "sample 2", "-1");
    }

    @Test
    void badShapesNameTheArgument() {
        Tensor p = CPU.zeros(DType.F64, 4), loss = CPU.zeros(DType.F64, 1);
        assertRejected(() -> CPU.l1LossForward(loss, p, CPU.zeros(DType.F64, 5)), "target", "[4]", "[5]");
        assertRejected(() -> CPU.l1LossForward(CPU.zeros(DType.F64, 2), p, p), "loss", "[1]");
        assertRejected(() -> CPU.l1LossBackward(CPU.zeros(DType.F64, 3), p, p), "dpred", "[4]");
        assertRejected(() -> CPU.l1LossForward(loss, CPU.zeros(DType.F64, 4, 1), CPU.zeros(DType.F64, 4, 1)), "pred");
        assertRejected(() -> CPU.l1LossForward(loss, CPU.zeros(DType.F64, 0), CPU.zeros(DType.F64, 0)), "empty batch");
        Tensor z = CPU.zeros(DType.F64, 2, 3);
        assertRejected(() -> CPU.crossEntropyForward(loss, CPU.zeros(DType.F64, 6), CPU.fromInts(new int[]{0}, 1)), "logits");
        assertRejected(() -> CPU.crossEntropyForward(loss, z, CPU.fromInts(new int[]{0, 0, 0}, 3)), "labels", "[2]", "[3]");
        assertRejected(() -> CPU.crossEntropyForward(loss, z, CPU.zeros(DType.F64, 2)), "labels", "I32");
        assertRejected(() -> CPU.crossEntropyBackward(CPU.zeros(DType.F64, 3, 2), z, CPU.fromInts(new int[]{0, 0}, 2)),
                "dlogits", "[2, 3]");
    }
}
