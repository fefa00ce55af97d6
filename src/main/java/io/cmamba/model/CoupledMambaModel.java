package io.cmamba.model;

import io.cmamba.nn.CoupledMambaLayer;
import io.cmamba.nn.FusionHead;
import io.cmamba.nn.Init;
import io.cmamba.nn.InputStage;
import io.cmamba.nn.MambaSettings;
import io.cmamba.nn.Parameter;
import io.cmamba.tensor.Backend;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * Coupled Mamba (MODEL.md, "The whole model") and its fusion ablations (the paper's Table 11):
 * <ul>
 *   <li>COUPLED: coupled layers, softmax-weighted fusion of the pooled modality vectors (the model);</li>
 *   <li>INDEPENDENT: uncoupled chains (each modality its own M = 1 scan), fused the same way;</li>
 *   <li>AVERAGE: uncoupled chains, plain mean of the pooled vectors;</li>
 *   <li>CONCAT: uncoupled chains, pooled vectors concatenated into a head of input M * dModel.</li>
 * </ul>
 * Either mode (SELECTIVE scan or time-invariant global convolution) applies to every fusion. A
 * unimodal model is the same config with one modality.
 *
 * <p>Shapes: features [B, L_m, F_m] per modality -> {@code input.{m}} (Linear to dModel, length-aware
 * pooling to L) -> {@code layers.{i}} ([B, L, dModel] per modality) -> {@code head} -> [B, outputs].
 * Parameter names (checkpoint keys) are {@code input.{m}.proj.*}, {@code layers.{i}.mod.{m}.*} (see
 * {@link CoupledMambaLayer}) and {@code head.*} (see {@link FusionHead}), in that order.
 */
public final class CoupledMambaModel extends PassModel {
    private final ModelConfig config;
    private final Backend backend;
    private final DType dtype;
    private final List<Parameter> parameters = new ArrayList<>();
    /** Parameters by stage in the order the backward finishes them: head, layers last to first, inputs. */
    private final List<List<Parameter>> groups;
    private final InputStage[] inputs;
    private final CoupledMambaLayer[] layers;
    private final FusionHead head;

    /** Parameters of the given dtype on the backend, drawn deterministically from the seed. */
    public CoupledMambaModel(ModelConfig c, Backend backend, long seed, DType dtype) {
        if (c.architecture() != ModelConfig.Architecture.COUPLED_MAMBA)
            throw new IllegalArgumentException("CoupledMambaModel needs architecture COUPLED_MAMBA, got " + c.architecture());
        if (dtype == DType.I32) throw new IllegalArgumentException("model parameters must be F32 or F64, got " + dtype);
        this.config = c;
        this.backend = backend;
        this.dtype = dtype;
        Init init = new Init(backend, dtype, seed, parameters);
        try {
            int mCount = c.modalities();
            boolean rms = c.norm() == ModelConfig.Norm.RMS;
            inputs = new InputStage[mCount];
            for (int m = 0; m < mCount; m++)
                inputs[m] = new InputStage(init, "input." + m, c.featureSizes()[m], c.dModel(), c.length());
            int[] ends = new int[c.layers() + 2];
            ends[0] = parameters.size();
            MambaSettings s = new MambaSettings(c.dModel(), c.inner(), c.dState(), c.dtRank(), c.convWidth(), rms,
                    c.fusion() == ModelConfig.Fusion.COUPLED, c.mode() == ModelConfig.Mode.LTI);
            layers = new CoupledMambaLayer[c.layers()];
            for (int i = 0; i < layers.length; i++) {
                layers[i] = new CoupledMambaLayer(init, "layers." + i, mCount, s);
                ends[i + 1] = parameters.size();
            }
            FusionHead.Kind kind = switch (c.fusion()) {
                case COUPLED, INDEPENDENT -> FusionHead.Kind.SOFTMAX;
                case AVERAGE -> FusionHead.Kind.AVERAGE;
                case CONCAT -> FusionHead.Kind.CONCAT;
            };
            head = new FusionHead(init, "head", mCount, c.dModel(), c.headHidden(), c.outputs(), rms, kind);
            ends[c.layers() + 1] = parameters.size();
            groups = Models.backwardGroups(parameters, ends);
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    @Override
    public ModelConfig config() {
        return config;
    }

    @Override
    public Backend backend() {
        return backend;
    }

    /** F32 or F64: the element type of every parameter, and the one the features must have. */
    public DType dtype() {
        return dtype;
    }

    @Override
    public List<Parameter> parameters() {
        return Collections.unmodifiableList(parameters);
    }

    @Override
    public List<List<Parameter>> gradientGroups() {
        return groups;
    }

    /** One pass's saved activations: every stage's, freed together by close. */
    private final class Pass extends ModelPass {
        final CoupledMambaLayer.Forward[] layer = new CoupledMambaLayer.Forward[layers.length];
        /** Inference: each layer's outputs, nothing else (see {@link CoupledMambaLayer#infer}). */
        final List<List<Tensor>> streamed = new ArrayList<>(Collections.nCopies(layers.length, null));

        Pass() {
            super(inputs.length);
        }

        @Override
        void closeLayer(int i) {
            if (layer[i] != null) layer[i].close();
            layer[i] = null;
            if (streamed.get(i) != null) Models.closeAll(streamed.get(i));
            streamed.set(i, null);
        }

        @Override
        void closeMiddle() {
            for (int i = layer.length - 1; i >= 0; i--) closeLayer(i);
        }
    }

    /**
     * The forward pass. For {@code inference} each layer keeps only its outputs ({@link CoupledMambaLayer#infer}:
     * a selective layer streams the sequence in tiles when its intermediates would exceed its budget), and
     * the previous layer (or the input stages) is freed once it has run.
     */
    @Override
    Pass run(ModelInput input, boolean inference) {
        Models.checkInput(config, backend, dtype, input);
        Pass p = new Pass();
        try {
            List<Tensor> r = p.runInputs(inputs, input);
            for (int i = 0; i < layers.length; i++) {
                if (inference) {
                    p.streamed.set(i, layers[i].infer(r));
                    p.freeBefore(i);
                    r = p.streamed.get(i);
                } else {
                    p.layer[i] = layers[i].forward(r);
                    r = p.layer[i].outputs();
                }
            }
            p.head = head.forward(r);
            return p;
        } catch (RuntimeException e) {
            p.close();
            throw e;
        }
    }

    @Override
    public void backward(Forward forward, Tensor dOutput, GradientReady ready) {
        if (!(forward instanceof Pass p) || p.closed)
            throw new IllegalArgumentException("backward needs an open forward pass of this model");
        Models.checkOutputGradient(config, p.output(), dOutput);
        List<Tensor> d = head.backward(p.head, dOutput);
        ready.ready(groups.get(0));
        try {
            for (int i = layers.length - 1; i >= 0; i--) {
                List<Tensor> prev = layers[i].backward(p.layer[i], d);
                Models.closeAll(d);
                d = prev;
                ready.ready(groups.get(layers.length - i));
            }
            for (int m = 0; m < inputs.length; m++) inputs[m].backward(p.in[m], d.get(m));
            ready.ready(groups.get(groups.size() - 1));
        } finally {
            Models.closeAll(d);
        }
    }

    @Override
    public void close() {
        for (Parameter q : parameters) {
            q.value().close();
            q.grad().close();
        }
    }
}
