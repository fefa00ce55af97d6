package io.cmamba.cuda;

import io.cmamba.data.Batch;
import io.cmamba.data.Dataset;
import io.cmamba.data.SyntheticDataset;
import io.cmamba.model.FusionModel;
import io.cmamba.model.ModelConfig;
import io.cmamba.model.ModelInput;
import io.cmamba.model.Models;
import io.cmamba.tensor.Backend;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;
import io.cmamba.train.Adam;
import io.cmamba.train.Batches;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import static io.cmamba.cuda.GpuSupport.CPU;
import static io.cmamba.cuda.GpuSupport.gpu;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The same seed on the CPU and on the GPU: the first training steps (forward, L1 loss, backward, Adam
 * with L2 decay, on the built-in dataset) give the same losses within float32 tolerance.
 */
@Tag("gpu")
class TrainingGpuTest {
    static double[] losses(Backend be, Dataset data, ModelConfig c, int steps) {
        FusionModel model = Models.create(c, be, 7);
        Adam adam = new Adam(model.parameters(), Adam.Settings.of(Adam.Kind.ADAM, 5e-4));
        double[] out = new double[steps];
        int batch = 32;
        for (int s = 0; s < steps; s++) {
            int[] idx = new int[batch];
            for (int i = 0; i < batch; i++) idx[i] = s * batch + i;
            Batch b = data.train().batch(idx);
            ModelInput in = Batches.upload(be, DType.F32, b);
            try (FusionModel.Forward f = model.forward(in); Tensor target = be.fromFloats(b.regression(), batch);
                 Tensor loss = be.empty(DType.F32, 1); Tensor d = be.empty(DType.F32, batch)) {
                Tensor pred = f.output().reshape(batch);
                be.l1LossForward(loss, pred, target);
                out[s] = loss.toDoubles()[0];
                be.l1LossBackward(d, pred, target);
                model.backward(f, d.reshape(batch, 1));
            }
            adam.step(2e-3, 1);
        }
        model.close();
        return out;
    }

    @Test
    void firstStepsLossesAgreeWithTheCpu() {
        CudaBackend g = gpu();
        Dataset data = SyntheticDataset.create(7, 256, 8, 8);
        ModelConfig c = new ModelConfig(data.train().featureSizes(), data.train().maxLengths(), 16, 32, 2, 16, 0, 4, 2,
                ModelConfig.Mode.SELECTIVE, ModelConfig.Fusion.COUPLED, ModelConfig.Architecture.COUPLED_MAMBA, 4,
                ModelConfig.Norm.LAYER, ModelConfig.Task.REGRESSION, 0, 64);
        double[] cpu = losses(CPU, data, c, 5), gpuLosses = losses(g, data, c, 5);
        for (int s = 0; s < cpu.length; s++)
            assertTrue(Math.abs(cpu[s] - gpuLosses[s]) <= 1e-4 * Math.max(1, Math.abs(cpu[s])),
                    "step " + s + ": CPU loss " + cpu[s] + ", GPU loss " + gpuLosses[s]);
    }
}
