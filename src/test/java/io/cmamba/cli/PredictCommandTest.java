package io.cmamba.cli;

import io.cmamba.cpu.CpuBackend;
import io.cmamba.files.SafeTensors;
import io.cmamba.model.FusionModel;
import io.cmamba.model.ModelConfig;
import io.cmamba.model.ModelInput;
import io.cmamba.model.Models;
import io.cmamba.tensor.Tensor;
import io.cmamba.train.Adam;
import io.cmamba.train.Checkpoint;
import io.cmamba.train.LrSchedule;
import io.cmamba.train.TrainOptions;
import io.cmamba.train.TrainerState;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.SplittableRandom;

import static io.cmamba.cli.MainTest.run;
import static io.cmamba.cli.MainTest.usageError;
import static org.junit.jupiter.api.Assertions.*;

/** cmamba predict: a checkpoint's outputs on inputs from a file equal the model's own forward; bad inputs are named. */
class PredictCommandTest {
    static final int[] FEATURES = {3, 2}, LENGTHS = {5, 4};
    static final int BATCH = 5;

    final CpuBackend cpu = new CpuBackend();
    @TempDir
    Path dir;

    static ModelConfig config(ModelConfig.Architecture arch, ModelConfig.Fusion fusion, ModelConfig.Task task) {
        return new ModelConfig(FEATURES.clone(), LENGTHS.clone(), 3, 8, 2, 4, 0, 2, 2, ModelConfig.Mode.SELECTIVE, fusion, arch,
                2, ModelConfig.Norm.LAYER, task, task == ModelConfig.Task.CLASSIFICATION ? 3 : 0, 8);
    }

    /** An untrained model (seed 5) written as a checkpoint without optimizer state. */
    Path checkpoint(FusionModel model) throws IOException {
        Path file = dir.resolve("best.safetensors");
        TrainOptions options = new TrainOptions(1, 8, 1e-3, 0, Adam.Kind.ADAM, LrSchedule.Kind.CONSTANT, 0, 1.0, 5, 0, "mae",
                0, "builtin", 40, 1, 2, null);
        Checkpoint.write(file, model, null, new TrainerState(), options);
        return file;
    }

    /** Random features (padding included) and lengths in [1, L_m] with the first sample whole. */
    static SafeTensors inputs(long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        SafeTensors st = new SafeTensors();
        for (int m = 0; m < FEATURES.length; m++) {
            float[] f = new float[BATCH * LENGTHS[m] * FEATURES[m]];
            for (int i = 0; i < f.length; i++) f[i] = (float) (2 * r.nextDouble() - 1);
            int[] len = new int[BATCH];
            for (int b = 0; b < BATCH; b++) len[b] = b == 0 ? LENGTHS[m] : 1 + r.nextInt(LENGTHS[m]);
            st.putFloats("features." + m, new int[]{BATCH, LENGTHS[m], FEATURES[m]}, f);
            st.putInts("lengths." + m, new int[]{BATCH}, len);
        }
        return st;
    }

    /** The model's forward on the same inputs, as floats [B * outputs]. */
    float[] forward(FusionModel model, SafeTensors in) {
        Tensor[] f = new Tensor[FEATURES.length], l = new Tensor[FEATURES.length];
        for (int m = 0; m < FEATURES.length; m++) {
            SafeTensors.Entry e = in.get("features." + m);
            f[m] = cpu.fromFloats(e.floats(), e.shape());
            l[m] = cpu.fromInts(in.get("lengths." + m).ints(), BATCH);
        }
        try (FusionModel.Forward pass = model.forward(new ModelInput(f, l))) {
            return pass.output().toFloats();
        }
    }

    @Test
    void outputsEqualTheModelsOwnForward() throws IOException {
        ModelConfig[] configs = {
                config(ModelConfig.Architecture.COUPLED_MAMBA, ModelConfig.Fusion.COUPLED, ModelConfig.Task.REGRESSION),
                config(ModelConfig.Architecture.COUPLED_MAMBA, ModelConfig.Fusion.CONCAT, ModelConfig.Task.CLASSIFICATION),
                config(ModelConfig.Architecture.CROSS_ATTENTION, ModelConfig.Fusion.COUPLED, ModelConfig.Task.CLASSIFICATION)};
        for (ModelConfig c : configs) {
            try (FusionModel model = Models.create(c, cpu, 5)) {
                Path ck = checkpoint(model);
                SafeTensors in = inputs(11);
                Path inFile = dir.resolve("inputs.safetensors"), outFile = dir.resolve("out.safetensors");
                in.write(inFile);
                MainTest.Run r = run("predict", "--checkpoint", ck.toString(), "--in", inFile.toString(), "--out", outFile.toString(),
                        "--device", "cpu");
                assertEquals(0, r.code(), c + ": " + r.err());
                SafeTensors.Entry out = SafeTensors.read(outFile).get("output");
                assertArrayEquals(new int[]{BATCH, c.outputs()}, out.shape(), c.toString());
                assertEquals("F32", out.dtype());
                float[] expected = forward(model, in);
                assertArrayEquals(expected, out.floats(), 1e-6f, c + " (inference forms some products otherwise: float32 rounding)");

                // smaller forward passes give each sample the same output
                r = run("predict", "--checkpoint", ck.toString(), "--in", inFile.toString(), "--out", outFile.toString(),
                        "--device", "cpu", "--batch-size", "2");
                assertEquals(0, r.code(), r.err());
                assertArrayEquals(expected, SafeTensors.read(outFile).get("output").floats(), 1e-6f, c + ", batches of 2");
            }
        }
    }

    @Test
    void badInputsAreNamedWithTheExpectedShape() throws IOException {
        ModelConfig c = config(ModelConfig.Architecture.COUPLED_MAMBA, ModelConfig.Fusion.COUPLED, ModelConfig.Task.REGRESSION);
        Path ck;
        try (FusionModel model = Models.create(c, cpu, 5)) {
            ck = checkpoint(model);
        }
        Path bad = dir.resolve("bad.safetensors"), out = dir.resolve("out.safetensors");
        String[] args = {"predict", "--checkpoint", ck.toString(), "--in", bad.toString(), "--out", out.toString(), "--device", "cpu"};

        SafeTensors in = inputs(3);
        in.entries().remove("lengths.1");
        in.write(bad);
        usageError("tensor 'lengths.1' is missing", args);

        in = inputs(3);
        in.putFloats("features.0", new int[]{BATCH, 4, 3}, new float[BATCH * 4 * 3]);
        in.write(bad);
        usageError("tensor 'features.0' has shape [5, 4, 3], expected [B, 5, 3]", args);

        in = inputs(3);
        in.putInts("lengths.0", new int[]{BATCH}, new int[]{1, 2, 6, 1, 1});
        in.write(bad);
        usageError("lengths.0[2] is 6, outside [0, 5]", args);

        in = inputs(3);
        in.putFloats("features.2", new int[]{1}, new float[1]);
        in.write(bad);
        usageError("tensor 'features.2' is not an input of this model", args);

        usageError("absent.safetensors: no such file", "predict", "--checkpoint", ck.toString(), "--in",
                dir.resolve("absent.safetensors").toString(), "--out", out.toString(), "--device", "cpu");
        usageError("Missing required option: '--out=FILE'", "predict", "--checkpoint", ck.toString(), "--in", bad.toString());
        assertFalse(out.toFile().exists(), "no output file after a bad input");
    }
}
