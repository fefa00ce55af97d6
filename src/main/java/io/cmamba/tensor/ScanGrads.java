package io.cmamba.tensor;

/**
 * Gradients written by the coupled scan's backward (shapes as in {@link ScanInputs}); each is
 * overwritten. {@code dInitialState} may be null when no initial state was given or it is not needed.
 * {@code dDeltaPre} is the gradient before softplus.
 */
public record ScanGrads(Tensor du, Tensor dDeltaPre, Tensor dz, Tensor dA, Tensor dB, Tensor dC, Tensor dDskip,
                        Tensor dInitialState) {
}
