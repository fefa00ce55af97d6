package io.cmamba.tensor;

/**
 * One Adam/AdamW update. With {@code decoupled} false this is Adam with L2 weight decay (the paper's
 * setting: decay added to the gradient); with true, AdamW (decay applied to the weight directly).
 * {@code gradScale} multiplies the gradient first (gradient clipping); {@code step} counts from 1.
 */
public record AdamParams(double lr, double beta1, double beta2, double eps, double weightDecay,
                         boolean decoupled, long step, double gradScale) {
    public AdamParams {
        if (step < 1) throw new IllegalArgumentException("Adam step counts from 1, got " + step);
        if (!(lr >= 0) || !(eps > 0) || !(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1))
            throw new IllegalArgumentException("bad Adam settings: lr " + lr + ", eps " + eps
                    + ", betas " + beta1 + "/" + beta2);
    }
}
