package io.cmamba.train;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.cmamba.cpu.CpuBackend;
import io.cmamba.data.Dataset;
import io.cmamba.model.FusionModel;
import io.cmamba.model.ModelConfig;
import io.cmamba.model.Models;
import io.cmamba.nn.Parameter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class TrainerTest {
    final CpuBackend cpu = new CpuBackend();
    final Dataset data = TrainTestSupport.dataset(4, 48, 16, 16);
    final ModelConfig config = TrainTestSupport.config(ModelConfig.Task.REGRESSION);
    @TempDir
    Path dir;

    static void assertSameWeights(FusionModel a, FusionModel b) {
        List<Parameter> pa = a.parameters(), pb = b.parameters();
        for (int i = 0; i < pa.size(); i++)
            assertArrayEquals(pa.get(i).value().toFloats(), pb.get(i).value().toFloats(), pa.get(i).name());
    }

    static void assertSameHistory(TrainerState a, TrainerState b) {
        assertEquals(a.history.size(), b.history.size());
        for (int e = 0; e < a.history.size(); e++) {
            assertArrayEquals(a.history.get(e).stepLosses(), b.history.get(e).stepLosses(), "epoch " + (e + 1));
            assertEquals(a.history.get(e).valid(), b.history.get(e).valid());
        }
        assertEquals(a.step, b.step);
        assertEquals(a.bestEpoch, b.bestEpoch);
    }

    @Test
    void sameSeedGivesTheSameLossesAndWeights() throws IOException {
        TrainOptions o = TrainTestSupport.options(2, LrSchedule.Kind.COSINE);
        FusionModel a = Models.create(config, cpu, o.seed()), b = Models.create(config, cpu, o.seed());
        try (Trainer ta = new Trainer(a, data, o, null, Progress.silent()); Trainer tb = new Trainer(b, data, o, null, Progress.silent())) {
            ta.fit(0);
            tb.fit(0);
            assertSameHistory(ta.state(), tb.state());
            assertEquals(ta.test().scores(), tb.test().scores());
        }
        assertSameWeights(a, b);
        // and another seed trains differently
        TrainOptions other = new TrainOptions(2, 8, 3e-3, 5e-4, Adam.Kind.ADAM, LrSchedule.Kind.COSINE, 3, 1.0, 12, 0, "mae", 0,
                "builtin", 48, 1, 2, null);
        FusionModel c = Models.create(config, cpu, other.seed());
        try (Trainer tc = new Trainer(c, data, other, null, Progress.silent())) {
            tc.fit(0);
            assertFalse(java.util.Arrays.equals(tc.state().history.get(0).stepLosses(), stateOf(a, o).history.get(0).stepLosses()));
        }
    }

    private TrainerState stateOf(FusionModel ignored, TrainOptions o) throws IOException {
        try (Trainer t = new Trainer(Models.create(config, cpu, o.seed()), data, o, null, Progress.silent())) {
            t.fit(1);
            return t.state();
        }
    }

    @Test
    void resumingAPausedRunEqualsRunningStraightThrough() throws IOException {
        // with modality dropout, so that its draws must line up across the break too
        TrainOptions o = new TrainOptions(3, 8, 3e-3, 5e-4, Adam.Kind.ADAMW, LrSchedule.Kind.COSINE, 3, 1.0, 11, 0, "mae", 0.3,
                "builtin", 48, 1, 2, null);
        FusionModel straight = Models.create(config, cpu, o.seed());
        TrainerState full;
        try (Trainer t = new Trainer(straight, data, o, dir.resolve("straight"), Progress.silent())) {
            full = t.fit(0);
        }
        Path paused = dir.resolve("paused");
        try (Trainer t = new Trainer(Models.create(config, cpu, o.seed()), data, o, paused, Progress.silent())) {
            TrainerState s = t.fit(1);
            assertNull(s.stopped, "a paused run has not ended");
            assertNull(t.test());
        }
        FusionModel resumed = Models.create(config, cpu, 12345);   // other initial weights: all must come from the file
        try (Trainer t = new Trainer(resumed, data, o, paused, Progress.silent())) {
            t.resume(Checkpoint.read(paused.resolve(Trainer.LAST)));
            assertEquals(1, t.state().epoch);
            TrainerState s = t.fit(0);
            assertSameHistory(full, s);
            assertEquals("finished 3 epochs", s.stopped);
        }
        assertSameWeights(straight, resumed);
        // the last checkpoints hold the same tensors (weights and moments); only timings differ in the metadata
        var x = io.cmamba.files.SafeTensors.read(dir.resolve("straight").resolve(Trainer.LAST)).entries();
        var y = io.cmamba.files.SafeTensors.read(paused.resolve(Trainer.LAST)).entries();
        assertEquals(x.keySet(), y.keySet());
        for (String k : x.keySet()) assertArrayEquals(x.get(k).values(), y.get(k).values(), k);
    }

    @Test
    void twoEpochsEqualOneEpochThenResumeForOneMore() throws IOException {
        // a constant rate after the warm-up, so that extending the run does not change the schedule
        TrainOptions two = TrainTestSupport.options(2, LrSchedule.Kind.CONSTANT), one = two.withEpochs(1);
        FusionModel a = Models.create(config, cpu, two.seed());
        try (Trainer t = new Trainer(a, data, two, dir.resolve("a"), Progress.silent())) {
            t.fit(0);
        }
        try (Trainer t = new Trainer(Models.create(config, cpu, one.seed()), data, one, dir.resolve("b"), Progress.silent())) {
            assertEquals("finished 1 epochs", t.fit(0).stopped);
        }
        FusionModel b = Models.create(config, cpu, 7);
        try (Trainer t = new Trainer(b, data, two, dir.resolve("b"), Progress.silent())) {
            t.resume(Checkpoint.read(dir.resolve("b").resolve(Trainer.LAST)));
            t.fit(0);
        }
        // compare the last weights: both final models hold their best epoch's weights, so read the files
        FusionModel lastA = Models.create(config, cpu, 0), lastB = Models.create(config, cpu, 0);
        Checkpoint.read(dir.resolve("a").resolve(Trainer.LAST)).loadModel(lastA);
        Checkpoint.read(dir.resolve("b").resolve(Trainer.LAST)).loadModel(lastB);
        assertSameWeights(lastA, lastB);
        assertSameWeights(a, b);
    }

    @Test
    void modalityDropoutChangesTrainingAndMissingModalitiesChangeScores() throws IOException {
        TrainOptions plain = TrainTestSupport.options(1, LrSchedule.Kind.COSINE);
        TrainOptions dropped = new TrainOptions(1, 8, 3e-3, 5e-4, Adam.Kind.ADAM, LrSchedule.Kind.COSINE, 3, 1.0, 11, 0, "mae", 0.5,
                "builtin", 48, 1, 2, null);
        float[] a, b;
        FusionModel model = Models.create(config, cpu, plain.seed());
        try (Trainer t = new Trainer(model, data, plain, null, Progress.silent())) {
            a = t.fit(0).history.get(0).stepLosses();
        }
        try (Trainer t = new Trainer(Models.create(config, cpu, dropped.seed()), data, dropped, null, Progress.silent())) {
            b = t.fit(0).history.get(0).stepLosses();
        }
        assertFalse(java.util.Arrays.equals(a, b), "dropout must change the losses");

        Evaluator.Result whole = Evaluator.evaluate(model, data.test(), 3, 16);
        assertEquals(whole.scores(), Evaluator.evaluate(model, data.test(), 3, 16, 0, 5).scores());
        Evaluator.Result missing = Evaluator.evaluate(model, data.test(), 3, 16, 0.5, 5);
        assertNotEquals(whole.scores().get("mae"), missing.scores().get("mae"));
        // which samples lose which modality does not depend on the batch size
        assertArrayEquals(missing.predictions(), Evaluator.evaluate(model, data.test(), 3, 3, 0.5, 5).predictions(), 1e-6);
        // and a rate of 1 removes every modality of every sample: all predictions are the same
        double[] none = Evaluator.evaluate(model, data.test(), 3, 16, 1.0, 5).predictions();
        for (double p : none) assertEquals(none[0], p, 1e-6);
    }

    @Test
    void resumingWithOtherOptionsIsRefused() throws IOException {
        TrainOptions o = TrainTestSupport.options(2, LrSchedule.Kind.COSINE);
        try (Trainer t = new Trainer(Models.create(config, cpu, o.seed()), data, o, dir, Progress.silent())) {
            t.fit(1);
        }
        TrainOptions otherLr = new TrainOptions(2, 8, 1e-3, 5e-4, Adam.Kind.ADAM, LrSchedule.Kind.COSINE, 3, 1.0, 11, 0, "mae", 0,
                "builtin", 48, 1, 2, null);
        try (Trainer t = new Trainer(Models.create(config, cpu, 1), data, otherLr, dir, Progress.silent())) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> t.resume(Checkpoint.read(dir.resolve(Trainer.LAST))));
            assertTrue(e.getMessage().contains("lr 0.003") && e.getMessage().contains("lr 0.001"), e.getMessage());
        }
    }

    @Test
    void learnsTheTinyTaskAndWritesReports() throws IOException {
        Dataset d = TrainTestSupport.dataset(9, 160, 48, 48);
        TrainOptions o = new TrainOptions(12, 16, 1e-2, 5e-4, Adam.Kind.ADAM, LrSchedule.Kind.COSINE, 5, 1.0, 3, 0, "mae", 0,
                "builtin", 160, 1, 2, null);
        double baseline = 0;   // MAE of always predicting the mean training label
        double mean = 0;
        for (float y : d.train().regression()) mean += y / d.train().size();
        for (float y : d.valid().regression()) baseline += Math.abs(y - mean) / d.valid().size();
        try (Trainer t = new Trainer(Models.create(config, cpu, o.seed()), d, o, dir, Progress.silent())) {
            TrainerState s = t.fit(0);
            assertTrue(s.bestValue < 0.6 * baseline, "best valid MAE " + s.bestValue + " vs mean-prediction " + baseline);
            assertTrue(s.history.get(s.history.size() - 1).trainLoss() < 0.6 * s.history.get(0).trainLoss());
        }
        JsonObject m = JsonParser.parseString(Files.readString(dir.resolve(Trainer.METRICS))).getAsJsonObject();
        assertEquals(12, m.getAsJsonArray("epochs").size());
        assertTrue(m.getAsJsonObject("test").has("acc2_has0"));
        assertEquals("finished 12 epochs", m.get("stopped").getAsString());
        byte[] png = Files.readAllBytes(dir.resolve(Trainer.CHART));
        assertTrue(png.length > 1000 && png[1] == 'P' && png[2] == 'N' && png[3] == 'G');
        assertTrue(Files.exists(dir.resolve(Trainer.BEST)));
    }

    @Test
    void stopsEarlyWhenTheMetricStopsImproving() throws IOException {
        // a rate too small to move float32 weights: the validation score never changes after epoch 1
        TrainOptions o = new TrainOptions(10, 8, 1e-30, 0, Adam.Kind.ADAM, LrSchedule.Kind.CONSTANT, 0, 0, 11, 2, "mae", 0,
                "builtin", 48, 1, 2, null);
        try (Trainer t = new Trainer(Models.create(config, cpu, o.seed()), data, o, dir, Progress.silent())) {
            TrainerState s = t.fit(0);
            assertEquals(3, s.epoch);
            assertEquals(1, s.bestEpoch);
            assertEquals("early stop: mae did not improve for 2 epochs", s.stopped);
            assertNotNull(t.test());
        }
    }

    @Test
    void nonFiniteLossStopsNamingTheUpdateAndKeepsTheLastCheckpoint() throws IOException {
        TrainOptions o = TrainTestSupport.options(3, LrSchedule.Kind.COSINE);
        FusionModel model = Models.create(config, cpu, o.seed());
        try (Trainer t = new Trainer(model, data, o, dir, Progress.silent())) {
            t.fit(1);
            byte[] before = Files.readAllBytes(dir.resolve(Trainer.LAST));
            // a weight gone bad, as after an overflow: the next loss is NaN (the head's last parameter,
            // which every output depends on)
            Parameter p = model.parameters().get(model.parameters().size() - 1);
            cpu.fill(p.value(), Double.NaN);
            Trainer.TrainingDivergedException e = assertThrows(Trainer.TrainingDivergedException.class, () -> t.fit(0));
            assertTrue(e.getMessage().startsWith("training diverged at epoch 2, update 1 of 6 (update 7 overall): the loss is NaN"), e.getMessage());
            assertTrue(e.getMessage().contains("last good checkpoint is " + dir.resolve(Trainer.LAST) + " (epoch 1)"), e.getMessage());
            assertArrayEquals(before, Files.readAllBytes(dir.resolve(Trainer.LAST)));
            JsonObject m = JsonParser.parseString(Files.readString(dir.resolve(Trainer.METRICS))).getAsJsonObject();
            assertTrue(m.get("stopped").getAsString().startsWith("training diverged"));
        }
    }

    /** The real model, except that a forward over exactly {@code poisoned} samples outputs NaN. */
    record PoisonedModel(FusionModel inner, int poisoned) implements FusionModel {
        public ModelConfig config() {
            return inner.config();
        }

        public io.cmamba.tensor.Backend backend() {
            return inner.backend();
        }

        public List<Parameter> parameters() {
            return inner.parameters();
        }

        public Forward forward(io.cmamba.model.ModelInput input) {
            Forward f = inner.forward(input);
            if (input.batch() == poisoned) inner.backend().fill(f.output(), Double.NaN);
            return f;
        }

        public void backward(Forward forward, io.cmamba.tensor.Tensor dOutput, GradientReady ready) {
            inner.backward(forward, dOutput, ready);
        }

        public List<List<Parameter>> gradientGroups() {
            return inner.gradientGroups();
        }

        public void close() {
            inner.close();
        }
    }

    @Test
    void nonFiniteValidationOutputIsADivergenceToo() throws IOException {
        TrainOptions o = TrainTestSupport.options(2, LrSchedule.Kind.COSINE);
        // training batches have 8 samples, the 5-sample validation split is one batch of 5
        Dataset d = TrainTestSupport.dataset(4, 48, 5, 16);
        FusionModel model = new PoisonedModel(Models.create(config, cpu, o.seed()), 5);
        try (Trainer t = new Trainer(model, d, o, dir, Progress.silent())) {
            Trainer.TrainingDivergedException e = assertThrows(Trainer.TrainingDivergedException.class, () -> t.fit(0));
            assertEquals("training diverged at epoch 1, validation: the model's outputs on split valid are NaN or infinite"
                    + " for 5 of 5 samples; no checkpoint was written yet", e.getMessage());
        }
        JsonObject m = JsonParser.parseString(Files.readString(dir.resolve(Trainer.METRICS))).getAsJsonObject();
        assertTrue(m.get("stopped").getAsString().startsWith("training diverged at epoch 1, validation"));
    }

    @Test
    void classificationTrainsWithCrossEntropy() throws IOException {
        ModelConfig c = TrainTestSupport.config(ModelConfig.Task.CLASSIFICATION);
        TrainOptions o = TrainTestSupport.options(2, LrSchedule.Kind.COSINE).withMetric("acc");
        try (Trainer t = new Trainer(Models.create(c, cpu, o.seed()), data, o, null, Progress.silent())) {
            TrainerState s = t.fit(0);
            assertTrue(s.history.get(0).trainLoss() > 0.3 && s.history.get(0).trainLoss() < 2, "cross entropy near log 2 at the start");
            assertTrue(t.test().scores().containsKey("f1"));
        }
    }

    @Test
    void unknownMetricAndMissingLabelsAreNamed() {
        TrainOptions o = TrainTestSupport.options(1, LrSchedule.Kind.COSINE).withMetric("acc9");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new Trainer(Models.create(config, cpu, 1), data, o, null, Progress.silent()));
        assertTrue(e.getMessage().contains("'acc9'") && e.getMessage().contains("mae"), e.getMessage());
    }
}
