package io.cmamba.nn;

import io.cmamba.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Supplier;

import static io.cmamba.nn.NnTesting.*;
import static org.junit.jupiter.api.Assertions.*;

class FusionHeadTest {
    static final int M = 3, NB = 2, L = 4, D = 5, HIDDEN = 6, OUT = 3;

    private static List<Tensor> inputs(double[][] r) {
        List<Tensor> ts = new ArrayList<>();
        for (double[] x : r) ts.add(f64(x, NB, L, D));
        return ts;
    }

    @Test
    void everyFusionMatchesReference() {
        Random rnd = random("FusionHeadTest.forward");
        for (FusionHead.Kind kind : FusionHead.Kind.values())
            for (boolean rms : new boolean[]{false, true}) {
                List<Parameter> ps = new ArrayList<>();
                FusionHead head = new FusionHead(init(rnd.nextLong(), ps), "head", M, D, HIDDEN, OUT, rms, kind);
                perturb(ps, rnd, 0.3);
                double[][] r = new double[M][];
                for (int m = 0; m < M; m++) r[m] = gaussian(rnd, NB * L * D);
                try (FusionHead.Forward f = head.forward(inputs(r))) {
                    assertArrayEquals(new int[]{NB, OUT}, f.output().shape().dims());
                    double[] ref = NnReference.fusionHead(values(ps), "head", r, NB, L, D, kind, HIDDEN, OUT);
                    assertClose(f.output().toDoubles(), ref, F64_TOL, kind + (rms ? " RMSNorm" : " LayerNorm"));
                }
            }
    }

    @Test
    void parameterNamesPerFusion() {
        for (FusionHead.Kind kind : FusionHead.Kind.values()) {
            List<Parameter> ps = new ArrayList<>();
            new FusionHead(init(1, ps), "head", 2, D, HIDDEN, 1, true, kind);
            List<String> expected = new ArrayList<>(List.of("head.norm.0.weight", "head.norm.1.weight"));
            if (kind == FusionHead.Kind.SOFTMAX) expected.add("head.fusion_weight");
            expected.addAll(List.of("head.fc1.weight", "head.fc1.bias", "head.fc2.weight", "head.fc2.bias"));
            assertEquals(expected, ps.stream().map(Parameter::name).toList(), kind.toString());
            assertArrayEquals(new int[]{HIDDEN, kind == FusionHead.Kind.CONCAT ? 2 * D : D},
                    find(ps, "head.fc1.weight").value().shape().dims());
            if (kind == FusionHead.Kind.SOFTMAX) assertFalse(find(ps, "head.fusion_weight").decay());
        }
    }

    @Test
    void gradientsOfInputsAndParametersEveryFusion() {
        Random rnd = random("FusionHeadTest.gradients");
        for (FusionHead.Kind kind : FusionHead.Kind.values()) {
            List<Parameter> ps = new ArrayList<>();
            FusionHead head = new FusionHead(init(rnd.nextLong(), ps), "head", M, D, HIDDEN, OUT, false, kind);
            perturb(ps, rnd, 0.3);
            double[][] r = new double[M][];
            for (int m = 0; m < M; m++) r[m] = gaussian(rnd, NB * L * D);
            List<Tensor> in = inputs(r);
            double[] w = gaussian(rnd, NB * OUT);
            poisonGradients(ps);
            double[][] dIn = new double[M][];
            try (FusionHead.Forward f = head.forward(in); Tensor dy = f64(w, NB, OUT)) {
                List<Tensor> d = head.backward(f, dy);
                for (int m = 0; m < M; m++) {
                    dIn[m] = d.get(m).toDoubles();
                    d.get(m).close();
                }
            }
            Supplier<Double> loss = () -> {
                try (FusionHead.Forward f = head.forward(in)) {
                    return weighted(w, f.output());
                }
            };
            for (int m = 0; m < M; m++) assertGradient(in.get(m), dIn[m], loss, kind + " d input " + m);
            assertParameterGradients(ps, loss, kind.toString());
        }
    }

    @Test
    void wrongModalityCountIsNamed() {
        FusionHead head = new FusionHead(init(1, new ArrayList<>()), "head", 3, D, HIDDEN, 1, false, FusionHead.Kind.AVERAGE);
        assertRejected(() -> head.forward(inputs(new double[2][NB * L * D])), "expected 3 modalities, got 2");
    }
}
