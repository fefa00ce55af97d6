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
import java.util.List;

/**
 * Coupled Mamba (MODEL.md, "The whole model") and its fusion ablations (the paper's Table 11):
 * COUPLED, INDEPENDENT (uncoupled chains, pooled and fused the same way), AVERAGE and CONCAT (late
 * fusion of uncoupled chains by a plain mean or a concatenation of the pooled vectors).
 */
public final class CoupledMambaModel implements FusionModel {
    private final ModelConfig config;
    private final Backend backend;
    private final List<Parameter> parameters = new ArrayList<>();
    private final InputStage[] inputs;
    private final CoupledMambaLayer[] layers;
    private final FusionHead head;

    public CoupledMambaModel(ModelConfig c, Backend backend, long seed, DType dtype) {
        if (c.architecture() != ModelConfig.Architecture.COUPLED_MAMBA)
            throw new IllegalArgumentException("CoupledMambaModel needs architecture COUPLED_MAMBA, got " + c.architecture());
        this.config = c;
        this.backend = backend;
        Init init = new Init(backend, dtype, seed, parameters);
        int mCount = c.modalities();
        inputs = new InputStage[mCount];
        for (int m = 0; m < mCount; m++)
            inputs[m] = new InputStage(init, "input" + m + ".proj", c.featureSizes()[m], c.dModel(), c.length());
        MambaSettings s = new MambaSettings(c.dModel(), c.inner(), c.dState(), c.dtRank(), c.convWidth(),
                c.norm() == ModelConfig.Norm.RMS, c.fusion() == ModelConfig.Fusion.COUPLED, c.mode() == ModelConfig.Mode.LTI);
        layers = new CoupledMambaLayer[c.layers()];
        for (int i = 0; i < layers.length; i++) layers[i] = new CoupledMambaLayer(init, "layers." + i, mCount, s);
        FusionHead.Kind kind = switch (c.fusion()) {
            case COUPLED, INDEPENDENT -> FusionHead.Kind.SOFTMAX;
            case AVERAGE -> FusionHead.Kind.AVERAGE;
            case CONCAT -> FusionHead.Kind.CONCAT;
        };
        head = new FusionHead(init, "head", mCount, c.dModel(), c.headHidden(), c.outputs(), c.norm() == ModelConfig.Norm.RMS, kind);
    }

    @Override
    public ModelConfig config() {
        return config;
    }

    @Override
    public Backend backend() {
        return backend;
    }

    @Override
    public List<Parameter> parameters() {
        return parameters;
    }

    private final class Pass implements Forward {
        final InputStage.Saved[] in = new InputStage.Saved[inputs.length];
        final CoupledMambaLayer.Forward[] layer = new CoupledMambaLayer.Forward[layers.length];
        FusionHead.Forward head;

        @Override
        public Tensor output() {
            return head.output;
        }

        @Override
        public void close() {
            if (head != null) head.close();
            for (int i = layer.length - 1; i >= 0; i--) if (layer[i] != null) layer[i].close();
            for (InputStage.Saved s : in) if (s != null) s.close();
        }
    }

    @Override
    public Forward forward(ModelInput input) {
        Models.checkInput(config, input);
        Pass p = new Pass();
        try {
            List<Tensor> r = new ArrayList<>();
            for (int m = 0; m < inputs.length; m++) {
                p.in[m] = inputs[m].forward(input.features()[m], input.lengths()[m]);
                r.add(p.in[m].pooled());
            }
            for (int i = 0; i < layers.length; i++) {
                p.layer[i] = layers[i].forward(r);
                r = p.layer[i].outputs();
            }
            p.head = head.forward(r);
            return p;
        } catch (RuntimeException e) {
            p.close();
            throw e;
        }
    }

    @Override
    public void backward(Forward forward, Tensor dOutput) {
        Pass p = (Pass) forward;
        List<Tensor> d = head.backward(p.head, dOutput);
        for (int i = layers.length - 1; i >= 0; i--) {
            List<Tensor> prev = layers[i].backward(p.layer[i], d);
            for (Tensor t : d) t.close();
            d = prev;
        }
        for (int m = 0; m < inputs.length; m++) inputs[m].backward(p.in[m], d.get(m));
        for (Tensor t : d) t.close();
    }

    @Override
    public void close() {
        for (Parameter q : parameters) {
            q.value().close();
            q.grad().close();
        }
    }
}
