package io.cmamba.nn;

import io.cmamba.tensor.Backend;
import io.cmamba.tensor.Tensor;

/**
 * y = x W^T + b. x [..., in] (leading dimensions folded into rows), W [out, in], b [out].
 * Backward: dx = dy W, dW = dy^T x, db = column sums of dy.
 */
public final class Linear {
    public final Parameter weight;
    public final Parameter bias; // null without bias
    public final int in, out;

    public Linear(Init init, String name, int in, int out, boolean bias) {
        this.in = in;
        this.out = out;
        double bound = 1 / Math.sqrt(in);
        this.weight = init.uniform(name + ".weight", bound, true, out, in);
        this.bias = bias ? init.uniform(name + ".bias", bound, false, out) : null;
    }

    /** y = x W^T + b into {@code y} [..., out], or a new tensor when y is null. */
    public Tensor forward(Tensor x, Tensor y) {
        Backend be = x.backend();
        if (x.shape().cols() != in) throw new IllegalArgumentException("Linear " + weight.name() + ": expected input width " + in + ", got " + x.shape());
        if (y == null) y = be.empty(x.dtype(), Shapes.withLast(x, out));
        be.gemm(false, true, 1, x, weight.value(), 0, y);
        if (bias != null) be.addBias(y, bias.value());
        return y;
    }

    /** Writes dW (and db) from input x and dy; returns dx (new), or null when {@code needInput} is false. */
    public Tensor backward(Tensor x, Tensor dy, boolean needInput) {
        Backend be = x.backend();
        be.gemm(true, false, 1, dy, x, 0, weight.grad());
        if (bias != null) be.sumRows(bias.grad(), dy);
        if (!needInput) return null;
        Tensor dx = be.empty(x.dtype(), x.shape().dims());
        be.gemm(false, false, 1, dy, weight.value(), 0, dx);
        return dx;
    }
}
