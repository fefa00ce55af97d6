package io.cmamba.model;

import io.cmamba.nn.NnTesting;
import io.cmamba.nn.Parameter;
import io.cmamba.tensor.AttentionKind;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Supplier;
import java.util.stream.Stream;

import static io.cmamba.nn.NnTesting.*;

/**
 * The whole model's hand-written backward against central finite differences of its training loss
 * (L1 for regression, cross entropy for classification), for every parameter, in float64: M = 3
 * modalities of different feature sizes and lengths, d_model 4, N 3, 2 layers.
 */
class ModelGradientTest {
    static final int BATCH = 2;

    /** M = 3 (features 3, 2, 4; lengths 5, 4, 7), L 6, d_model 4, expand 2, N 3, R 1, conv 4, 2 heads, head 5. */
    static ModelConfig tiny(ModelConfig.Mode mode, ModelConfig.Fusion fusion, ModelConfig.Architecture arch,
                            ModelConfig.Norm norm, ModelConfig.Task task, int layers) {
        return new ModelConfig(new int[]{3, 2, 4}, new int[]{5, 4, 7}, 6, 4, 2, 3, 0, 4, layers, mode, fusion, arch,
                2, norm, task, task == ModelConfig.Task.CLASSIFICATION ? 3 : 0, 5);
    }

    /** Random features and lengths in [1, L_m] (so padding is present in most samples). */
    static ModelInput input(ModelConfig c, int batch, Random rnd, DType dtype) {
        Tensor[] f = new Tensor[c.modalities()], l = new Tensor[c.modalities()];
        for (int m = 0; m < c.modalities(); m++) {
            f[m] = CPU.fromDoubles(dtype, gaussian(rnd, batch * c.inputLengths()[m] * c.featureSizes()[m]),
                    batch, c.inputLengths()[m], c.featureSizes()[m]);
            int[] lens = new int[batch];
            for (int b = 0; b < batch; b++) lens[b] = 1 + rnd.nextInt(c.inputLengths()[m]);
            l[m] = CPU.fromInts(lens, batch);
        }
        return new ModelInput(f, l);
    }

    /** The task's loss: L1 against random targets or cross entropy against random labels; writes dOutput when given. */
    static double loss(ModelConfig c, Tensor output, Tensor targets, Tensor dOutput) {
        try (Tensor loss = CPU.empty(output.dtype(), 1)) {
            if (c.task() == ModelConfig.Task.REGRESSION) {
                Tensor pred = output.reshape(output.dim(0));
                CPU.l1LossForward(loss, pred, targets);
                if (dOutput != null) CPU.l1LossBackward(dOutput.reshape(output.dim(0)), pred, targets);
            } else {
                CPU.crossEntropyForward(loss, output, targets);
                if (dOutput != null) CPU.crossEntropyBackward(dOutput, output, targets);
            }
            return loss.toDoubles()[0];
        }
    }

    static Tensor targets(ModelConfig c, Random rnd) {
        if (c.task() == ModelConfig.Task.REGRESSION) return f64(gaussian(rnd, BATCH), BATCH);
        int[] labels = new int[BATCH];
        for (int b = 0; b < BATCH; b++) labels[b] = rnd.nextInt(c.classes());
        return CPU.fromInts(labels, BATCH);
    }

    static void check(ModelConfig c, AttentionKind kind, Random rnd) {
        FusionModel model = Models.create(c, CPU, rnd.nextLong(), DType.F64, kind);
        List<Parameter> ps = model.parameters();
        NnTesting.randomise(ps, rnd);
        ModelInput in = input(c, BATCH, rnd, DType.F64);
        Tensor targets = targets(c, rnd);
        poisonGradients(ps);
        try (FusionModel.Forward f = model.forward(in); Tensor dOut = CPU.empty(DType.F64, BATCH, c.outputs())) {
            loss(c, f.output(), targets, dOut);
            model.backward(f, dOut);
        }
        Supplier<Double> loss = () -> {
            try (FusionModel.Forward f = model.forward(in)) {
                return loss(c, f.output(), targets, null);
            }
        };
        assertParameterGradients(ps, loss, c + (kind == null ? "" : " " + kind));
        model.close();
    }

    static Stream<Arguments> coupledConfigs() {
        List<Arguments> a = new ArrayList<>();
        for (ModelConfig.Mode mode : ModelConfig.Mode.values())
            for (ModelConfig.Fusion fusion : ModelConfig.Fusion.values())
                for (ModelConfig.Task task : ModelConfig.Task.values())
                    a.add(Arguments.of(mode, fusion, task));
        return a.stream();
    }

    @ParameterizedTest(name = "{0} {1} {2}")
    @MethodSource("coupledConfigs")
    void coupledMambaEveryParameter(ModelConfig.Mode mode, ModelConfig.Fusion fusion, ModelConfig.Task task) {
        // both norms over the grid: RMSNorm for classification
        ModelConfig.Norm norm = task == ModelConfig.Task.CLASSIFICATION ? ModelConfig.Norm.RMS : ModelConfig.Norm.LAYER;
        check(tiny(mode, fusion, ModelConfig.Architecture.COUPLED_MAMBA, norm, task, 2), null,
                random("ModelGradientTest " + mode + " " + fusion + " " + task));
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(ModelConfig.Mode.class)
    void unimodalCoupledMamba(ModelConfig.Mode mode) {
        ModelConfig c = new ModelConfig(new int[]{3}, new int[]{5}, 4, 4, 2, 3, 0, 4, 2, mode, ModelConfig.Fusion.COUPLED,
                ModelConfig.Architecture.COUPLED_MAMBA, 1, ModelConfig.Norm.LAYER, ModelConfig.Task.REGRESSION, 0, 5);
        check(c, null, random("ModelGradientTest unimodal " + mode));
    }

    static Stream<Arguments> attentionConfigs() {
        List<Arguments> a = new ArrayList<>();
        for (AttentionKind kind : AttentionKind.values())
            for (ModelConfig.Task task : ModelConfig.Task.values()) a.add(Arguments.of(kind, task));
        return a.stream();
    }

    /** Skipped while the CPU backend's attention is not implemented. */
    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("attentionConfigs")
    void crossAttentionEveryParameter(AttentionKind kind, ModelConfig.Task task) {
        assumeCpuAttention();
        ModelConfig.Norm norm = task == ModelConfig.Task.CLASSIFICATION ? ModelConfig.Norm.RMS : ModelConfig.Norm.LAYER;
        check(tiny(ModelConfig.Mode.SELECTIVE, ModelConfig.Fusion.COUPLED, ModelConfig.Architecture.CROSS_ATTENTION, norm, task, 2),
                kind, random("ModelGradientTest cross-attention " + kind + " " + task));
    }
}
