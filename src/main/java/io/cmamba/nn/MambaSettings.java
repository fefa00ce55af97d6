package io.cmamba.nn;

/**
 * Sizes and switches of a coupled Mamba layer (MODEL.md, "One coupled layer").
 *
 * @param coupled false for the uncoupled ablation: each modality its own M = 1 scan
 * @param lti     time-invariant mode: delta, B, C are per-modality parameters and the layer is the
 *                global convolution
 */
public record MambaSettings(int dModel, int inner, int dState, int dtRank, int convWidth, boolean rms,
                            boolean coupled, boolean lti) {
}
