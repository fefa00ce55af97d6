package io.cmamba.model;

import io.cmamba.cpu.CpuBackend;
import io.cmamba.nn.Parameter;
import io.cmamba.tensor.AttentionKind;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;
import io.cmamba.testing.GradCheck;
import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/** The whole model's hand-written backward against central finite differences, every parameter, in float64. */
class ModelGradientTest {
    final CpuBackend cpu = new CpuBackend();
    private final long seed = System.nanoTime();
    private final Random rnd = new Random(seed);

    static ModelConfig tiny(ModelConfig.Mode mode, ModelConfig.Fusion fusion, ModelConfig.Architecture arch,
                            ModelConfig.Norm norm, ModelConfig.Task task, int layers) {
        return new ModelConfig(new int[]{3, 2, 4}, new int[]{5, 4, 6}, 4, 4, 2, 3, 0, 2, layers, mode, fusion, arch,
                2, norm, task, task == ModelConfig.Task.CLASSIFICATION ? 3 : 0, 5);
    }

    ModelInput input(ModelConfig c, int batch) {
        Tensor[] f = new Tensor[c.modalities()], l = new Tensor[c.modalities()];
        for (int m = 0; m < c.modalities(); m++) {
            double[] v = new double[batch * c.inputLengths()[m] * c.featureSizes()[m]];
            for (int i = 0; i < v.length; i++) v[i] = rnd.nextGaussian();
            f[m] = cpu.fromDoubles(DType.F64, v, batch, c.inputLengths()[m], c.featureSizes()[m]);
            int[] lens = new int[batch];
            for (int b = 0; b < batch; b++) lens[b] = 1 + rnd.nextInt(c.inputLengths()[m]);
            l[m] = cpu.fromInts(lens, batch);
        }
        return new ModelInput(f, l);
    }

    void check(ModelConfig c, AttentionKind kind) {
        FusionModel model = Models.create(c, cpu, seed, DType.F64);
        if (model instanceof CrossAttentionModel ca) ca.attention(kind);
        ModelInput in = input(c, 2);
        double[] w = GradCheck.randomWeights(rnd, 2 * c.outputs());
        try (FusionModel.Forward f = model.forward(in)) {
            for (Parameter p : model.parameters()) cpu.fill(p.grad(), Double.NaN);
            model.backward(f, cpu.fromDoubles(DType.F64, w, 2, c.outputs()));
        }
        List<Parameter> ps = model.parameters();
        Set<String> names = new HashSet<>();
        for (Parameter p : ps) {
            assertTrue(names.add(p.name()), "duplicate parameter name " + p.name());
            double[] analytic = p.grad().toDoubles();
            for (double v : analytic) assertFalse(Double.isNaN(v), p.name() + ": gradient not written (" + c + ")");
            double err = GradCheck.relativeError(CpuBackend.data(p.value()), analytic, () -> {
                try (FusionModel.Forward f = model.forward(in)) {
                    return GradCheck.dot(w, f.output().toDoubles());
                }
            });
            assertTrue(err <= 1e-6, p.name() + " relative error " + err + " in " + c + " (seed " + seed + ")");
        }
    }

    @Test
    void coupledSelectiveTwoLayersRegression() {
        check(tiny(ModelConfig.Mode.SELECTIVE, ModelConfig.Fusion.COUPLED, ModelConfig.Architecture.COUPLED_MAMBA,
                ModelConfig.Norm.LAYER, ModelConfig.Task.REGRESSION, 2), null);
    }

    @Test
    void coupledTimeInvariantClassificationWithRmsNorm() {
        check(tiny(ModelConfig.Mode.LTI, ModelConfig.Fusion.COUPLED, ModelConfig.Architecture.COUPLED_MAMBA,
                ModelConfig.Norm.RMS, ModelConfig.Task.CLASSIFICATION, 1), null);
    }

    @Test
    void fusionAblations() {
        check(tiny(ModelConfig.Mode.SELECTIVE, ModelConfig.Fusion.INDEPENDENT, ModelConfig.Architecture.COUPLED_MAMBA,
                ModelConfig.Norm.LAYER, ModelConfig.Task.REGRESSION, 1), null);
        check(tiny(ModelConfig.Mode.LTI, ModelConfig.Fusion.AVERAGE, ModelConfig.Architecture.COUPLED_MAMBA,
                ModelConfig.Norm.LAYER, ModelConfig.Task.REGRESSION, 1), null);
        check(tiny(ModelConfig.Mode.SELECTIVE, ModelConfig.Fusion.CONCAT, ModelConfig.Architecture.COUPLED_MAMBA,
                ModelConfig.Norm.LAYER, ModelConfig.Task.CLASSIFICATION, 1), null);
        check(tiny(ModelConfig.Mode.LTI, ModelConfig.Fusion.INDEPENDENT, ModelConfig.Architecture.COUPLED_MAMBA,
                ModelConfig.Norm.LAYER, ModelConfig.Task.REGRESSION, 1), null);
    }

    @Test
    void crossAttentionBothKinds() {
        ModelConfig c = tiny(ModelConfig.Mode.SELECTIVE, ModelConfig.Fusion.COUPLED, ModelConfig.Architecture.CROSS_ATTENTION,
                ModelConfig.Norm.LAYER, ModelConfig.Task.REGRESSION, 1);
        check(c, AttentionKind.PLAIN);
        check(c, AttentionKind.FLASH);
    }

    @Test
    void sameSeedSameModelAndStableNames() {
        ModelConfig c = tiny(ModelConfig.Mode.SELECTIVE, ModelConfig.Fusion.COUPLED, ModelConfig.Architecture.COUPLED_MAMBA,
                ModelConfig.Norm.LAYER, ModelConfig.Task.REGRESSION, 2);
        List<Parameter> a = Models.create(c, cpu, 42).parameters(), b = Models.create(c, cpu, 42).parameters();
        assertEquals(a.size(), b.size());
        for (int i = 0; i < a.size(); i++) {
            assertEquals(a.get(i).name(), b.get(i).name());
            assertArrayEquals(a.get(i).value().toDoubles(), b.get(i).value().toDoubles(), 0, a.get(i).name());
        }
        assertEquals("layers.1.mod2.A_log", a.stream().filter(p -> p.name().endsWith("A_log")).reduce((x, y) -> y).orElseThrow().name());
        // MODEL.md's initialisation: A_log = log(n + 1), D = 1, softplus(dt bias) in [1e-3, 1e-1]
        Parameter aLog = a.stream().filter(p -> p.name().equals("layers.0.mod0.A_log")).findFirst().orElseThrow();
        assertEquals(Math.log(3), aLog.value().toDoubles()[2], 1e-6);
        Parameter dtBias = a.stream().filter(p -> p.name().equals("layers.0.mod0.dt_proj.bias")).findFirst().orElseThrow();
        for (double v : dtBias.value().toDoubles()) {
            double sp = Math.log1p(Math.exp(v));
            assertTrue(sp >= 1e-3 * 0.999 && sp <= 1e-1 * 1.001, "softplus(dt bias) = " + sp);
        }
    }

    @Test
    void wrongInputShapeNamesTheModality() {
        ModelConfig c = tiny(ModelConfig.Mode.SELECTIVE, ModelConfig.Fusion.COUPLED, ModelConfig.Architecture.COUPLED_MAMBA,
                ModelConfig.Norm.LAYER, ModelConfig.Task.REGRESSION, 1);
        FusionModel model = Models.create(c, cpu, 1);
        ModelInput in = input(c, 2);
        in.features()[1] = cpu.zeros(DType.F32, 2, 4, 7);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> model.forward(in));
        assertTrue(e.getMessage().contains("modality 1: expected features [2, 4, 2], got [2, 4, 7]"), e.getMessage());
    }
}
