package io.cmamba.nn;

import io.cmamba.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Supplier;

import static io.cmamba.nn.NnTesting.*;
import static org.junit.jupiter.api.Assertions.*;

class InputStageTest {

    /** Projection then length-aware pooling, to a common length both shorter and longer than L_m. */
    @Test
    void forwardMatchesReference() {
        Random rnd = random("InputStageTest.forward");
        for (int length : new int[]{3, 9}) {
            List<Parameter> ps = new ArrayList<>();
            InputStage stage = new InputStage(init(rnd.nextLong(), ps), "input.0", 5, 4, length);
            assertEquals(List.of("input.0.proj.weight", "input.0.proj.bias"), ps.stream().map(Parameter::name).toList());
            int[] lens = {7, 2, 0};
            double[] x = gaussian(rnd, 3 * 7 * 5);
            try (Tensor xt = f64(x, 3, 7, 5); Tensor lt = CPU.fromInts(lens, 3); InputStage.Saved s = stage.forward(xt, lt)) {
                assertArrayEquals(new int[]{3, length, 4}, s.pooled().shape().dims());
                double[] proj = NnReference.linear(values(ps), "input.0.proj", x, 3 * 7, 5, 4);
                assertClose(s.pooled().toDoubles(), NnReference.lengthPool(proj, 3, 7, 4, lens, length), F64_TOL, "input stage L " + length);
            }
        }
    }

    @Test
    void paddingPastTheLengthNeverLeaks() {
        Random rnd = random("InputStageTest.padding");
        InputStage stage = new InputStage(init(rnd.nextLong(), new ArrayList<>()), "input.0", 3, 4, 4);
        double[] x = gaussian(rnd, 2 * 6 * 3), padded = x.clone();
        int[] lens = {4, 6};
        for (int t = 4; t < 6; t++) for (int f = 0; f < 3; f++) padded[t * 3 + f] = 1e6; // sample 0 past its end
        try (Tensor lt = CPU.fromInts(lens, 2); InputStage.Saved a = stage.forward(f64(x, 2, 6, 3), lt);
             InputStage.Saved b = stage.forward(f64(padded, 2, 6, 3), lt)) {
            assertArrayEquals(a.pooled().toDoubles(), b.pooled().toDoubles(), 0);
        }
    }

    @Test
    void gradientsOfProjection() {
        Random rnd = random("InputStageTest.gradients");
        List<Parameter> ps = new ArrayList<>();
        InputStage stage = new InputStage(init(rnd.nextLong(), ps), "input.1", 3, 4, 3);
        Tensor x = f64(gaussian(rnd, 2 * 5 * 3), 2, 5, 3);
        Tensor lens = CPU.fromInts(new int[]{5, 3}, 2);
        double[] w = gaussian(rnd, 2 * 3 * 4);
        poisonGradients(ps);
        try (InputStage.Saved s = stage.forward(x, lens); Tensor dy = f64(w, 2, 3, 4)) {
            stage.backward(s, dy);
        }
        Supplier<Double> loss = () -> {
            try (InputStage.Saved s = stage.forward(x, lens)) {
                return weighted(w, s.pooled());
            }
        };
        assertParameterGradients(ps, loss, "input stage");
    }
}
