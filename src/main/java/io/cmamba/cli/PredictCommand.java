package io.cmamba.cli;

import io.cmamba.files.SafeTensors;
import io.cmamba.model.FusionModel;
import io.cmamba.model.ModelConfig;
import io.cmamba.model.ModelInput;
import io.cmamba.model.Models;
import io.cmamba.tensor.Backend;
import io.cmamba.tensor.Backends;
import io.cmamba.tensor.Tensor;
import io.cmamba.train.Checkpoint;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.TreeSet;
import java.util.concurrent.Callable;

/**
 * {@code cmamba predict}: a checkpoint's outputs on inputs given as a safetensors file, written as one.
 * Inputs: {@code features.{m}} F32 [B, L_m, F_m] and {@code lengths.{m}} I32 [B] per modality m of the
 * checkpoint's config; output: {@code output} F32 [B, outputs] (regression: the prediction;
 * classification: the logits). The forward is the one {@code cmamba eval} runs, so an outside
 * implementation (bench/peers/roundtrip.py) can be held against the Java model on the same inputs.
 */
@Command(mixinStandardHelpOptions = true, name = "predict", sortOptions = false, showDefaultValues = true,
        description = "Runs a checkpoint on inputs from a safetensors file (features.{m} F32 [B, L_m, F_m], lengths.{m} I32 [B]) "
                + "and writes output F32 [B, outputs] to another.")
final class PredictCommand implements Callable<Integer> {
    @ParentCommand
    Main main;

    @Option(names = "--checkpoint", required = true, paramLabel = "FILE", description = "A best.safetensors or last.safetensors.")
    Path checkpoint;
    @Option(names = "--in", required = true, paramLabel = "FILE", description = "Inputs: features.{m} and lengths.{m} per modality.")
    Path in;
    @Option(names = "--out", required = true, paramLabel = "FILE", description = "Written atomically: output [B, outputs].")
    Path out;
    @Option(names = "--device", paramLabel = "auto|cpu|cuda[:N]")
    String device = "auto";
    @Option(names = "--batch-size", paramLabel = "N", description = "Samples per forward pass.")
    int batchSize = 64;

    /** The checked inputs on the host: per modality features [B, L_m, F_m] and lengths [B]. */
    record Inputs(int batch, float[][] features, int[][] lengths) {
    }

    @Override
    public Integer call() throws Exception {
        if (batchSize < 1) throw new Main.UsageException("--batch-size must be >= 1, got " + batchSize);
        Checkpoint ck = Checkpoint.read(checkpoint);
        ModelConfig c = ck.config();
        Inputs x = readInputs(in, c);
        int k = c.outputs();
        float[] output = new float[x.batch() * k];
        Backends.Choice choice = Main.openBackend(device);
        Backend be = choice.backend();
        String deviceName = be.name();
        try (FusionModel model = Models.create(c, be, 0)) {
            ck.loadModel(model);
            for (int start = 0; start < x.batch(); start += batchSize) {
                int n = Math.min(batchSize, x.batch() - start);
                ModelInput input = slice(be, c, x, start, n);
                try (Tensor o = model.predict(input)) {
                    System.arraycopy(o.toFloats(), 0, output, start * k, n * k);
                } finally {
                    for (Tensor t : input.features()) t.close();
                    for (Tensor t : input.lengths()) t.close();
                }
            }
        } finally {
            be.close();
        }
        SafeTensors result = new SafeTensors().putFloats("output", new int[]{x.batch(), k}, output);
        result.metadata().put("checkpoint", checkpoint.toString());
        result.metadata().put("device", deviceName);
        result.write(out);
        main.out.println("wrote " + out + ": output [" + x.batch() + ", " + k + "] from " + checkpoint + " on " + deviceName);
        return Main.OK;
    }

    /** Reads the inputs file and checks every tensor against the config, naming what is wrong and what was expected. */
    static Inputs readInputs(Path path, ModelConfig c) throws IOException {
        SafeTensors st = SafeTensors.read(path);
        int mCount = c.modalities();
        TreeSet<String> expected = new TreeSet<>();
        for (int m = 0; m < mCount; m++) {
            expected.add("features." + m);
            expected.add("lengths." + m);
        }
        for (String name : st.entries().keySet())
            if (!expected.contains(name))
                throw new IllegalArgumentException(path + ": tensor '" + name + "' is not an input of this model (expected " + expected + ")");
        for (String name : expected)
            if (!st.has(name)) throw new IllegalArgumentException(path + ": tensor '" + name + "' is missing (expected " + expected + ")");
        int batch = st.get("features.0").shape().length > 0 ? st.get("features.0").shape()[0] : -1;
        float[][] features = new float[mCount][];
        int[][] lengths = new int[mCount][];
        for (int m = 0; m < mCount; m++) {
            int lm = c.inputLengths()[m];
            SafeTensors.Entry f = st.get("features." + m), l = st.get("lengths." + m);
            int[] want = {batch, lm, c.featureSizes()[m]};
            if (batch < 1 || !Arrays.equals(f.shape(), want))
                throw new IllegalArgumentException(path + ": tensor 'features." + m + "' has shape " + Arrays.toString(f.shape())
                        + ", expected [B, " + lm + ", " + c.featureSizes()[m] + "] with B >= 1 the same for every modality");
            if (!f.dtype().equals("F32"))
                throw new IllegalArgumentException(path + ": tensor 'features." + m + "' is " + f.dtype() + ", expected F32");
            if (!Arrays.equals(l.shape(), new int[]{batch}))
                throw new IllegalArgumentException(path + ": tensor 'lengths." + m + "' has shape " + Arrays.toString(l.shape())
                        + ", expected [" + batch + "]");
            if (!l.dtype().equals("I32"))
                throw new IllegalArgumentException(path + ": tensor 'lengths." + m + "' is " + l.dtype() + ", expected I32");
            lengths[m] = l.ints();
            for (int b = 0; b < batch; b++)
                if (lengths[m][b] < 0 || lengths[m][b] > lm)
                    throw new IllegalArgumentException(path + ": lengths." + m + "[" + b + "] is " + lengths[m][b] + ", outside [0, " + lm + "]");
            features[m] = f.floats();
        }
        return new Inputs(batch, features, lengths);
    }

    /** Samples [start, start + n) on the backend. */
    private static ModelInput slice(Backend be, ModelConfig c, Inputs x, int start, int n) {
        int mCount = c.modalities();
        Tensor[] f = new Tensor[mCount], l = new Tensor[mCount];
        for (int m = 0; m < mCount; m++) {
            int row = c.inputLengths()[m] * c.featureSizes()[m];
            f[m] = be.fromFloats(Arrays.copyOfRange(x.features()[m], start * row, (start + n) * row), n, c.inputLengths()[m],
                    c.featureSizes()[m]);
            l[m] = be.fromInts(Arrays.copyOfRange(x.lengths()[m], start, start + n), n);
        }
        return new ModelInput(f, l);
    }
}
