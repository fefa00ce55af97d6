package io.cmamba.nn;

import io.cmamba.tensor.Backend;
import io.cmamba.tensor.Tensor;

/**
 * Depthwise causal conv1d over time (MODEL.md step 2): x, y [B, L, D], w [D, K], bias [D];
 * y[b, t, d] = bias[d] + sum_{j<K} w[d, j] x[b, t - K + 1 + j, d] with zero left padding, so y_t sees
 * x_{t-K+1..t} only.
 *
 * <p>The backward needs only the forward's input x, which the caller hands back.
 *
 * <p>Parameters: {@code {name}.weight} [D, K] (weight decay), {@code {name}.bias} [D] (no decay), both
 * uniform in +-1/sqrt(K): a depthwise kernel's fan-in is its width, as in PyTorch's Conv1d.
 */
public final class CausalConv1d {
    public final Parameter weight, bias;
    private final int channels, width;

    public CausalConv1d(Init init, String name, int channels, int width) {
        if (channels < 1 || width < 1)
            throw new IllegalArgumentException("CausalConv1d " + name + ": channels " + channels + " and width " + width + " must be >= 1");
        this.channels = channels;
        this.width = width;
        double bound = 1 / Math.sqrt(width);
        this.weight = init.uniform(name + ".weight", bound, true, channels, width);
        this.bias = init.uniform(name + ".bias", bound, false, channels);
    }

    /** x [B, L, D] -> y [B, L, D] (new; the caller closes it). */
    public Tensor forward(Tensor x) {
        if (x.rank() != 3 || x.dim(2) != channels)
            throw new IllegalArgumentException("CausalConv1d " + weight.name() + ": expected x [B, L, " + channels + "], got " + x.shape());
        Backend be = x.backend();
        Tensor y = be.empty(x.dtype(), x.shape().dims());
        try {
            be.causalConv1dForward(y, x, weight.value(), bias.value());
        } catch (RuntimeException e) {
            y.close();
            throw e;
        }
        return y;
    }

    /** Overwrites dw and dbias from the forward's input x [B, L, D] and dy [B, L, D]; returns dx (new). */
    public Tensor backward(Tensor x, Tensor dy) {
        Backend be = x.backend();
        Tensor dx = be.empty(x.dtype(), x.shape().dims());
        try {
            be.causalConv1dBackward(dx, weight.grad(), bias.grad(), dy, x, weight.value());
        } catch (RuntimeException e) {
            dx.close();
            throw e;
        }
        return dx;
    }

    public int width() {
        return width;
    }
}
