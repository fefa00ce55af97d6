package io.cmamba.nn;

import io.cmamba.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Supplier;

import static io.cmamba.nn.NnTesting.*;
import static org.junit.jupiter.api.Assertions.*;

class CausalConv1dTest {

    @Test
    void forwardMatchesReference() {
        Random rnd = random("CausalConv1dTest.forward");
        for (int width : new int[]{1, 4, 7}) { // 7 > L: the kernel reaches past the start
            List<Parameter> ps = new ArrayList<>();
            CausalConv1d conv = new CausalConv1d(init(rnd.nextLong(), ps), "conv", 3, width);
            double[] x = gaussian(rnd, 2 * 6 * 3);
            try (Tensor xt = f64(x, 2, 6, 3); Tensor y = conv.forward(xt)) {
                var p = values(ps);
                assertClose(y.toDoubles(), NnReference.causalConv(x, 2, 6, 3, p.get("conv.weight"), width, p.get("conv.bias")),
                        F64_TOL, "conv width " + width);
            }
        }
    }

    @Test
    void outputAtTimeTSeesNoLaterInput() {
        Random rnd = random("CausalConv1dTest.causal");
        CausalConv1d conv = new CausalConv1d(init(rnd.nextLong(), new ArrayList<>()), "conv", 2, 4);
        double[] x = gaussian(rnd, 8 * 2);
        double[] later = x.clone();
        for (int i = 5 * 2; i < later.length; i++) later[i] += 10;
        try (Tensor a = conv.forward(f64(x, 1, 8, 2)); Tensor b = conv.forward(f64(later, 1, 8, 2))) {
            double[] ya = a.toDoubles(), yb = b.toDoubles();
            for (int i = 0; i < 5 * 2; i++) assertEquals(ya[i], yb[i], 0, "output " + i);
        }
    }

    @Test
    void gradientsOfInputWeightAndBias() {
        Random rnd = random("CausalConv1dTest.gradients");
        List<Parameter> ps = new ArrayList<>();
        CausalConv1d conv = new CausalConv1d(init(rnd.nextLong(), ps), "conv", 3, 4);
        Tensor x = f64(gaussian(rnd, 2 * 5 * 3), 2, 5, 3);
        double[] w = gaussian(rnd, 2 * 5 * 3);
        poisonGradients(ps);
        double[] dx;
        try (Tensor dy = f64(w, 2, 5, 3); Tensor dxt = conv.backward(x, dy)) {
            dx = dxt.toDoubles();
        }
        Supplier<Double> loss = () -> {
            try (Tensor y = conv.forward(x)) {
                return weighted(w, y);
            }
        };
        assertGradient(x, dx, loss, "conv dx");
        assertParameterGradients(ps, loss, "conv");
    }

    /**
     * A sequence cut in two pieces, the second continued from the first's last K - 1 inputs, gives the
     * whole sequence's output (streaming); a second piece shorter than the kernel included.
     */
    @Test
    void historyContinuesASequenceCutInPieces() {
        Random rnd = random("CausalConv1dTest.history");
        int nb = 2, len = 9, d = 3;
        for (int width : new int[]{2, 4, 6}) {
            for (int cut : new int[]{width - 1, width, len - 1}) {
                List<Parameter> ps = new ArrayList<>();
                CausalConv1d conv = new CausalConv1d(init(rnd.nextLong(), ps), "conv", d, width);
                double[] x = gaussian(rnd, nb * len * d);
                double[] whole = NnReference.causalConv(x, nb, len, d, values(ps).get("conv.weight"), width, values(ps).get("conv.bias"));
                int rest = len - cut, k1 = width - 1;
                double[] x2 = new double[nb * rest * d], hist = new double[nb * k1 * d], want = new double[nb * rest * d];
                for (int b = 0; b < nb; b++) {
                    System.arraycopy(x, (b * len + cut) * d, x2, b * rest * d, rest * d);
                    System.arraycopy(x, (b * len + cut - k1) * d, hist, b * k1 * d, k1 * d);
                    System.arraycopy(whole, (b * len + cut) * d, want, b * rest * d, rest * d);
                }
                try (Tensor xt = f64(x2, nb, rest, d); Tensor h = f64(hist, nb, k1, d); Tensor y = f64(new double[nb * rest * d], nb, rest, d)) {
                    y.backend().causalConv1dForward(y, xt, conv.weight.value(), conv.bias.value(), h);
                    assertClose(y.toDoubles(), want, F64_TOL, "width " + width + ", cut at " + cut);
                }
            }
        }
    }

    @Test
    void historyOfTheWrongShapeIsNamed() {
        CausalConv1d conv = new CausalConv1d(init(1, new ArrayList<>()), "conv", 3, 4);
        try (Tensor x = f64(new double[2 * 5 * 3], 2, 5, 3); Tensor y = f64(new double[2 * 5 * 3], 2, 5, 3);
             Tensor h = f64(new double[2 * 4 * 3], 2, 4, 3)) {
            assertRejected(() -> x.backend().causalConv1dForward(y, x, conv.weight.value(), conv.bias.value(), h),
                    "history", "[2, 3, 3]", "[2, 4, 3]");
        }
    }

    @Test
    void wrongChannelCountIsNamed() {
        CausalConv1d conv = new CausalConv1d(init(1, new ArrayList<>()), "layer.conv1d", 3, 4);
        assertRejected(() -> conv.forward(f64(new double[20], 1, 5, 4)), "layer.conv1d.weight", "[B, L, 3]", "[1, 5, 4]");
    }
}
