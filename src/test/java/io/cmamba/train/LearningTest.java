package io.cmamba.train;

import io.cmamba.cpu.CpuBackend;
import io.cmamba.data.Batch;
import io.cmamba.data.Split;
import io.cmamba.model.FusionModel;
import io.cmamba.model.ModelConfig;
import io.cmamba.model.ModelInput;
import io.cmamba.model.Models;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The whole path (batch upload, model, L1 loss, backward, Adam) learns an easy label: the mean of one
 * feature of the last modality over its valid steps. A bug anywhere on the path (shapes, strides,
 * a gradient that never reaches the optimizer) leaves the loss at the trivial predictor's.
 */
class LearningTest {
    @Test
    void anEasyLabelIsLearned() {
        CpuBackend cpu = new CpuBackend();
        Random rnd = new Random(3);
        int n = 256, m = 3;
        int[] f = {5, 4, 3}, l = {7, 9, 6};
        float[][] feats = new float[m][];
        int[][] lens = new int[m][n];
        float[] y = new float[n];
        for (int k = 0; k < m; k++) {
            feats[k] = new float[n * l[k] * f[k]];
            for (int s = 0; s < n; s++) {
                lens[k][s] = 1 + rnd.nextInt(l[k]);
                for (int t = 0; t < lens[k][s]; t++)
                    for (int j = 0; j < f[k]; j++) feats[k][(s * l[k] + t) * f[k] + j] = (float) rnd.nextGaussian();
            }
        }
        for (int s = 0; s < n; s++) {
            double mean = 0;
            for (int t = 0; t < lens[2][s]; t++) mean += feats[2][(s * l[2] + t) * f[2]];
            y[s] = (float) (2 * mean / lens[2][s]);
        }
        Split split = new Split("train", f, l, feats, lens, y, null);
        ModelConfig c = new ModelConfig(f, l, 4, 16, 2, 4, 0, 4, 1, ModelConfig.Mode.SELECTIVE, ModelConfig.Fusion.COUPLED,
                ModelConfig.Architecture.COUPLED_MAMBA, 2, ModelConfig.Norm.LAYER, ModelConfig.Task.REGRESSION, 0, 16);
        FusionModel model = Models.create(c, cpu, 1);
        Adam adam = new Adam(model.parameters(), Adam.Settings.of(Adam.Kind.ADAM, 0));
        double first = 0, last = 0;
        int[] all = new int[n];
        for (int i = 0; i < n; i++) all[i] = i;
        for (int step = 0; step < 300; step++) {
            Batch batch = split.batch(all);
            ModelInput in = Batches.upload(cpu, DType.F32, batch);
            try (FusionModel.Forward fw = model.forward(in)) {
                Tensor pred = fw.output().reshape(n), target = cpu.fromFloats(batch.regression(), n), loss = cpu.empty(DType.F32, 1);
                cpu.l1LossForward(loss, pred, target);
                double lv = loss.toDoubles()[0];
                if (step == 0) first = lv;
                last = lv;
                Tensor d = cpu.empty(DType.F32, n);
                cpu.l1LossBackward(d, pred, target);
                model.backward(fw, d.reshape(n, 1));
            }
            adam.step(3e-3, 1);
        }
        assertTrue(last < 0.4 * first, "loss went from " + first + " to " + last + ": the path does not learn an easy label");
    }

    /** The trainer (shuffling, batching, labels, validation) on the same kind of easy label: validation MAE falls. */
    @Test
    void theTrainerLearnsAnEasyLabel(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws java.io.IOException {
        CpuBackend cpu = new CpuBackend();
        io.cmamba.data.Dataset data = TrainTestSupport.dataset(5, 512, 128, 128);
        FusionModel model = Models.create(TrainTestSupport.config(ModelConfig.Task.REGRESSION), cpu, 3);
        double trivial = 0;
        for (float v : data.valid().regression()) trivial += Math.abs(v);
        trivial /= data.valid().size();
        try (Trainer t = new Trainer(model, data, TrainTestSupport.options(25, LrSchedule.Kind.CONSTANT), dir, Progress.silent())) {
            TrainerState s = t.fit(25);
            double best = Double.MAX_VALUE;
            for (var e : s.history) best = Math.min(best, e.valid().get("mae"));
            assertTrue(best < 0.5 * trivial, "best validation MAE " + best + " against " + trivial + " for predicting 0");
        }
    }
}
