package io.cmamba.nn;

import io.cmamba.tensor.Backend;
import io.cmamba.tensor.Tensor;

/**
 * y = x W^T + b. x [..., in] with every leading dimension folded into rows, W [out, in], b [out]
 * (optional). Backward: dx = dy W, dW = dy^T x, db = column sums of dy.
 *
 * <p>What the backward needs is the forward's input x and nothing else, so the caller hands x back
 * instead of a saved object; nothing is kept inside the layer.
 *
 * <p>Parameters: {@code {name}.weight} [out, in] (weight decay), {@code {name}.bias} [out] (no decay),
 * both uniform in +-1/sqrt(in) as PyTorch's default.
 */
public final class Linear {
    public final Parameter weight;
    public final Parameter bias; // null without bias
    public final int in, out;

    public Linear(Init init, String name, int in, int out, boolean bias) {
        if (in < 1 || out < 1) throw new IllegalArgumentException("Linear " + name + ": sizes must be >= 1, got in " + in + ", out " + out);
        this.in = in;
        this.out = out;
        double bound = 1 / Math.sqrt(in);
        this.weight = init.uniform(name + ".weight", bound, true, out, in);
        this.bias = bias ? init.uniform(name + ".bias", bound, false, out) : null;
    }

    /**
     * y = x W^T + b.
     *
     * @param x [..., in]
     * @param y [..., out] to overwrite, or null for a new tensor (the caller closes it)
     * @return y
     */
    public Tensor forward(Tensor x, Tensor y) {
        if (x.rank() < 1 || x.shape().cols() != in)
            throw new IllegalArgumentException("Linear " + weight.name() + ": expected input [..., " + in + "], got " + x.shape());
        Backend be = x.backend();
        boolean created = y == null;
        if (created) y = be.empty(x.dtype(), Shapes.withLast(x, out));
        try {
            be.gemm(false, true, 1, x, weight.value(), 0, y);
            if (bias != null) be.addBias(y, bias.value());
        } catch (RuntimeException e) {
            if (created) y.close();
            throw e;
        }
        return y;
    }

    /**
     * y = x W_rows^T for the weight's rows [row0, row0 + y's last dimension): one block of the output,
     * computed alone where a caller uses the blocks as separate tensors (no full output and no split
     * copies). Only for a layer without bias.
     *
     * @param x [..., in]
     * @param y [..., rows] to overwrite
     */
    public void forwardRows(int row0, Tensor x, Tensor y) {
        x.backend().gemm(false, true, 1, x, rowBlock(row0, y), 0, y);
    }

    /**
     * Backward of {@link #forwardRows}: overwrites those rows of dW from x [..., in] and dy [..., rows],
     * and adds dy W_rows to dx [..., in] ({@code accumulate}) or overwrites dx with it.
     */
    public void backwardRows(int row0, Tensor x, Tensor dy, Tensor dx, boolean accumulate) {
        Backend be = x.backend();
        Tensor w = rowBlock(row0, dy);
        be.gemm(true, false, 1, dy, x, 0, weight.grad().narrow(row0, w.dim(0)));
        be.gemm(false, false, 1, dy, w, accumulate ? 1 : 0, dx);
    }

    private Tensor rowBlock(int row0, Tensor blockOut) {
        if (bias != null) throw new IllegalStateException("Linear " + weight.name() + ": row blocks are for a layer without bias");
        return weight.value().narrow(row0, blockOut.shape().cols());
    }

    /**
     * Overwrites dW (and db) from the forward's input x [..., in] and dy [..., out].
     *
     * @return dx [..., in] (new; the caller closes it), or null when {@code needInput} is false
     */
    public Tensor backward(Tensor x, Tensor dy, boolean needInput) {
        Backend be = x.backend();
        be.gemm(true, false, 1, dy, x, 0, weight.grad());
        if (bias != null) be.sumRows(bias.grad(), dy);
        if (!needInput) return null;
        Tensor dx = be.empty(x.dtype(), x.shape().dims());
        try {
            be.gemm(false, false, 1, dy, weight.value(), 0, dx);
        } catch (RuntimeException e) {
            dx.close();
            throw e;
        }
        return dx;
    }
}
