package io.cmamba.nn;

/**
 * Sizes and switches of a coupled Mamba layer (MODEL.md, "One coupled layer").
 *
 * @param dModel    model width (the residual stream)
 * @param inner     D, the inner width (expand * dModel)
 * @param dState    N, the state size
 * @param dtRank    R, the rank of the step projection (selective mode)
 * @param convWidth width of the depthwise causal conv (4 in the paper)
 * @param rms       RMSNorm instead of LayerNorm for the pre-norm
 * @param coupled   false for the uncoupled ablation: each modality its own M = 1 scan
 * @param lti       time-invariant mode: delta, B, C are per-modality parameters and the layer is the
 *                  global convolution
 */
public record MambaSettings(int dModel, int inner, int dState, int dtRank, int convWidth, boolean rms,
                            boolean coupled, boolean lti) {
    public MambaSettings {
        if (dModel < 1 || inner < 1 || dState < 1 || dtRank < 1 || convWidth < 1)
            throw new IllegalArgumentException("Mamba sizes must be >= 1, got dModel " + dModel + ", inner " + inner
                    + ", dState " + dState + ", dtRank " + dtRank + ", convWidth " + convWidth);
    }
}
