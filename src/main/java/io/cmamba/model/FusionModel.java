package io.cmamba.model;

import io.cmamba.nn.Parameter;
import io.cmamba.tensor.Backend;
import io.cmamba.tensor.Tensor;

import java.util.List;

/**
 * A multimodal model with hand-written forward and backward: Coupled Mamba (and its fusion
 * ablations) or the cross-attention baseline. Usage per step: {@code f = forward(x)}, loss on
 * {@code f.output()}, {@code backward(f, dOutput)}, optimizer on {@link #parameters()}, {@code f.close()}.
 */
public interface FusionModel extends AutoCloseable {

    ModelConfig config();

    Backend backend();

    /** All trainable parameters in a fixed order with stable names. */
    List<Parameter> parameters();

    /** Output [B, outputs]; the returned object also holds the activations the backward needs. */
    Forward forward(ModelInput input);

    /**
     * Inference: the output [B, outputs] alone, a new tensor the caller closes. The models free each
     * layer's activations as soon as the next layer has run (no backward is possible), so the peak is
     * about one layer's working set instead of every layer's saved activations. Equal to
     * {@code forward(input).output()}.
     */
    default Tensor predict(ModelInput input) {
        try (Forward f = forward(input)) {
            return Models.copyOf(backend(), f.output());
        }
    }

    /** Writes (overwrites) the gradient of every parameter from dOutput [B, outputs]. */
    default void backward(Forward forward, Tensor dOutput) {
        backward(forward, dOutput, GradientReady.NONE);
    }

    /**
     * As {@link #backward(Forward, Tensor)}, telling {@code ready} about each group of
     * {@link #gradientGroups()} as soon as the backward has written its gradients for good (work queued
     * after that call never touches them), so that data-parallel training can start exchanging them
     * while the backward goes on.
     */
    void backward(Forward forward, Tensor dOutput, GradientReady ready);

    /**
     * The parameters in groups, in the order the backward finishes them (head, last layer, ..., input
     * stages); together every parameter exactly once.
     */
    List<List<Parameter>> gradientGroups();

    /** Hears, during a backward, which parameters' gradients are final. */
    interface GradientReady {
        GradientReady NONE = parameters -> { };

        void ready(List<Parameter> parameters);
    }

    @Override
    void close();

    /** A forward pass's output and saved activations; close frees them. */
    interface Forward extends AutoCloseable {
        Tensor output();

        @Override
        void close();
    }
}
