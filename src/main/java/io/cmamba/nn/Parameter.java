package io.cmamba.nn;

import io.cmamba.tensor.Tensor;

/**
 * A trainable tensor and its gradient (same shape and backend). Names are dotted paths
 * ("layers.0.mod.1.in_proj.weight") and are the keys in checkpoints.
 *
 * @param decay whether weight decay applies (false for norms, biases and A_log by convention)
 */
public record Parameter(String name, Tensor value, Tensor grad, boolean decay) {
    public Parameter {
        if (!value.shape().equals(grad.shape()))
            throw new IllegalArgumentException("parameter " + name + ": gradient " + grad.shape() + " differs from value " + value.shape());
    }
}
