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
     * What the backward needs: features and lengths (the caller's) and pooled [B, L, dModel] (the
     * stage's output, owned and freed by close). The projection [B, L_m, dModel] is freed as soon as it
     * is pooled: its backward needs the features and the pooling's gradient, not its output.
     */
    public record Saved(Tensor features, Tensor lengths, Tensor pooled) implements AutoCloseable {
        @Override
        public void close() {
            pooled.close();
        }
    }

    /** features [B, L_m, F_m], lengths [B] int32 in [0, L_m]; the output is {@code saved.pooled()} [B, L, dModel]. */
    public Saved forward(Tensor features, Tensor lengths) {
        if (features.rank() != 3)
            throw new IllegalArgumentException("InputStage " + proj.weight.name() + ": expected features [B, L, " + proj.in + "], got " + features.shape());
        Backend be = features.backend();
        Tensor pooled = be.empty(features.dtype(), features.dim(0), length, proj.out);
        try (Tensor projected = proj.forward(features, null)) {
            be.lengthPoolForward(pooled, projected, lengths);
            return new Saved(features, lengths, pooled);
        } catch (RuntimeException e) {
            pooled.close();
            throw e;
        }
    }

    /** Overwrites the projection's gradients from dL/dpooled [B, L, dModel]; the features get no gradient. */
    public void backward(Saved s, Tensor dPooled) {
        Backend be = dPooled.backend();
        Tensor f = s.features();
        try (Tensor dProjected = be.empty(dPooled.dtype(), f.dim(0), f.dim(1), proj.out)) {
            be.lengthPoolBackward(dProjected, dPooled, s.lengths());
            proj.backward(f, dProjected, false);
        }
    }
}
