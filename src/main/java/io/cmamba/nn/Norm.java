package io.cmamba.nn;

import io.cmamba.tensor.Backend;
import io.cmamba.tensor.Tensor;

/** LayerNorm (gamma, beta) or RMSNorm (gamma) over the last dimension, eps 1e-5. */
public final class Norm {
    static final double EPS = 1e-5;
    public final Parameter gamma, beta; // beta null for RMSNorm
    private final int width;

    public Norm(Init init, String name, int width, boolean rms) {
        this.width = width;
        this.gamma = init.constant(name + ".weight", 1, false, width);
        this.beta = !rms ? init.constant(name + ".bias", 0, false, width) : null;
    }

    /** What the backward needs: the output and the row statistics (mean null for RMSNorm). */
    public record Saved(Tensor out, Tensor mean, Tensor rstd) implements AutoCloseable {
        @Override
        public void close() {
            out.close();
            if (mean != null) mean.close();
            rstd.close();
        }
    }

    /** x [..., width]. */
    public Saved forward(Tensor x) {
        Backend be = x.backend();
        int rows = (int) x.shape().rows();
        Tensor out = be.empty(x.dtype(), x.shape().dims());
        Tensor rstd = be.empty(x.dtype(), rows);
        if (beta != null) {
            Tensor mean = be.empty(x.dtype(), rows);
            be.layerNormForward(out, mean, rstd, x, gamma.value(), beta.value(), EPS);
            return new Saved(out, mean, rstd);
        }
        be.rmsNormForward(out, rstd, x, gamma.value(), EPS);
        return new Saved(out, null, rstd);
    }

    /** Writes the parameter gradients; returns dx (new). */
    public Tensor backward(Tensor x, Saved s, Tensor dout) {
        Backend be = x.backend();
        Tensor dx = be.empty(x.dtype(), x.shape().dims());
        if (beta != null) be.layerNormBackward(dx, gamma.grad(), beta.grad(), dout, x, s.mean(), s.rstd(), gamma.value());
        else be.rmsNormBackward(dx, gamma.grad(), dout, x, s.rstd(), gamma.value());
        return dx;
    }

    public int width() {
        return width;
    }
}
