package io.cmamba.model;

import io.cmamba.nn.CrossAttentionBlock;
import io.cmamba.nn.FusionHead;
import io.cmamba.nn.Init;
import io.cmamba.nn.InputStage;
import io.cmamba.nn.Parameter;
import io.cmamba.nn.Work;
import io.cmamba.tensor.AttentionKind;
import io.cmamba.tensor.Backend;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * Cross-attention fusion, the baseline the paper compares against (MODEL.md, "The baseline"): in each
 * layer every target modality attends to the time-concatenation of the others (all targets read the
 * previous layer's states); the same input stage, pooling, fusion and head as Coupled Mamba.
 * Its score matrix is [B, heads, L, (M-1)L]; {@link AttentionKind#PLAIN} stores it, FLASH never does.
 */
public final class CrossAttentionModel implements FusionModel {
    private final ModelConfig config;
    private final Backend backend;
    private final List<Parameter> parameters = new ArrayList<>();
    private final InputStage[] inputs;
    private final CrossAttentionBlock[][] blocks;
    private final FusionHead head;
    private AttentionKind kind = AttentionKind.FLASH;

    public CrossAttentionModel(ModelConfig c, Backend backend, long seed, DType dtype) {
        if (c.architecture() != ModelConfig.Architecture.CROSS_ATTENTION)
            throw new IllegalArgumentException("CrossAttentionModel needs architecture CROSS_ATTENTION, got " + c.architecture());
        this.config = c;
        this.backend = backend;
        Init init = new Init(backend, dtype, seed, parameters);
        int mCount = c.modalities();
        boolean rms = c.norm() == ModelConfig.Norm.RMS;
        inputs = new InputStage[mCount];
        for (int m = 0; m < mCount; m++)
            inputs[m] = new InputStage(init, "input" + m + ".proj", c.featureSizes()[m], c.dModel(), c.length());
        blocks = new CrossAttentionBlock[c.layers()][mCount];
        for (int i = 0; i < c.layers(); i++)
            for (int m = 0; m < mCount; m++)
                blocks[i][m] = new CrossAttentionBlock(init, "layers." + i + ".mod" + m, c.dModel(), c.heads(), rms);
        head = new FusionHead(init, "head", mCount, c.dModel(), c.headHidden(), c.outputs(), rms, FusionHead.Kind.SOFTMAX);
    }

    /** PLAIN materialises the attention scores (the paper's baseline); FLASH (default) does not. */
    public CrossAttentionModel attention(AttentionKind kind) {
        this.kind = kind;
        return this;
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
        final Work work = new Work();
        final InputStage.Saved[] in = new InputStage.Saved[inputs.length];
        final CrossAttentionBlock.Forward[][] block = new CrossAttentionBlock.Forward[blocks.length][];
        FusionHead.Forward head;

        @Override
        public Tensor output() {
            return head.output;
        }

        @Override
        public void close() {
            if (head != null) head.close();
            for (int i = block.length - 1; i >= 0; i--)
                if (block[i] != null) for (CrossAttentionBlock.Forward f : block[i]) if (f != null) f.close();
            work.close();
            for (InputStage.Saved s : in) if (s != null) s.close();
        }
    }

    /** The other modalities' states concatenated along time: [B, (M-1) L, d]. */
    private Tensor context(List<Tensor> r, int target, Work w) {
        Tensor x = r.get(0);
        int mCount = r.size(), nb = x.dim(0), l = x.dim(1), d = x.dim(2);
        Tensor c = w.keep(backend.empty(x.dtype(), nb, (mCount - 1) * l, d));
        int idx = 0;
        for (int j = 0; j < mCount; j++) {
            if (j == target) continue;
            backend.copyBlock(c, (long) idx * l * d, (long) (mCount - 1) * l * d, r.get(j), 0, (long) l * d, nb, l * d);
            idx++;
        }
        return c;
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
            for (int i = 0; i < blocks.length; i++) {
                p.block[i] = new CrossAttentionBlock.Forward[inputs.length];
                List<Tensor> next = new ArrayList<>();
                for (int m = 0; m < inputs.length; m++) {
                    p.block[i][m] = blocks[i][m].forward(r.get(m), context(r, m, p.work), kind);
                    next.add(p.block[i][m].output);
                }
                r = next;
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
        int mCount = inputs.length;
        List<Tensor> d = head.backward(p.head, dOutput);
        for (int i = blocks.length - 1; i >= 0; i--) {
            List<Tensor> prev = new ArrayList<>();
            Tensor[][] parts = new Tensor[mCount][];
            for (int m = 0; m < mCount; m++) parts[m] = blocks[i][m].backward(p.block[i][m], d.get(m));
            for (int m = 0; m < mCount; m++) prev.add(parts[m][0]);
            // scatter each target's context gradient back onto the modalities it was built from
            for (int m = 0; m < mCount; m++) {
                Tensor dc = parts[m][1];
                int nb = dc.dim(0), l = prev.get(0).dim(1), dm = dc.dim(2), idx = 0;
                try (Tensor piece = backend.empty(dc.dtype(), nb, l, dm)) {
                    for (int j = 0; j < mCount; j++) {
                        if (j == m) continue;
                        backend.copyBlock(piece, 0, (long) l * dm, dc, (long) idx * l * dm, (long) (mCount - 1) * l * dm, nb, l * dm);
                        backend.axpby(prev.get(j), 1, prev.get(j), 1, piece);
                        idx++;
                    }
                }
                dc.close();
            }
            for (Tensor t : d) t.close();
            d = prev;
        }
        for (int m = 0; m < mCount; m++) inputs[m].backward(p.in[m], d.get(m));
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
