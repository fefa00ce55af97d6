package io.cmamba.model;

import io.cmamba.tensor.Tensor;

/**
 * One batch as the model sees it: per modality m, features [B, L_m, F_m] (padded past each sample's
 * true length) and lengths [B] int32, all on the model's backend.
 */
public record ModelInput(Tensor[] features, Tensor[] lengths) {
    public int batch() {
        return features[0].dim(0);
    }
}
