package io.cmamba.train;

import io.cmamba.nn.Parameter;
import io.cmamba.tensor.Backend;
import io.cmamba.tensor.Tensor;

import java.util.List;

/**
 * The one host read of a training step: the loss and every parameter's squared gradient norm are
 * written by the backend into one small tensor [P + 1] and copied back together, so a GPU step
 * waits for the device once.
 */
final class StepReadout implements AutoCloseable {

    /** The loss, the global gradient norm (sqrt of the sum over parameters) and which parameter is non-finite. */
    record Reading(double loss, double gradNorm, String firstNonFinite) {
        boolean finite() {
            return Double.isFinite(loss) && Double.isFinite(gradNorm);
        }
    }

    private final List<Parameter> parameters;
    private final Backend backend;
    private final Tensor scratch;

    StepReadout(List<Parameter> parameters) {
        this.parameters = parameters;
        Tensor w = parameters.get(0).value();
        this.backend = w.backend();
        this.scratch = backend.empty(w.dtype(), parameters.size() + 1);
    }

    Reading read(Tensor loss) {
        int n = parameters.size();
        for (int i = 0; i < n; i++) backend.sumSquares(scratch.narrow(i, 1), parameters.get(i).grad());
        backend.copy(scratch.narrow(n, 1), loss);
        double[] host = backend.toDoubles(scratch);
        double sum = 0;
        String bad = null;
        for (int i = 0; i < n; i++) {
            if (!Double.isFinite(host[i]) && bad == null) bad = parameters.get(i).name();
            sum += host[i];
        }
        return new Reading(host[n], Math.sqrt(sum), bad);
    }

    /** The factor that brings the norm down to maxNorm (1 when it is below, or when clipping is off: maxNorm <= 0). */
    static double clipScale(double gradNorm, double maxNorm) {
        if (maxNorm <= 0 || gradNorm <= maxNorm) return 1.0;
        return maxNorm / gradNorm;
    }

    @Override
    public void close() {
        scratch.close();
    }
}
