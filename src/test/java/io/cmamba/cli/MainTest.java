package io.cmamba.cli;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class MainTest {
    @TempDir
    Path dir;

    record Run(int code, String out, String err) {
    }

    static Run run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        int code = Main.run(args, new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    /** Exit code 2 and exactly one line on stderr containing {@code expected}. */
    static void usageError(String expected, String... args) {
        Run r = run(args);
        assertEquals(2, r.code(), "exit code of " + String.join(" ", args) + "; stderr: " + r.err());
        String err = r.err().strip();
        assertFalse(err.contains("\n"), "one line expected, got:\n" + r.err());
        assertTrue(err.contains(expected), "expected '" + expected + "' in: " + err);
        assertFalse(err.contains("\tat "), "no stack trace without --verbose");
    }

    /** Tiny settings for a training run of a second or two. */
    static final String[] TINY = {"--device", "cpu", "--dataset-size", "40", "--d-model", "4", "--d-state", "2",
            "--layers", "1", "--length", "4", "--batch-size", "8", "--warmup", "2"};

    /** "train", the tiny settings, then {@code more}. */
    static String[] train(String... more) {
        return concat(concat(new String[]{"train"}, TINY), more);
    }

    static String[] concat(String[] a, String... b) {
        String[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    @Test
    void badArgumentsGiveOneLineAndExitTwo() {
        usageError("Unknown option: '--bogus'", "train", "--bogus");
        usageError("epochs must be >= 1, got 0", "train", "--epochs", "0");
        usageError("'abc' is not a double", "train", "--lr", "abc");
        usageError("--fusion: expected average, concat, coupled, independent; got 'weird'", "train", "--fusion", "weird");
        usageError("--arch: expected coupled-mamba, cross-attention; got 'rnn'", "train", "--arch", "rnn");
        usageError("modality dropout must lie in [0, 1), got 1.5", "train", "--modality-dropout", "1.5");
        usageError("--data /nonexistent/features: no such directory", "train", "--data", "/nonexistent/features");
        usageError("modality 7 does not exist: synthetic has 3 modalities [text, audio, vision]",
                train("--modalities", "0,7"));
        usageError("bad device 'tpu'", "train", "--dataset-size", "40", "--device", "tpu");
        usageError("unknown validation metric 'acc9'", train("--metric", "acc9"));
        usageError("Unmatched argument", "eval", "--checkpoint", "x", "extra");
        usageError("Missing required option: '--checkpoint=FILE'", "eval");
        usageError("a command is needed");
        usageError("Unmatched argument at index 0: 'frobnicate'", "frobnicate");
    }

    @Test
    void cudaWithoutAUsableGpuIsABadArgument() {
        for (io.cmamba.tensor.BackendProvider p : java.util.ServiceLoader.load(io.cmamba.tensor.BackendProvider.class))
            Assumptions.assumeFalse(p.kind().equals("cuda") && p.unavailableReason() == null, "a GPU is usable here");
        usageError("--device cuda: no usable GPU", "train", "--dataset-size", "40", "--device", "cuda");
    }

    @Test
    void verboseAddsTheStackTrace() {
        Run r = run("--verbose", "eval", "--checkpoint", dir.resolve("absent.safetensors").toString());
        assertEquals(2, r.code());
        assertTrue(r.err().contains("absent.safetensors: no such file") && r.err().contains("\tat "), r.err());
    }

    @Test
    void corruptCheckpointIsNamed() throws IOException {
        Path bad = dir.resolve("bad.safetensors");
        Files.writeString(bad, "garbage that is not a checkpoint");
        usageError(bad + ": not a valid safetensors file", "eval", "--checkpoint", bad.toString());
        usageError("--missing-rate must lie in [0, 1], got 2.0", "eval", "--checkpoint", bad.toString(), "--missing-rate", "2");
    }

    @Test
    void kernelNamesItsRunner() {
        usageError("unknown kernel 'fft': expected coupled-scan or global-conv", "kernel", "fft");
        boolean present;
        try {
            Class.forName("io.cmamba.bench.CoupledScanRunner");
            present = true;
        } catch (ClassNotFoundException e) {
            present = false;
        }
        Assumptions.assumeFalse(present, "the coupled-scan runner is part of this build");
        usageError("the coupled-scan runner (io.cmamba.bench.CoupledScanRunner.run(String[])) is not part of this build",
                "kernel", "coupled-scan", "--length", "64");
    }

    @Test
    void infoListsTheBackends() {
        Run r = run("info");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("cmamba "), r.out());
        assertTrue(r.out().contains("java 17") || r.out().contains("java "), r.out());
        assertTrue(r.out().contains("  cpu: usable"), r.out());
        assertTrue(r.out().contains("  cuda: "), r.out());
        Run v = run("--version");
        assertEquals(0, v.code());
        assertTrue(v.out().startsWith("cmamba "), v.out());
    }

    @Test
    void trainsOnAFeatureDirectoryAndEvaluatesWithMissingModalities() throws IOException {
        Path features = dir.resolve("features");
        io.cmamba.data.FeatureDirectoryWriter.write(io.cmamba.data.SyntheticDataset.create(3, 40, 8, 8), features);
        Path out = dir.resolve("run");
        Run r = run(train("--data", features.toString(), "--epochs", "1", "--modalities", "1,0", "--out", out.toString()));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("audio+text, 40/8/8 samples"), r.err());
        String best = out.resolve("best.safetensors").toString();
        JsonObject whole = JsonParser.parseString(run("eval", "--checkpoint", best, "--device", "cpu").out()).getAsJsonObject();
        Run m = run("eval", "--checkpoint", best, "--device", "cpu", "--missing-rate", "1");
        assertEquals(0, m.code(), m.err());
        JsonObject missing = JsonParser.parseString(m.out()).getAsJsonObject();
        assertEquals(1.0, missing.get("missing_rate").getAsDouble());
        assertNotEquals(whole.getAsJsonObject("scores").get("mae"), missing.getAsJsonObject("scores").get("mae"));
        // a directory that is not a feature directory is named
        Files.createDirectories(dir.resolve("empty"));
        usageError(dir.resolve("empty").toString(), train("--data", dir.resolve("empty").toString()));
    }

    @Test
    void trainPauseResumeAndEvalEndToEnd() throws IOException {
        Path out = dir.resolve("run");
        Run first = run(train("--epochs", "2", "--stop-after", "1", "--out", out.toString()));
        assertEquals(0, first.code(), first.err());
        assertTrue(first.out().contains("paused after epoch 1 of 2"), first.out());
        assertTrue(first.err().contains("device: cpu (requested)"), first.err());

        Path last = out.resolve("last.safetensors");
        usageError("--lr cannot be given with --resume", "train", "--resume", last.toString(), "--lr", "0.1");

        Run second = run("train", "--resume", last.toString(), "--device", "cpu");
        assertEquals(0, second.code(), second.err());
        assertTrue(second.err().contains("resumed after epoch 1 (update 5)"), second.err());
        assertTrue(second.out().contains("finished 2 epochs") && second.out().contains("test: loss"), second.out());
        for (String f : new String[]{"last.safetensors", "best.safetensors", "metrics.json", "loss.png"})
            assertTrue(Files.isRegularFile(out.resolve(f)), f);
        JsonObject metrics = JsonParser.parseString(Files.readString(out.resolve("metrics.json"))).getAsJsonObject();
        assertEquals(2, metrics.getAsJsonArray("epochs").size());

        Run eval = run("eval", "--checkpoint", out.resolve("best.safetensors").toString(), "--device", "cpu", "--split", "valid");
        assertEquals(0, eval.code(), eval.err());
        JsonObject j = JsonParser.parseString(eval.out()).getAsJsonObject();
        assertEquals("valid", j.get("split").getAsString());
        assertEquals(8, j.get("samples").getAsInt());
        // the best epoch's validation scores, recomputed from its checkpoint
        int best = metrics.getAsJsonObject("best").get("epoch").getAsInt();
        double recorded = metrics.getAsJsonArray("epochs").get(best - 1).getAsJsonObject().getAsJsonObject("valid").get("mae").getAsDouble();
        assertEquals(recorded, j.getAsJsonObject("scores").get("mae").getAsDouble(), 1e-6);
        usageError("--split: expected train, valid or test; got 'dev'", "eval", "--checkpoint", out.resolve("best.safetensors").toString(),
                "--device", "cpu", "--split", "dev");
    }
}
