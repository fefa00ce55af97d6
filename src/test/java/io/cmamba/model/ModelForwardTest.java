package io.cmamba.model;

import io.cmamba.cpu.CpuBackend;
import io.cmamba.nn.FusionHead;
import io.cmamba.nn.Parameter;
import io.cmamba.nn.MambaSettings;
import io.cmamba.nn.NnReference;
import io.cmamba.nn.NnTesting;
import io.cmamba.tensor.AttentionKind;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

import static io.cmamba.nn.NnTesting.*;
import static org.junit.jupiter.api.Assertions.*;

/** The whole models' outputs against the layers' float64 references composed by hand (MODEL.md, "The whole model"). */
class ModelForwardTest {
    static final int BATCH = 3;

    /** Features and lengths as host arrays, and the same as tensors of the given dtype. */
    record Batch(double[][] features, int[][] lengths, ModelInput input) {
    }

    static Batch batch(ModelConfig c, Random rnd, DType dtype) {
        int mCount = c.modalities();
        double[][] f = new double[mCount][];
        int[][] l = new int[mCount][];
        Tensor[] ft = new Tensor[mCount], lt = new Tensor[mCount];
        for (int m = 0; m < mCount; m++) {
            ft[m] = CPU.fromDoubles(dtype, gaussian(rnd, BATCH * c.inputLengths()[m] * c.featureSizes()[m]),
                    BATCH, c.inputLengths()[m], c.featureSizes()[m]);
            f[m] = ft[m].toDoubles(); // as stored: float32 inputs are rounded
            l[m] = new int[BATCH];
            for (int b = 0; b < BATCH; b++) l[m][b] = 1 + rnd.nextInt(c.inputLengths()[m]);
            l[m][0] = c.inputLengths()[m]; // one full-length sample
            lt[m] = CPU.fromInts(l[m], BATCH);
        }
        return new Batch(f, l, new ModelInput(ft, lt));
    }

    /** Step 1 for every modality: [B, L, dModel] each. */
    static double[][] inputStages(Map<String, double[]> p, ModelConfig c, Batch x) {
        double[][] r = new double[c.modalities()][];
        for (int m = 0; m < c.modalities(); m++) {
            double[] proj = NnReference.linear(p, "input." + m + ".proj", x.features()[m], BATCH * c.inputLengths()[m],
                    c.featureSizes()[m], c.dModel());
            r[m] = NnReference.lengthPool(proj, BATCH, c.inputLengths()[m], c.dModel(), x.lengths()[m], c.length());
        }
        return r;
    }

    static double[] coupledMamba(Map<String, double[]> p, ModelConfig c, Batch x) {
        double[][] r = inputStages(p, c, x);
        MambaSettings s = new MambaSettings(c.dModel(), c.inner(), c.dState(), c.dtRank(), c.convWidth(),
                c.norm() == ModelConfig.Norm.RMS, c.fusion() == ModelConfig.Fusion.COUPLED, c.mode() == ModelConfig.Mode.LTI);
        for (int i = 0; i < c.layers(); i++) r = NnReference.coupledLayer(p, "layers." + i, r, BATCH, c.length(), s);
        FusionHead.Kind kind = switch (c.fusion()) {
            case COUPLED, INDEPENDENT -> FusionHead.Kind.SOFTMAX;
            case AVERAGE -> FusionHead.Kind.AVERAGE;
            case CONCAT -> FusionHead.Kind.CONCAT;
        };
        return NnReference.fusionHead(p, "head", r, BATCH, c.length(), c.dModel(), kind, c.headHidden(), c.outputs());
    }

    static double[] crossAttention(Map<String, double[]> p, ModelConfig c, Batch x) {
        double[][] r = inputStages(p, c, x);
        int mCount = c.modalities(), l = c.length(), d = c.dModel();
        for (int i = 0; i < c.layers(); i++) {
            double[][] next = new double[mCount][];
            for (int m = 0; m < mCount; m++) {
                // the other modalities, in order, one after another along time
                double[] ctx = new double[BATCH * (mCount - 1) * l * d];
                for (int b = 0; b < BATCH; b++) {
                    int slot = 0;
                    for (int j = 0; j < mCount; j++) {
                        if (j == m) continue;
                        System.arraycopy(r[j], b * l * d, ctx, (b * (mCount - 1) + slot) * l * d, l * d);
                        slot++;
                    }
                }
                next[m] = NnReference.crossAttentionBlock(p, "layers." + i + ".mod." + m, r[m], ctx, BATCH, l, (mCount - 1) * l, d, c.heads());
            }
            r = next;
        }
        return NnReference.fusionHead(p, "head", r, BATCH, l, d, FusionHead.Kind.SOFTMAX, c.headHidden(), c.outputs());
    }

    static Stream<Arguments> coupledConfigs() {
        List<Arguments> a = new ArrayList<>();
        for (ModelConfig.Mode mode : ModelConfig.Mode.values())
            for (ModelConfig.Fusion fusion : ModelConfig.Fusion.values()) a.add(Arguments.of(mode, fusion));
        return a.stream();
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("coupledConfigs")
    void coupledMambaMatchesReference(ModelConfig.Mode mode, ModelConfig.Fusion fusion) {
        Random rnd = random("ModelForwardTest " + mode + " " + fusion);
        ModelConfig c = ModelGradientTest.tiny(mode, fusion, ModelConfig.Architecture.COUPLED_MAMBA,
                fusion == ModelConfig.Fusion.AVERAGE ? ModelConfig.Norm.RMS : ModelConfig.Norm.LAYER,
                fusion == ModelConfig.Fusion.CONCAT ? ModelConfig.Task.CLASSIFICATION : ModelConfig.Task.REGRESSION, 2);
        try (FusionModel model = Models.create(c, CPU, rnd.nextLong(), DType.F64)) {
            NnTesting.randomise(model.parameters(), rnd);
            Batch x = batch(c, rnd, DType.F64);
            try (FusionModel.Forward f = model.forward(x.input())) {
                assertArrayEquals(new int[]{BATCH, c.outputs()}, f.output().shape().dims());
                assertClose(f.output().toDoubles(), coupledMamba(values(model.parameters()), c, x), F64_TOL, c.toString());
            }
        }
    }

    /**
     * Inference frees each layer as the next one runs and forms x, z, dt, B, C and the residual sum by
     * other (equal) products than forward: the same output up to float64 rounding.
     */
    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("coupledConfigs")
    void predictEqualsForward(ModelConfig.Mode mode, ModelConfig.Fusion fusion) {
        Random rnd = random("ModelForwardTest predict " + mode + " " + fusion);
        ModelConfig c = ModelGradientTest.tiny(mode, fusion, ModelConfig.Architecture.COUPLED_MAMBA, ModelConfig.Norm.LAYER,
                ModelConfig.Task.REGRESSION, 3);
        try (FusionModel model = Models.create(c, CPU, rnd.nextLong(), DType.F64)) {
            NnTesting.randomise(model.parameters(), rnd);
            Batch x = batch(c, rnd, DType.F64);
            try (FusionModel.Forward f = model.forward(x.input()); Tensor p = model.predict(x.input())) {
                assertArrayEquals(f.output().shape().dims(), p.shape().dims());
                assertClose(p.toDoubles(), f.output().toDoubles(), F64_TOL, c.toString());
            }
            // the model is unchanged: a training pass still works after an inference
            try (FusionModel.Forward f = model.forward(x.input()); Tensor d = CPU.fromDoubles(DType.F64, new double[BATCH * c.outputs()],
                    BATCH, c.outputs())) {
                model.backward(f, d);
            }
        }
    }

    /** Float32 parameters and inputs against the float64 reference on the same (rounded) values. */
    @Test
    void float32ModelMatchesFloat64Reference() {
        Random rnd = random("ModelForwardTest float32");
        ModelConfig c = ModelGradientTest.tiny(ModelConfig.Mode.SELECTIVE, ModelConfig.Fusion.COUPLED,
                ModelConfig.Architecture.COUPLED_MAMBA, ModelConfig.Norm.LAYER, ModelConfig.Task.CLASSIFICATION, 2);
        try (FusionModel model = Models.create(c, CPU, rnd.nextLong())) {
            assertEquals(DType.F32, model.parameters().get(0).value().dtype());
            Batch x = batch(c, rnd, DType.F32);
            try (FusionModel.Forward f = model.forward(x.input())) {
                assertClose(f.output().toDoubles(), coupledMamba(values(model.parameters()), c, x), 1e-5, "float32 model");
            }
        }
    }

    @Test
    void crossAttentionMatchesReferenceBothKinds() {
        assumeCpuAttention();
        Random rnd = random("ModelForwardTest cross-attention");
        ModelConfig c = ModelGradientTest.tiny(ModelConfig.Mode.SELECTIVE, ModelConfig.Fusion.COUPLED,
                ModelConfig.Architecture.CROSS_ATTENTION, ModelConfig.Norm.LAYER, ModelConfig.Task.CLASSIFICATION, 3);
        long seed = rnd.nextLong();
        Batch x = batch(c, rnd, DType.F64);
        double[][] outs = new double[2][];
        for (AttentionKind kind : AttentionKind.values()) {
            try (FusionModel model = Models.create(c, CPU, seed, DType.F64, kind)) {
                assertEquals(kind, ((CrossAttentionModel) model).attention());
                NnTesting.randomise(model.parameters(), new Random(seed));
                try (FusionModel.Forward f = model.forward(x.input())) {
                    outs[kind.ordinal()] = f.output().toDoubles();
                    assertClose(outs[kind.ordinal()], crossAttention(values(model.parameters()), c, x), F64_TOL, c + " " + kind);
                }
                // inference (each layer freed as the next runs) computes exactly what forward computes
                try (Tensor p = model.predict(x.input())) {
                    assertArrayEquals(outs[kind.ordinal()], p.toDoubles(), "predict, " + kind);
                }
            }
        }
        assertClose(outs[0], outs[1], 1e-12, "PLAIN and FLASH attention");
    }

    /** One modality: the mean of one chain is that chain, so COUPLED and INDEPENDENT are one model. */
    @Test
    void unimodalCoupledEqualsIndependent() {
        Random rnd = random("ModelForwardTest unimodal");
        ModelConfig c = new ModelConfig(new int[]{3}, new int[]{5}, 4, 4, 2, 3, 0, 4, 2, ModelConfig.Mode.SELECTIVE,
                ModelConfig.Fusion.COUPLED, ModelConfig.Architecture.COUPLED_MAMBA, 1, ModelConfig.Norm.LAYER,
                ModelConfig.Task.REGRESSION, 0, 5);
        long seed = rnd.nextLong();
        Batch x = batch(c, rnd, DType.F64);
        try (FusionModel a = Models.create(c, CPU, seed, DType.F64);
             FusionModel b = Models.create(c.withFusion(ModelConfig.Fusion.INDEPENDENT), CPU, seed, DType.F64);
             FusionModel.Forward fa = a.forward(x.input()); FusionModel.Forward fb = b.forward(x.input())) {
            assertClose(fa.output().toDoubles(), fb.output().toDoubles(), 1e-14, "unimodal coupled vs independent");
            assertClose(fa.output().toDoubles(), coupledMamba(values(a.parameters()), c, x), F64_TOL, "unimodal reference");
        }
    }

    /** Every fusion changes the function (same seed, same inputs): the switch is not ignored. */
    @Test
    void fusionAndModeSwitchesChangeTheOutput() {
        Random rnd = random("ModelForwardTest switches");
        ModelConfig base = ModelGradientTest.tiny(ModelConfig.Mode.SELECTIVE, ModelConfig.Fusion.COUPLED,
                ModelConfig.Architecture.COUPLED_MAMBA, ModelConfig.Norm.LAYER, ModelConfig.Task.REGRESSION, 1);
        long seed = rnd.nextLong();
        Batch x = batch(base, rnd, DType.F64);
        List<double[]> outs = new ArrayList<>();
        List<String> labels = new ArrayList<>();
        for (ModelConfig.Mode mode : ModelConfig.Mode.values())
            for (ModelConfig.Fusion fusion : ModelConfig.Fusion.values()) {
                ModelConfig c = base.withMode(mode).withFusion(fusion);
                try (FusionModel model = Models.create(c, CPU, seed, DType.F64)) {
                    NnTesting.randomise(model.parameters(), new Random(seed));
                    // every hidden unit of the head active: with all of them below zero for the 3 samples
                    // (seed 21989475782349) the output is fc2's bias whatever the layers compute
                    Parameter fc1Bias = model.parameters().stream().filter(p -> p.name().equals("head.fc1.bias")).findFirst().orElseThrow();
                    for (int i = 0; i < fc1Bias.value().size(); i++) CpuBackend.data(fc1Bias.value())[i] += 10;
                    try (FusionModel.Forward f = model.forward(x.input())) {
                        outs.add(f.output().toDoubles());
                        labels.add(mode + " " + fusion);
                    }
                }
            }
        for (int i = 0; i < outs.size(); i++)
            for (int j = 0; j < i; j++)
                assertTrue(io.cmamba.testing.GradCheck.relativeDifference(outs.get(i), outs.get(j)) > 1e-8,
                        labels.get(i) + " and " + labels.get(j) + " give the same output");
    }
}
