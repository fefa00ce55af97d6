package io.cmamba.train;

import io.cmamba.nn.Parameter;
import io.cmamba.tensor.AdamParams;
import io.cmamba.tensor.Backend;
import io.cmamba.tensor.Tensor;

import java.util.List;

/**
 * Adam with L2 weight decay (the paper's optimizer: decay added to the gradient) or AdamW (decay
 * applied to the weight), over a model's parameters. Each update is one {@link Backend#adamStep}
 * per parameter, so it runs wherever the parameters live, and the moments live there too.
 * Parameters whose {@link Parameter#decay()} is false (norms, biases, A_log) get no decay.
 */
public final class Adam implements AutoCloseable {

    public enum Kind { ADAM, ADAMW }

    public record Settings(Kind kind, double beta1, double beta2, double eps, double weightDecay) {
        public Settings {
            if (kind == null) throw new IllegalArgumentException("optimizer kind is missing");
            if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1))
                throw new IllegalArgumentException("Adam betas must lie in [0, 1), got " + beta1 + " and " + beta2);
            if (!(eps > 0)) throw new IllegalArgumentException("Adam eps must be > 0, got " + eps);
            if (!(weightDecay >= 0) || Double.isInfinite(weightDecay))
                throw new IllegalArgumentException("weight decay must be a finite number >= 0, got " + weightDecay);
        }

        /** The usual betas (0.9, 0.999) and eps 1e-8. */
        public static Settings of(Kind kind, double weightDecay) {
            return new Settings(kind, 0.9, 0.999, 1e-8, weightDecay);
        }
    }

    private final List<Parameter> parameters;
    private final Settings settings;
    private final Tensor[] first, second;
    private long steps;

    public Adam(List<Parameter> parameters, Settings settings) {
        if (parameters.isEmpty()) throw new IllegalArgumentException("no parameters to optimize");
        this.parameters = List.copyOf(parameters);
        this.settings = settings;
        first = new Tensor[parameters.size()];
        second = new Tensor[parameters.size()];
        for (int i = 0; i < first.length; i++) {
            Tensor w = parameters.get(i).value();
            first[i] = w.backend().zeros(w.dtype(), w.shape().dims());
            second[i] = w.backend().zeros(w.dtype(), w.shape().dims());
        }
    }

    public Settings settings() {
        return settings;
    }

    public List<Parameter> parameters() {
        return parameters;
    }

    /** Updates taken so far (Adam's bias correction uses it). */
    public long steps() {
        return steps;
    }

    /** Sets the step count, for a state loaded from a checkpoint together with the moments. */
    public void restoreSteps(long steps) {
        if (steps < 0) throw new IllegalArgumentException("optimizer step count must be >= 0, got " + steps);
        this.steps = steps;
    }

    /** m of parameter i (same shape and backend as the parameter). */
    public Tensor firstMoment(int i) {
        return first[i];
    }

    /** v of parameter i. */
    public Tensor secondMoment(int i) {
        return second[i];
    }

    /**
     * One update of every parameter from its gradient times {@code gradScale} (the clipping factor)
     * at learning rate {@code lr}.
     */
    public void step(double lr, double gradScale) {
        if (!(gradScale >= 0) || Double.isInfinite(gradScale))
            throw new IllegalArgumentException("gradient scale must be finite and >= 0, got " + gradScale);
        steps++;
        boolean decoupled = settings.kind() == Kind.ADAMW;
        for (int i = 0; i < first.length; i++) {
            Parameter p = parameters.get(i);
            AdamParams ap = new AdamParams(lr, settings.beta1(), settings.beta2(), settings.eps(),
                    p.decay() ? settings.weightDecay() : 0, decoupled, steps, gradScale);
            p.value().backend().adamStep(p.value(), p.grad(), first[i], second[i], ap);
        }
    }

    @Override
    public void close() {
        for (Tensor t : first) t.close();
        for (Tensor t : second) t.close();
    }
}
