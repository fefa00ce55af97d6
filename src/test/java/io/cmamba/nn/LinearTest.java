package io.cmamba.nn;

import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static io.cmamba.nn.NnTesting.*;
import static org.junit.jupiter.api.Assertions.*;

class LinearTest {

    /** Leading dimensions [2, 3] fold into 6 rows. */
    @Test
    void forwardMatchesReferenceWithAndWithoutBias() {
        Random rnd = random("LinearTest.forward");
        for (boolean bias : new boolean[]{true, false}) {
            List<Parameter> ps = new ArrayList<>();
            Linear lin = new Linear(init(rnd.nextLong(), ps), "lin", 5, 7, bias);
            perturb(ps, rnd, 0.5);
            double[] x = gaussian(rnd, 2 * 3 * 5);
            try (Tensor xt = f64(x, 2, 3, 5); Tensor y = lin.forward(xt, null)) {
                assertArrayEquals(new int[]{2, 3, 7}, y.shape().dims());
                double[] ref = NnReference.linear(values(ps), "lin", x, 6, 5, 7);
                assertClose(y.toDoubles(), ref, F64_TOL, "Linear bias=" + bias);
            }
        }
    }

    @Test
    void float32ForwardMatchesFloat64Reference() {
        Random rnd = random("LinearTest.float32");
        List<Parameter> ps = new ArrayList<>();
        Linear lin = new Linear(new Init(CPU, DType.F32, rnd.nextLong(), ps), "lin", 16, 8, true);
        double[] x = gaussian(rnd, 4 * 16);
        try (Tensor xt = CPU.fromDoubles(DType.F32, x, 4, 16); Tensor y = lin.forward(xt, null)) {
            assertClose(y.toDoubles(), NnReference.linear(values(ps), "lin", xt.toDoubles(), 4, 16, 8), 1e-6, "float32 Linear");
        }
    }

    @Test
    void initialisationIsPyTorchsUniform() {
        List<Parameter> ps = new ArrayList<>();
        new Linear(init(7, ps), "lin", 9, 40, true);
        assertEquals(List.of("lin.weight", "lin.bias"), ps.stream().map(Parameter::name).toList());
        assertTrue(ps.get(0).decay());
        assertFalse(ps.get(1).decay());
        double bound = 1 / 3.0, max = 0;
        for (Parameter p : ps)
            for (double v : p.value().toDoubles()) max = Math.max(max, Math.abs(v));
        assertTrue(max <= bound && max > 0.9 * bound, "weights within +-1/sqrt(in) and spread over it, max " + max);
    }

    @Test
    void gradientsOfInputWeightAndBias() {
        Random rnd = random("LinearTest.gradients");
        for (boolean bias : new boolean[]{true, false}) {
            List<Parameter> ps = new ArrayList<>();
            Linear lin = new Linear(init(rnd.nextLong(), ps), "lin", 4, 3, bias);
            Tensor x = f64(gaussian(rnd, 2 * 5 * 4), 2, 5, 4);
            double[] w = gaussian(rnd, 2 * 5 * 3);
            poisonGradients(ps);
            double[] dx;
            try (Tensor dy = f64(w, 2, 5, 3); Tensor dxt = lin.backward(x, dy, true)) {
                dx = dxt.toDoubles();
            }
            java.util.function.Supplier<Double> loss = () -> {
                try (Tensor y = lin.forward(x, null)) {
                    return weighted(w, y);
                }
            };
            assertGradient(x, dx, loss, "Linear dx");
            assertParameterGradients(ps, loss, "Linear bias=" + bias);
        }
    }

    @Test
    void backwardWithoutInputGradientStillWritesParameters() {
        List<Parameter> ps = new ArrayList<>();
        Linear lin = new Linear(init(3, ps), "lin", 2, 2, true);
        poisonGradients(ps);
        try (Tensor x = f64(new double[]{1, 2, 3, 4}, 2, 2); Tensor dy = f64(new double[]{1, 0, 0, 1}, 2, 2)) {
            assertNull(lin.backward(x, dy, false));
            // dW = dy^T x, db = column sums of dy
            assertArrayEquals(new double[]{1, 2, 3, 4}, ps.get(0).grad().toDoubles(), 0);
            assertArrayEquals(new double[]{1, 1}, ps.get(1).grad().toDoubles(), 0);
        }
    }

    /** Row blocks [0, 2) and [2, 5) of a 5-output layer give the full forward's and backward's blocks. */
    @Test
    void rowBlocksEqualTheFullLayer() {
        Random rnd = random("LinearTest.rowBlocks");
        List<Parameter> ps = new ArrayList<>();
        Linear lin = new Linear(init(rnd.nextLong(), ps), "lin", 4, 5, false);
        Tensor x = f64(gaussian(rnd, 3 * 4), 3, 4);
        double[] dyv = gaussian(rnd, 3 * 5), dxPrior = gaussian(rnd, 3 * 4);
        double[] y, dx, dW;
        try (Tensor yt = lin.forward(x, null); Tensor dy = f64(dyv, 3, 5); Tensor dxt = lin.backward(x, dy, true)) {
            y = yt.toDoubles();
            dx = dxt.toDoubles();
            dW = ps.get(0).grad().toDoubles();
        }
        poisonGradients(ps);
        int[] at = {0, 2, 5};
        try (Tensor dxSum = f64(dxPrior.clone(), 3, 4)) {
            for (int i = 0; i < 2; i++) {
                int w = at[i + 1] - at[i];
                double[] dyBlock = new double[3 * w];
                for (int row = 0; row < 3; row++) System.arraycopy(dyv, row * 5 + at[i], dyBlock, row * w, w);
                try (Tensor yb = f64(new double[3 * w], 3, w); Tensor dyb = f64(dyBlock, 3, w)) {
                    lin.forwardRows(at[i], x, yb);
                    double[] got = yb.toDoubles();
                    for (int row = 0; row < 3; row++)
                        for (int j = 0; j < w; j++) assertEquals(y[row * 5 + at[i] + j], got[row * w + j], 1e-12, "y block " + i);
                    lin.backwardRows(at[i], x, dyb, dxSum, true);
                }
            }
            double[] got = dxSum.toDoubles();
            for (int e = 0; e < got.length; e++) assertEquals(dxPrior[e] + dx[e], got[e], 1e-12, "dx accumulated");
        }
        assertArrayEquals(dW, ps.get(0).grad().toDoubles(), 1e-12, "dW from the blocks");
        Linear withBias = new Linear(init(2, new ArrayList<>()), "biased", 4, 5, true);
        assertThrows(IllegalStateException.class, () -> withBias.forwardRows(0, x, f64(new double[6], 3, 2)));
    }

    @Test
    void wrongInputWidthIsNamed() {
        Linear lin = new Linear(init(1, new ArrayList<>()), "enc", 4, 3, true);
        assertRejected(() -> lin.forward(f64(new double[10], 2, 5), null), "enc.weight", "[..., 4]", "[2, 5]");
    }
}
