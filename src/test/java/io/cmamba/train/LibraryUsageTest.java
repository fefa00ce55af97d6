package io.cmamba.train;

import io.cmamba.data.Batch;
import io.cmamba.data.Dataset;
import io.cmamba.data.SyntheticDataset;
import io.cmamba.model.FusionModel;
import io.cmamba.model.ModelConfig;
import io.cmamba.model.ModelInput;
import io.cmamba.model.Models;
import io.cmamba.tensor.Backend;
import io.cmamba.tensor.Backends;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** The README's library snippet, kept compiling and working: steps on one batch bring its loss down. */
class LibraryUsageTest {
    @Test
    void readmeSnippetTrainsOneBatch() {
        double first = Double.NaN, last = Double.NaN;
        // ---- README snippet begins (lines marked "snippet" below are copied there)
        Backend backend = Backends.open("cpu").backend();          // "auto": the GPU when usable, else the CPU
        Dataset data = SyntheticDataset.create(7, 64, 8, 8);
        ModelConfig config = new ModelConfig(data.train().featureSizes(), data.train().maxLengths(),
                8, 16, 2, 8, 0, 4, 1, ModelConfig.Mode.SELECTIVE, ModelConfig.Fusion.COUPLED,
                ModelConfig.Architecture.COUPLED_MAMBA, 4, ModelConfig.Norm.LAYER, ModelConfig.Task.REGRESSION, 0, 64);
        try (FusionModel model = Models.create(config, backend, 1);
             Adam adam = new Adam(model.parameters(), Adam.Settings.of(Adam.Kind.ADAM, 5e-4))) {
            Batch batch = data.train().batch(new int[]{0, 1, 2, 3, 4, 5, 6, 7});
            ModelInput input = Batches.upload(backend, DType.F32, batch);
            for (int step = 0; step < 20; step++) {
                try (FusionModel.Forward f = model.forward(input);
                     Tensor target = backend.fromFloats(batch.regression(), 8);
                     Tensor loss = backend.empty(DType.F32, 1);
                     Tensor dOutput = backend.empty(DType.F32, 8, 1)) {
                    Tensor prediction = f.output().reshape(8);          // output [B, 1] read as [B]
                    backend.l1LossForward(loss, prediction, target);
                    backend.l1LossBackward(dOutput.reshape(8), prediction, target);
                    model.backward(f, dOutput);                         // writes every parameter's gradient
                    adam.step(1e-2, 1.0);                               // learning rate, gradient scale
                    double value = loss.toDoubles()[0];
                    if (step == 0) first = value;
                    last = value;
                }
            }
            Batches.close(input);
        }
        // ---- README snippet ends
        assertTrue(last < 0.5 * first, "loss on one batch from " + first + " to " + last);
    }
}
