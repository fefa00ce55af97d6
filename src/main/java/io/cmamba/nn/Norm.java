package io.cmamba.nn;

import io.cmamba.tensor.Backend;
import io.cmamba.tensor.Tensor;

/**
 * LayerNorm (gamma, beta) or RMSNorm (gamma) over the last dimension, eps 1e-5; x, out [..., width].
 * Parameters: {@code {name}.weight} [width] (ones) and, for LayerNorm, {@code {name}.bias} [width]
 * (zeros); neither decays.
 */
public final class Norm {
    static final double EPS = 1e-5;
    public final Parameter gamma, beta; // beta null for RMSNorm
    private final int width;

    public Norm(Init init, String name, int width, boolean rms) {
        if (width < 1) throw new IllegalArgumentException("Norm " + name + ": width must be >= 1, got " + width);
        this.width = width;
        this.gamma = init.constant(name + ".weight", 1, false, width);
        this.beta = !rms ? init.constant(name + ".bias", 0, false, width) : null;
    }

    /**
     * What the backward needs: the output [..., width] and the row statistics [rows] (mean null for
     * RMSNorm). The forward's input is not held: the caller hands it to the backward.
     */
    public record Saved(Tensor out, Tensor mean, Tensor rstd) implements AutoCloseable {
        @Override
        public void close() {
            out.close();
            if (mean != null) mean.close();
            rstd.close();
        }
    }

    public boolean rms() {
        return beta == null;
    }

    /** x [..., width]; the saved object owns its tensors. */
    public Saved forward(Tensor x) {
        if (x.rank() < 1 || x.shape().cols() != width)
            throw new IllegalArgumentException("Norm " + gamma.name() + ": expected input [..., " + width + "], got " + x.shape());
        Backend be = x.backend();
        int rows = Math.toIntExact(x.shape().rows());
        try (Work w = new Work()) {
            Tensor out = w.keep(be.empty(x.dtype(), x.shape().dims()));
            Tensor rstd = w.keep(be.empty(x.dtype(), rows));
            Tensor mean = null;
            if (beta != null) {
                mean = w.keep(be.empty(x.dtype(), rows));
                be.layerNormForward(out, mean, rstd, x, gamma.value(), beta.value(), EPS);
            } else {
                be.rmsNormForward(out, rstd, x, gamma.value(), EPS);
            }
            w.release();
            return new Saved(out, mean, rstd);
        }
    }

    /** Overwrites the parameter gradients from the forward's input x and dout [..., width]; returns dx (new). */
    public Tensor backward(Tensor x, Saved s, Tensor dout) {
        Backend be = x.backend();
        Tensor dx = be.empty(x.dtype(), x.shape().dims());
        try {
            if (beta != null) be.layerNormBackward(dx, gamma.grad(), beta.grad(), dout, x, s.mean(), s.rstd(), gamma.value());
            else be.rmsNormBackward(dx, gamma.grad(), dout, x, s.rstd(), gamma.value());
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
