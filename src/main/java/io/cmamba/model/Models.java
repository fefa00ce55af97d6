package io.cmamba.model;

import io.cmamba.nn.Parameter;
import io.cmamba.tensor.AttentionKind;
import io.cmamba.tensor.Backend;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;

import java.util.List;

/** Builds the model a config names, and checks a batch against it. */
public final class Models {
    private Models() {
    }

    /** A float32 model on the backend, initialised from the seed (cross-attention: FLASH attention). */
    public static FusionModel create(ModelConfig config, Backend backend, long seed) {
        return create(config, backend, seed, DType.F32);
    }

    /** A model whose parameters have the given dtype (F64 serves the gradient checks on the CPU). */
    public static FusionModel create(ModelConfig config, Backend backend, long seed, DType dtype) {
        return create(config, backend, seed, dtype, AttentionKind.FLASH);
    }

    /** As {@link #create(ModelConfig, Backend, long, DType)}; {@code attention} applies to the cross-attention model only. */
    public static FusionModel create(ModelConfig config, Backend backend, long seed, DType dtype, AttentionKind attention) {
        if (dtype == DType.I32) throw new IllegalArgumentException("model parameters must be F32 or F64, got " + dtype);
        if (!backend.supports(dtype)) throw new IllegalArgumentException(backend.name() + " does not store " + dtype);
        return switch (config.architecture()) {
            case COUPLED_MAMBA -> new CoupledMambaModel(config, backend, seed, dtype);
            case CROSS_ATTENTION -> new CrossAttentionModel(config, backend, seed, dtype, attention);
        };
    }

    /**
     * Features [B, L_m, F_m] of the model's dtype and lengths [B] int32 per modality, as the config
     * says, all on the model's backend. Length values are checked by the pooling op.
     */
    static void checkInput(ModelConfig c, Backend backend, DType dtype, ModelInput in) {
        int mCount = c.modalities();
        if (in == null || in.features() == null || in.lengths() == null)
            throw new IllegalArgumentException("model input is missing its features or lengths");
        if (in.features().length != mCount || in.lengths().length != mCount)
            throw new IllegalArgumentException("expected " + mCount + " modalities, got " + in.features().length
                    + " feature tensors and " + in.lengths().length + " length tensors");
        if (in.features()[0] == null || in.features()[0].rank() != 3)
            throw new IllegalArgumentException("modality 0: expected features [B, " + c.inputLengths()[0] + ", " + c.featureSizes()[0]
                    + "], got " + (in.features()[0] == null ? "none" : in.features()[0].shape()));
        int nb = in.features()[0].dim(0);
        for (int m = 0; m < mCount; m++) {
            Tensor f = in.features()[m], l = in.lengths()[m];
            if (f == null || f.rank() != 3 || f.dim(0) != nb || f.dim(1) != c.inputLengths()[m] || f.dim(2) != c.featureSizes()[m])
                throw new IllegalArgumentException("modality " + m + ": expected features [" + nb + ", " + c.inputLengths()[m]
                        + ", " + c.featureSizes()[m] + "], got " + (f == null ? "none" : f.shape()));
            if (f.dtype() != dtype)
                throw new IllegalArgumentException("modality " + m + ": features are " + f.dtype() + " but the model is " + dtype);
            if (l == null || l.rank() != 1 || l.dim(0) != nb)
                throw new IllegalArgumentException("modality " + m + ": expected lengths [" + nb + "], got " + (l == null ? "none" : l.shape()));
            if (l.dtype() != DType.I32)
                throw new IllegalArgumentException("modality " + m + ": lengths must be I32, got " + l.dtype());
            if (f.backend() != backend || l.backend() != backend)
                throw new IllegalArgumentException("modality " + m + ": input is on " + f.backend().name() + "/" + l.backend().name()
                        + " but the model is on " + backend.name());
        }
    }

    static void checkOutputGradient(ModelConfig c, Tensor output, Tensor dOutput) {
        if (dOutput == null || !dOutput.shape().equals(output.shape()))
            throw new IllegalArgumentException("expected dOutput " + output.shape() + " (batch x " + c.outputs() + " outputs), got "
                    + (dOutput == null ? "none" : dOutput.shape()));
    }

    /** A new tensor on {@code be} with {@code t}'s shape, type and values. */
    static Tensor copyOf(Backend be, Tensor t) {
        Tensor out = be.empty(t.dtype(), t.shape().dims());
        try {
            be.copy(out, t);
            return out;
        } catch (RuntimeException e) {
            out.close();
            throw e;
        }
    }

    static void closeAll(List<Tensor> ts) {
        for (Tensor t : ts) t.close();
    }

    /**
     * Parameter groups in backward order from the construction boundaries: {@code ends[0]} closes the
     * input stages, {@code ends[i + 1]} layer i, the last entry the head.
     */
    static List<List<Parameter>> backwardGroups(List<Parameter> parameters, int[] ends) {
        List<List<Parameter>> g = new java.util.ArrayList<>();
        for (int k = ends.length - 1; k >= 0; k--)
            g.add(List.copyOf(parameters.subList(k == 0 ? 0 : ends[k - 1], ends[k])));
        return List.copyOf(g);
    }
}
