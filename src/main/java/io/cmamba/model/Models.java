package io.cmamba.model;

import io.cmamba.tensor.Backend;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;

/** Builds the model a config names, and checks a batch against it. */
public final class Models {
    private Models() {
    }

    /** A float32 model on the backend, initialised from the seed. */
    public static FusionModel create(ModelConfig config, Backend backend, long seed) {
        return create(config, backend, seed, DType.F32);
    }

    public static FusionModel create(ModelConfig config, Backend backend, long seed, DType dtype) {
        if (!backend.supports(dtype)) throw new IllegalArgumentException(backend.name() + " does not store " + dtype);
        return switch (config.architecture()) {
            case COUPLED_MAMBA -> new CoupledMambaModel(config, backend, seed, dtype);
            case CROSS_ATTENTION -> new CrossAttentionModel(config, backend, seed, dtype);
        };
    }

    /** Features [B, L_m, F_m] and lengths [B] per modality, as the config says. */
    static void checkInput(ModelConfig c, ModelInput in) {
        int mCount = c.modalities();
        if (in.features().length != mCount || in.lengths().length != mCount)
            throw new IllegalArgumentException("expected " + mCount + " modalities, got " + in.features().length
                    + " feature tensors and " + in.lengths().length + " length tensors");
        int nb = in.features()[0].dim(0);
        for (int m = 0; m < mCount; m++) {
            Tensor f = in.features()[m];
            if (f.rank() != 3 || f.dim(0) != nb || f.dim(1) != c.inputLengths()[m] || f.dim(2) != c.featureSizes()[m])
                throw new IllegalArgumentException("modality " + m + ": expected features [" + nb + ", " + c.inputLengths()[m]
                        + ", " + c.featureSizes()[m] + "], got " + f.shape());
            if (in.lengths()[m].rank() != 1 || in.lengths()[m].dim(0) != nb)
                throw new IllegalArgumentException("modality " + m + ": expected lengths [" + nb + "], got " + in.lengths()[m].shape());
        }
    }
}
