package io.cmamba.model;

import io.cmamba.nn.Parameter;
import io.cmamba.tensor.AttentionKind;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;

import static io.cmamba.model.ModelConfig.Architecture.COUPLED_MAMBA;
import static io.cmamba.model.ModelConfig.Architecture.CROSS_ATTENTION;
import static io.cmamba.nn.NnTesting.*;
import static org.junit.jupiter.api.Assertions.*;

/** Parameter names, shapes and decay flags, determinism from the seed, config switching, input checks, freeing. */
class ModelStructureTest {

    static ModelConfig small(ModelConfig.Mode mode, ModelConfig.Fusion fusion, ModelConfig.Architecture arch) {
        return ModelGradientTest.tiny(mode, fusion, arch, ModelConfig.Norm.LAYER, ModelConfig.Task.CLASSIFICATION, 2);
    }

    static List<ModelConfig> everyConfig() {
        List<ModelConfig> all = new ArrayList<>();
        for (ModelConfig.Mode mode : ModelConfig.Mode.values())
            for (ModelConfig.Fusion fusion : ModelConfig.Fusion.values()) all.add(small(mode, fusion, COUPLED_MAMBA));
        all.add(small(ModelConfig.Mode.SELECTIVE, ModelConfig.Fusion.COUPLED, CROSS_ATTENTION));
        return all;
    }

    static List<String> names(FusionModel model) {
        return model.parameters().stream().map(Parameter::name).toList();
    }

    /** The checkpoint keys of a two-modality, one-layer coupled model, spelled out: renaming one breaks old checkpoints. */
    @Test
    void checkpointKeysAreStable() {
        ModelConfig c = new ModelConfig(new int[]{3, 2}, new int[]{4, 4}, 4, 4, 2, 3, 0, 4, 1, ModelConfig.Mode.SELECTIVE,
                ModelConfig.Fusion.COUPLED, COUPLED_MAMBA, 1, ModelConfig.Norm.LAYER, ModelConfig.Task.REGRESSION, 0, 64);
        List<String> expected = new ArrayList<>(List.of("input.0.proj.weight", "input.0.proj.bias", "input.1.proj.weight", "input.1.proj.bias"));
        for (int m = 0; m < 2; m++)
            for (String p : List.of("norm.weight", "norm.bias", "in_proj.weight", "conv1d.weight", "conv1d.bias", "x_proj.weight",
                    "dt_proj.weight", "dt_proj.bias", "A_log", "Dskip", "out_proj.weight"))
                expected.add("layers.0.mod." + m + "." + p);
        expected.addAll(List.of("head.norm.0.weight", "head.norm.0.bias", "head.norm.1.weight", "head.norm.1.bias",
                "head.fusion_weight", "head.fc1.weight", "head.fc1.bias", "head.fc2.weight", "head.fc2.bias"));
        try (FusionModel model = Models.create(c, CPU, 1)) {
            assertEquals(expected, names(model));
            assertArrayEquals(new int[]{64, 4}, model.parameters().get(expected.indexOf("head.fc1.weight")).value().shape().dims());
            assertArrayEquals(new int[]{1 + 2 * 3, 8}, model.parameters().get(expected.indexOf("layers.0.mod.1.x_proj.weight")).value().shape().dims());
        }
    }

    @Test
    void namesAreUniqueAndDecayFollowsTheConvention() {
        for (ModelConfig c : everyConfig()) {
            try (FusionModel model = Models.create(c, CPU, 1)) {
                Set<String> seen = new HashSet<>();
                for (Parameter p : model.parameters()) {
                    assertTrue(seen.add(p.name()), "duplicate parameter name " + p.name() + " in " + c);
                    assertTrue(p.name().matches("(input|layers|head)(\\.[A-Za-z0-9_]+)+"), "not a dotted path: " + p.name());
                    String leaf = p.name().substring(p.name().lastIndexOf('.') + 1);
                    boolean noDecay = p.name().contains("norm") || leaf.equals("bias") || leaf.equals("A_log")
                            || leaf.equals("Dskip") || leaf.equals("dt_raw") || leaf.equals("fusion_weight");
                    assertEquals(!noDecay, p.decay(), p.name() + " decay in " + c);
                    assertEquals(DType.F32, p.value().dtype());
                    assertEquals(p.value().shape(), p.grad().shape());
                }
            }
        }
    }

    /** What each switch adds or removes, and that everything else keeps its name. */
    @Test
    void configSwitchesChangeOnlyTheirParameters() {
        List<String> selective, lti, average, concat, independent;
        try (FusionModel m = Models.create(small(ModelConfig.Mode.SELECTIVE, ModelConfig.Fusion.COUPLED, COUPLED_MAMBA), CPU, 1)) {
            selective = names(m);
        }
        try (FusionModel m = Models.create(small(ModelConfig.Mode.LTI, ModelConfig.Fusion.COUPLED, COUPLED_MAMBA), CPU, 1)) {
            lti = names(m);
        }
        try (FusionModel m = Models.create(small(ModelConfig.Mode.SELECTIVE, ModelConfig.Fusion.INDEPENDENT, COUPLED_MAMBA), CPU, 1)) {
            independent = names(m);
        }
        try (FusionModel m = Models.create(small(ModelConfig.Mode.SELECTIVE, ModelConfig.Fusion.AVERAGE, COUPLED_MAMBA), CPU, 1)) {
            average = names(m);
        }
        try (FusionModel m = Models.create(small(ModelConfig.Mode.SELECTIVE, ModelConfig.Fusion.CONCAT, COUPLED_MAMBA), CPU, 1)) {
            concat = names(m);
            Parameter fc1 = m.parameters().stream().filter(p -> p.name().equals("head.fc1.weight")).findFirst().orElseThrow();
            assertArrayEquals(new int[]{5, 3 * 4}, fc1.value().shape().dims(), "CONCAT head reads M * d_model");
        }
        assertEquals(selective, independent, "coupling is behaviour, not parameters");
        List<String> noSelective = selective.stream().filter(n -> !n.contains("x_proj") && !n.contains("dt_proj")).toList();
        List<String> noLti = lti.stream().filter(n -> !n.endsWith(".dt_raw") && !n.endsWith(".B") && !n.endsWith(".C")).toList();
        assertEquals(noSelective, noLti, "LTI swaps x_proj/dt_proj for dt_raw, B, C and keeps the rest");
        assertTrue(lti.contains("layers.1.mod.2.dt_raw") && lti.contains("layers.1.mod.2.B") && lti.contains("layers.1.mod.2.C"));
        assertTrue(lti.stream().noneMatch(n -> n.contains("x_proj")));
        List<String> noFusionWeight = selective.stream().filter(n -> !n.equals("head.fusion_weight")).toList();
        assertEquals(noFusionWeight, average);
        assertEquals(noFusionWeight, concat);
    }

    @Test
    void sameSeedSameParametersOtherSeedOthers() {
        for (ModelConfig c : everyConfig()) {
            try (FusionModel a = Models.create(c, CPU, 42); FusionModel b = Models.create(c, CPU, 42); FusionModel d = Models.create(c, CPU, 43)) {
                assertEquals(names(a), names(b));
                boolean differs = false;
                for (int i = 0; i < a.parameters().size(); i++) {
                    String n = a.parameters().get(i).name();
                    double[] va = a.parameters().get(i).value().toDoubles();
                    assertArrayEquals(va, b.parameters().get(i).value().toDoubles(), 0, n + " in " + c);
                    differs |= !java.util.Arrays.equals(va, d.parameters().get(i).value().toDoubles());
                }
                assertTrue(differs, "seeds 42 and 43 give the same model " + c);
            }
        }
    }

    /** Backward ops overwrite: a second backward on the same pass writes the same gradients, not twice them. */
    @Test
    void backwardOverwritesGradients() {
        Random rnd = random("ModelStructureTest.overwrite");
        ModelConfig c = small(ModelConfig.Mode.SELECTIVE, ModelConfig.Fusion.COUPLED, COUPLED_MAMBA);
        try (FusionModel model = Models.create(c, CPU, rnd.nextLong(), DType.F64)) {
            ModelInput in = ModelGradientTest.input(c, 2, rnd, DType.F64);
            try (FusionModel.Forward f = model.forward(in); Tensor dOut = f64(gaussian(rnd, 2 * c.outputs()), 2, c.outputs())) {
                model.backward(f, dOut);
                List<double[]> first = model.parameters().stream().map(p -> p.grad().toDoubles()).toList();
                model.backward(f, dOut);
                for (int i = 0; i < first.size(); i++)
                    assertArrayEquals(first.get(i), model.parameters().get(i).grad().toDoubles(), 0, model.parameters().get(i).name());
            }
        }
    }

    @Test
    void closingAPassFreesItsOutputAndEndsIt() {
        ModelConfig c = small(ModelConfig.Mode.LTI, ModelConfig.Fusion.COUPLED, COUPLED_MAMBA);
        try (FusionModel model = Models.create(c, CPU, 1)) {
            ModelInput in = ModelGradientTest.input(c, 2, new Random(1), DType.F32);
            FusionModel.Forward f = model.forward(in);
            Tensor out = f.output();
            f.close();
            assertThrows(IllegalStateException.class, out::toDoubles);
            assertThrows(IllegalStateException.class, f::output);
            assertRejected(() -> model.backward(f, CPU.zeros(DType.F32, 2, c.outputs())), "open forward pass");
            assertDoesNotThrow(() -> in.features()[0].toDoubles(), "the input stays the caller's");
        }
    }

    @Test
    void badInputsAreNamed() {
        ModelConfig c = small(ModelConfig.Mode.SELECTIVE, ModelConfig.Fusion.COUPLED, COUPLED_MAMBA);
        try (FusionModel model = Models.create(c, CPU, 1)) {
            Random rnd = new Random(1);
            ModelInput wrongShape = ModelGradientTest.input(c, 2, rnd, DType.F32);
            wrongShape.features()[1] = CPU.zeros(DType.F32, 2, 4, 7);
            assertRejected(() -> model.forward(wrongShape), "modality 1: expected features [2, 4, 2], got [2, 4, 7]");

            ModelInput wrongType = ModelGradientTest.input(c, 2, rnd, DType.F64);
            assertRejected(() -> model.forward(wrongType), "modality 0: features are F64 but the model is F32");

            ModelInput floatLengths = ModelGradientTest.input(c, 2, rnd, DType.F32);
            floatLengths.lengths()[2] = CPU.zeros(DType.F32, 2);
            assertRejected(() -> model.forward(floatLengths), "modality 2: lengths must be I32");

            ModelInput tooLong = ModelGradientTest.input(c, 2, rnd, DType.F32);
            tooLong.lengths()[0] = CPU.fromInts(new int[]{3, 9}, 2);
            assertRejected(() -> model.forward(tooLong), "length of sample 1 is 9");

            ModelInput twoModalities = new ModelInput(new Tensor[]{wrongShape.features()[0], wrongShape.features()[2]},
                    new Tensor[]{wrongShape.lengths()[0], wrongShape.lengths()[2]});
            assertRejected(() -> model.forward(twoModalities), "expected 3 modalities, got 2 feature tensors");

            ModelInput ok = ModelGradientTest.input(c, 2, rnd, DType.F32);
            try (FusionModel.Forward f = model.forward(ok)) {
                assertRejected(() -> model.backward(f, CPU.zeros(DType.F32, 2, 1)), "expected dOutput [2, 3]", "got [2, 1]");
            }
        }
    }

    @Test
    void factoryBuildsTheNamedArchitecture() {
        ModelConfig ca = small(ModelConfig.Mode.SELECTIVE, ModelConfig.Fusion.COUPLED, CROSS_ATTENTION);
        try (FusionModel a = Models.create(ca, CPU, 1); FusionModel b = Models.create(ca, CPU, 1, DType.F64, AttentionKind.PLAIN);
             FusionModel m = Models.create(small(ModelConfig.Mode.LTI, ModelConfig.Fusion.AVERAGE, COUPLED_MAMBA), CPU, 1)) {
            assertEquals(AttentionKind.FLASH, assertInstanceOf(CrossAttentionModel.class, a).attention());
            assertEquals(AttentionKind.PLAIN, assertInstanceOf(CrossAttentionModel.class, b).attention());
            assertEquals(DType.F64, b.parameters().get(0).value().dtype());
            assertInstanceOf(CoupledMambaModel.class, m);
            assertSame(ca, a.config());
            assertSame(CPU, a.backend());
        }
        assertRejected(() -> Models.create(ca, CPU, 1, DType.I32), "F32 or F64", "I32");
    }
}
