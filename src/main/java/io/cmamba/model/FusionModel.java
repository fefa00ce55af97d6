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

    /** Writes (overwrites) the gradient of every parameter from dOutput [B, outputs]. */
    void backward(Forward forward, Tensor dOutput);

    @Override
    void close();

    /** A forward pass's output and saved activations; close frees them. */
    interface Forward extends AutoCloseable {
        Tensor output();

        @Override
        void close();
    }
}
