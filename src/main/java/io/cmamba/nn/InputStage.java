package io.cmamba.nn;

import io.cmamba.tensor.Backend;
import io.cmamba.tensor.Tensor;

/**
 * MODEL.md step 1 for one modality: features [B, L_m, F_m] -> Linear to d_model -> adaptive average
 * pooling over each sample's true length to the common length L: [B, L, d_model].
 */
public final class InputStage {
    private final Linear proj;
    private final int length;

    public InputStage(Init init, String name, int features, int dModel, int length) {
        this.proj = new Linear(init, name, features, dModel, true);
        this.length = length;
    }

    public record Saved(Tensor features, Tensor lengths, Tensor projected, Tensor pooled) implements AutoCloseable {
        @Override
        public void close() {
            projected.close();
            pooled.close();
        }
    }

    public Saved forward(Tensor features, Tensor lengths) {
        Backend be = features.backend();
        Tensor projected = proj.forward(features, null);
        Tensor pooled = be.empty(features.dtype(), features.dim(0), length, proj.out);
        be.lengthPoolForward(pooled, projected, lengths);
        return new Saved(features, lengths, projected, pooled);
    }

    /** Writes the projection's gradients from dL/dpooled. */
    public void backward(Saved s, Tensor dPooled) {
        Backend be = dPooled.backend();
        try (Tensor dProjected = be.empty(dPooled.dtype(), s.projected().shape().dims())) {
            be.lengthPoolBackward(dProjected, dPooled, s.lengths());
            proj.backward(s.features(), dProjected, false);
        }
    }
}
