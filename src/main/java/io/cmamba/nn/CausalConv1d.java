package io.cmamba.nn;

import io.cmamba.tensor.Backend;
import io.cmamba.tensor.Tensor;

/** Depthwise causal conv1d over time: x [B, L, D], w [D, K], bias [D] (zero left padding). */
public final class CausalConv1d {
    public final Parameter weight, bias;

    public CausalConv1d(Init init, String name, int channels, int width) {
        double bound = 1 / Math.sqrt(width); // fan-in of a depthwise kernel is its width
        this.weight = init.uniform(name + ".weight", bound, true, channels, width);
        this.bias = init.uniform(name + ".bias", bound, false, channels);
    }

    public Tensor forward(Tensor x) {
        Backend be = x.backend();
        Tensor y = be.empty(x.dtype(), x.shape().dims());
        be.causalConv1dForward(y, x, weight.value(), bias.value());
        return y;
    }

    public Tensor backward(Tensor x, Tensor dy) {
        Backend be = x.backend();
        Tensor dx = be.empty(x.dtype(), x.shape().dims());
        be.causalConv1dBackward(dx, weight.grad(), bias.grad(), dy, x, weight.value());
        return dx;
    }
}
