package io.cmamba.model;

import io.cmamba.tensor.Tensor;

/**
 * What both fusion models share: {@link #forward} is their one pass keeping every activation for the
 * backward, and {@link #predict} is the same pass freeing each layer's activations as the next layer
 * runs (no backward can follow), returning a copy of the output.
 */
abstract class PassModel implements FusionModel {
    /** The pass over {@code input}; for {@code inference}, freeing each layer's activations as the next one runs. */
    abstract ModelPass run(ModelInput input, boolean inference);

    @Override
    public final Forward forward(ModelInput input) {
        return run(input, false);
    }

    @Override
    public final Tensor predict(ModelInput input) {
        try (ModelPass p = run(input, true)) {
            return Models.copyOf(backend(), p.output());
        }
    }
}
