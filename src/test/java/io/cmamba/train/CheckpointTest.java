package io.cmamba.train;

import io.cmamba.cpu.CpuBackend;
import io.cmamba.files.SafeTensors;
import io.cmamba.model.FusionModel;
import io.cmamba.model.ModelConfig;
import io.cmamba.model.Models;
import io.cmamba.nn.Parameter;
import io.cmamba.tensor.DType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

class CheckpointTest {
    final CpuBackend cpu = new CpuBackend();
    @TempDir
    Path dir;

    final ModelConfig config = TrainTestSupport.config(ModelConfig.Task.REGRESSION);
    final TrainOptions options = TrainTestSupport.options(3, LrSchedule.Kind.COSINE);

    /** A model and an optimizer with non-trivial moments (three updates on made-up gradients). */
    Adam trained(FusionModel model) {
        Adam adam = new Adam(model.parameters(), Adam.Settings.of(Adam.Kind.ADAMW, 0.01));
        java.util.Random r = new java.util.Random(3);
        for (int step = 0; step < 3; step++) {
            for (Parameter p : model.parameters()) {
                double[] g = new double[(int) p.grad().size()];
                for (int i = 0; i < g.length; i++) g[i] = r.nextGaussian();
                cpu.copy(p.grad(), cpu.fromDoubles(DType.F32, g, p.grad().shape().dims()));
            }
            adam.step(1e-2, 1);
        }
        return adam;
    }

    TrainerState state() {
        TrainerState s = new TrainerState();
        s.epoch = 2;
        s.step = 3;
        s.bestEpoch = 1;
        s.bestValue = 0.75;
        s.sinceBest = 1;
        s.seconds = 1.5;
        s.history.add(new TrainerState.EpochRecord(1, 1.25, new float[]{1.5f, 1.0f}, Map.of("loss", 0.75, "corr", Double.NaN), 1e-3, 0.5));
        return s;
    }

    @Test
    void roundTripRestoresWeightsMomentsStepsStateAndOptions() throws IOException {
        FusionModel a = Models.create(config, cpu, 5);
        Adam adamA = trained(a);
        Path file = dir.resolve("last.safetensors");
        Checkpoint.write(file, a, adamA, state(), options);

        Checkpoint ck = Checkpoint.read(file);
        assertEquals(config, ck.config());
        assertEquals(options, ck.options());
        assertEquals(2, ck.state().epoch);
        assertEquals(0.75, ck.state().bestValue);
        assertTrue(Double.isNaN(ck.state().history.get(0).valid().get("corr")));
        assertArrayEquals(new float[]{1.5f, 1.0f}, ck.state().history.get(0).stepLosses());

        FusionModel b = Models.create(config, cpu, 99);   // other initial weights
        Adam adamB = new Adam(b.parameters(), Adam.Settings.of(Adam.Kind.ADAMW, 0.01));
        ck.loadModel(b);
        ck.loadOptimizer(adamB);
        assertEquals(3, adamB.steps());
        List<Parameter> pa = a.parameters(), pb = b.parameters();
        for (int i = 0; i < pa.size(); i++) {
            assertArrayEquals(pa.get(i).value().toFloats(), pb.get(i).value().toFloats(), pa.get(i).name());
            assertArrayEquals(adamA.firstMoment(i).toFloats(), adamB.firstMoment(i).toFloats());
            assertArrayEquals(adamA.secondMoment(i).toFloats(), adamB.secondMoment(i).toFloats());
        }
    }

    @Test
    void failedWriteLeavesNoPartialFile() throws IOException {
        FusionModel a = Models.create(config, cpu, 5);
        // the target is a non-empty directory: the data is written to a temporary file, the rename fails
        Path target = dir.resolve("ck.safetensors");
        Files.createDirectories(target.resolve("inside"));
        assertThrows(IOException.class, () -> Checkpoint.write(target, a, null, state(), options));
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of(target), files.toList(), "only the directory that blocked the write remains");
        }
    }

    @Test
    void corruptOrForeignFilesGiveAClearError() throws IOException {
        FusionModel a = Models.create(config, cpu, 5);
        Path good = dir.resolve("good.safetensors");
        Checkpoint.write(good, a, null, state(), options);
        byte[] bytes = Files.readAllBytes(good);

        Path truncated = dir.resolve("truncated.safetensors");
        Files.write(truncated, java.util.Arrays.copyOf(bytes, bytes.length - 10));
        IOException e = assertThrows(IOException.class, () -> Checkpoint.read(truncated));
        assertTrue(e.getMessage().startsWith(truncated.toString()) && e.getMessage().contains("truncated"), e.getMessage());

        Path garbage = dir.resolve("garbage.safetensors");
        Files.write(garbage, "this is not a checkpoint".getBytes());
        e = assertThrows(IOException.class, () -> Checkpoint.read(garbage));
        assertTrue(e.getMessage().contains("header length"), e.getMessage());

        Path foreign = dir.resolve("foreign.safetensors");
        new SafeTensors().putFloats("w", new int[]{1}, new float[]{1}).write(foreign);
        e = assertThrows(IOException.class, () -> Checkpoint.read(foreign));
        assertTrue(e.getMessage().contains("not a cmamba checkpoint"), e.getMessage());

        Path badConfig = dir.resolve("bad-config.safetensors");
        SafeTensors st = SafeTensors.read(good);
        st.metadata().put("config", "{\"featureSizes\":[3],\"inputLengths\":[5,4]}");
        st.write(badConfig);
        e = assertThrows(IOException.class, () -> Checkpoint.read(badConfig));
        assertTrue(e.getMessage().contains("metadata 'config'") && e.getMessage().contains("inputLengths has 2 entries"), e.getMessage());

        assertThrows(IOException.class, () -> Checkpoint.read(dir.resolve("absent.safetensors")));
    }

    @Test
    void missingMisShapedOrForeignTensorsAndOtherConfigsAreNamed() throws IOException {
        FusionModel a = Models.create(config, cpu, 5);
        Path good = dir.resolve("good.safetensors");
        Checkpoint.write(good, a, null, state(), options);
        String name = a.parameters().get(0).name();

        SafeTensors missing = SafeTensors.read(good);
        missing.entries().remove(name);
        missing.write(dir.resolve("missing.safetensors"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Checkpoint.read(dir.resolve("missing.safetensors")).loadModel(a));
        assertTrue(e.getMessage().contains("'" + name + "' of the model is missing"), e.getMessage());

        SafeTensors shaped = SafeTensors.read(good);
        shaped.put(name, "F32", new int[]{1, 1}, new double[]{0});
        shaped.write(dir.resolve("shaped.safetensors"));
        e = assertThrows(IllegalArgumentException.class, () -> Checkpoint.read(dir.resolve("shaped.safetensors")).loadModel(a));
        assertTrue(e.getMessage().contains("'" + name + "' has shape [1, 1], the model expects"), e.getMessage());

        SafeTensors extra = SafeTensors.read(good);
        extra.putFloats("stranger", new int[]{1}, new float[]{0});
        extra.write(dir.resolve("extra.safetensors"));
        e = assertThrows(IllegalArgumentException.class, () -> Checkpoint.read(dir.resolve("extra.safetensors")).loadModel(a));
        assertTrue(e.getMessage().contains("'stranger' is not a parameter"), e.getMessage());

        SafeTensors nan = SafeTensors.read(good);
        SafeTensors.Entry first = nan.get(name);
        double[] v = first.values().clone();
        v[0] = Double.NaN;
        nan.put(name, first.dtype(), first.shape(), v);
        nan.write(dir.resolve("nan.safetensors"));
        e = assertThrows(IllegalArgumentException.class, () -> Checkpoint.read(dir.resolve("nan.safetensors")).loadModel(a));
        assertTrue(e.getMessage().contains("1 NaN or infinite"), e.getMessage());

        FusionModel wider = Models.create(new ModelConfig(TrainTestSupport.FEATURES.clone(), TrainTestSupport.LENGTHS.clone(),
                4, 12, 2, 4, 0, 2, 1, ModelConfig.Mode.SELECTIVE, ModelConfig.Fusion.COUPLED,
                ModelConfig.Architecture.COUPLED_MAMBA, 2, ModelConfig.Norm.LAYER, ModelConfig.Task.REGRESSION, 0, 8), cpu, 1);
        e = assertThrows(IllegalArgumentException.class, () -> Checkpoint.read(good).loadModel(wider));
        assertTrue(e.getMessage().contains("written for") && e.getMessage().contains("d_model 8") && e.getMessage().contains("d_model 12"), e.getMessage());

        Adam adam = new Adam(a.parameters(), Adam.Settings.of(Adam.Kind.ADAM, 0));
        e = assertThrows(IllegalArgumentException.class, () -> Checkpoint.read(good).loadOptimizer(adam));
        assertTrue(e.getMessage().contains("no optimizer state"), e.getMessage());
    }
}
