package io.cmamba.nn;

import io.cmamba.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Supplier;

import static io.cmamba.nn.NnTesting.*;
import static org.junit.jupiter.api.Assertions.*;

class NormTest {

    @Test
    void layerNormAndRmsNormMatchReference() {
        Random rnd = random("NormTest.forward");
        for (boolean rms : new boolean[]{false, true}) {
            List<Parameter> ps = new ArrayList<>();
            Norm norm = new Norm(init(rnd.nextLong(), ps), "norm", 6, rms);
            assertEquals(rms ? List.of("norm.weight") : List.of("norm.weight", "norm.bias"), ps.stream().map(Parameter::name).toList());
            assertTrue(ps.stream().noneMatch(Parameter::decay), "norms do not decay");
            perturb(ps, rnd, 0.5);
            double[] x = gaussian(rnd, 2 * 3 * 6);
            for (int i = 0; i < x.length; i++) x[i] = 3 * x[i] + 2; // an offset LayerNorm must remove and RMSNorm keeps
            try (Tensor xt = f64(x, 2, 3, 6); Norm.Saved s = norm.forward(xt)) {
                assertEquals(rms, s.mean() == null);
                assertClose(s.out().toDoubles(), NnReference.norm(values(ps), "norm", x, 6, 6), F64_TOL, rms ? "RMSNorm" : "LayerNorm");
            }
        }
    }

    @Test
    void gradientsOfInputAndParameters() {
        Random rnd = random("NormTest.gradients");
        for (boolean rms : new boolean[]{false, true}) {
            List<Parameter> ps = new ArrayList<>();
            Norm norm = new Norm(init(rnd.nextLong(), ps), "norm", 5, rms);
            perturb(ps, rnd, 0.5);
            Tensor x = f64(gaussian(rnd, 4 * 5), 4, 5);
            double[] w = gaussian(rnd, 4 * 5);
            poisonGradients(ps);
            double[] dx;
            try (Norm.Saved s = norm.forward(x); Tensor dy = f64(w, 4, 5); Tensor dxt = norm.backward(x, s, dy)) {
                dx = dxt.toDoubles();
            }
            Supplier<Double> loss = () -> {
                try (Norm.Saved s = norm.forward(x)) {
                    return weighted(w, s.out());
                }
            };
            assertGradient(x, dx, loss, (rms ? "RMSNorm" : "LayerNorm") + " dx");
            assertParameterGradients(ps, loss, rms ? "RMSNorm" : "LayerNorm");
        }
    }

    @Test
    void wrongWidthIsNamed() {
        Norm norm = new Norm(init(1, new ArrayList<>()), "head.norm.0", 4, false);
        assertRejected(() -> norm.forward(f64(new double[6], 2, 3)), "head.norm.0.weight", "[..., 4]", "[2, 3]");
    }
}
