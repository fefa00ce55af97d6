package io.cmamba.nn;

import io.cmamba.tensor.Backend;
import io.cmamba.tensor.Tensor;

/**
 * MODEL.md step 1 for one modality: features [B, L_m, F_m] -> Linear(F_m, dModel) -> adaptive average
 * pooling over each sample's true length to the common length L: [B, L, dModel]. Padding past a
 * sample's length never enters a window. Parameters: {@code {name}.proj.weight} [dModel, F_m],
 * {@code {name}.proj.bias} [dModel].
 */
public final class InputStage {
    private final Linear proj;
    private final int length;

    public InputStage(Init init, String name, int features, int dModel, int length) {
        if (length < 1) throw new IllegalArgumentException("InputStage " + name + ": length must be >= 1, got " + length);
        this.proj = new Linear(init, name + ".proj", features, dModel, true);
        this.length = length;
    }

    /**
     * What the backward needs. features and lengths belong to the caller; projected [B, L_m, dModel]
     * and pooled [B, L, dModel] (the stage's output) are owned and freed by close.
     */
    public record Saved(Tensor features, Tensor lengths, Tensor projected, Tensor pooled) implements AutoCloseable {
        @Override
        public void close() {
            projected.close();
            pooled.close();
        }
    }

    /** features [B, L_m, F_m], lengths [B] int32 in [0, L_m]; the output is {@code saved.pooled()} [B, L, dModel]. */
    public Saved forward(Tensor features, Tensor lengths) {
        if (features.rank() != 3)
            throw new IllegalArgumentException("InputStage " + proj.weight.name() + ": expected features [B, L, " + proj.in + "], got " + features.shape());
        Backend be = features.backend();
        try (Work w = new Work()) {
            Tensor projected = w.keep(proj.forward(features, null));
            Tensor pooled = w.keep(be.empty(features.dtype(), features.dim(0), length, proj.out));
            be.lengthPoolForward(pooled, projected, lengths);
            w.release();
            return new Saved(features, lengths, projected, pooled);
        }
    }

    /** Overwrites the projection's gradients from dL/dpooled [B, L, dModel]; the features get no gradient. */
    public void backward(Saved s, Tensor dPooled) {
        Backend be = dPooled.backend();
        try (Tensor dProjected = be.empty(dPooled.dtype(), s.projected().shape().dims())) {
            be.lengthPoolBackward(dProjected, dPooled, s.lengths());
            proj.backward(s.features(), dProjected, false);
        }
    }
}
