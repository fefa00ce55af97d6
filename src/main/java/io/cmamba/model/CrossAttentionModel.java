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
import java.util.Collections;
import java.util.List;

/**
 * Cross-attention fusion, the baseline the paper compares against (MODEL.md, "The baseline"): in each
 * layer every target modality m attends to the time-concatenation of the other modalities
 * [B, (M-1) L, dModel] (all targets read the previous layer's states), then a pre-norm feed-forward,
 * both with residuals ({@link CrossAttentionBlock}); the same input stage, final norm, max-pool,
 * softmax fusion and head as Coupled Mamba. Its score matrix is [B, heads, L, (M-1) L]:
 * {@link AttentionKind#PLAIN} stores it, FLASH (the default) never does.
 *
 * <p>Parameter names: {@code input.{m}.proj.*}, {@code layers.{i}.mod.{m}.*} (see
 * {@link CrossAttentionBlock}), {@code head.*}.
 */
public final class CrossAttentionModel extends PassModel {
    private final ModelConfig config;
    private final Backend backend;
    private final DType dtype;
    private final List<Parameter> parameters = new ArrayList<>();
    /** Parameters by stage in the order the backward finishes them: head, layers last to first, inputs. */
    private final List<List<Parameter>> groups;
    private final InputStage[] inputs;
    private final CrossAttentionBlock[][] blocks;
    private final FusionHead head;
    private AttentionKind kind;

    /** FLASH attention; parameters of the given dtype drawn deterministically from the seed. */
    public CrossAttentionModel(ModelConfig c, Backend backend, long seed, DType dtype) {
        this(c, backend, seed, dtype, AttentionKind.FLASH);
    }

    public CrossAttentionModel(ModelConfig c, Backend backend, long seed, DType dtype, AttentionKind kind) {
        if (c.architecture() != ModelConfig.Architecture.CROSS_ATTENTION)
            throw new IllegalArgumentException("CrossAttentionModel needs architecture CROSS_ATTENTION, got " + c.architecture());
        if (dtype == DType.I32) throw new IllegalArgumentException("model parameters must be F32 or F64, got " + dtype);
        this.config = c;
        this.backend = backend;
        this.dtype = dtype;
        this.kind = java.util.Objects.requireNonNull(kind, "attention kind");
        Init init = new Init(backend, dtype, seed, parameters);
        try {
            int mCount = c.modalities();
            boolean rms = c.norm() == ModelConfig.Norm.RMS;
            inputs = new InputStage[mCount];
            for (int m = 0; m < mCount; m++)
                inputs[m] = new InputStage(init, "input." + m, c.featureSizes()[m], c.dModel(), c.length());
            int[] ends = new int[c.layers() + 2];
            ends[0] = parameters.size();
            blocks = new CrossAttentionBlock[c.layers()][mCount];
            for (int i = 0; i < c.layers(); i++) {
                for (int m = 0; m < mCount; m++)
                    blocks[i][m] = new CrossAttentionBlock(init, "layers." + i + ".mod." + m, c.dModel(), c.heads(), rms);
                ends[i + 1] = parameters.size();
            }
            head = new FusionHead(init, "head", mCount, c.dModel(), c.headHidden(), c.outputs(), rms, FusionHead.Kind.SOFTMAX);
            ends[c.layers() + 1] = parameters.size();
            groups = Models.backwardGroups(parameters, ends);
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** PLAIN materialises the attention scores (the paper's baseline); FLASH (default) does not. */
    public CrossAttentionModel attention(AttentionKind kind) {
        this.kind = java.util.Objects.requireNonNull(kind, "attention kind");
        return this;
    }

    public AttentionKind attention() {
        return kind;
    }

    public DType dtype() {
        return dtype;
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
        return Collections.unmodifiableList(parameters);
    }

    @Override
    public List<List<Parameter>> gradientGroups() {
        return groups;
    }

    private final class Pass extends ModelPass {
        final Work contexts = new Work();
        final CrossAttentionBlock.Forward[][] block = new CrossAttentionBlock.Forward[blocks.length][];

        Pass() {
            super(inputs.length);
        }

        @Override
        void closeLayer(int i) {
            if (block[i] != null) for (CrossAttentionBlock.Forward f : block[i]) if (f != null) f.close();
            block[i] = null;
        }

        @Override
        void closeMiddle() {
            for (int i = block.length - 1; i >= 0; i--) closeLayer(i);
            contexts.close();
        }
    }

    /** The other modalities' states concatenated along time, in modality order: [B, (M-1) L, d]. */
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

    /**
     * The forward pass. For {@code inference} each block keeps only its output, and the previous layer's
     * blocks and contexts (or the input stages) are freed once the layer has run.
     */
    @Override
    Pass run(ModelInput input, boolean inference) {
        Models.checkInput(config, backend, dtype, input);
        Pass p = new Pass();
        try {
            List<Tensor> r = p.runInputs(inputs, input);
            for (int i = 0; i < blocks.length; i++) {
                p.block[i] = new CrossAttentionBlock.Forward[inputs.length];
                List<Tensor> next = new ArrayList<>();
                for (int m = 0; m < inputs.length; m++) {
                    p.block[i][m] = blocks[i][m].forward(r.get(m), context(r, m, p.contexts), kind);
                    if (inference) p.block[i][m].keepOnlyOutput();
                    next.add(p.block[i][m].output());
                }
                if (inference) {
                    p.contexts.close();   // this layer's contexts; the Work is empty again for the next
                    p.freeBefore(i);
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
    public void backward(Forward forward, Tensor dOutput, GradientReady ready) {
        if (!(forward instanceof Pass p) || p.closed)
            throw new IllegalArgumentException("backward needs an open forward pass of this model");
        Models.checkOutputGradient(config, p.output(), dOutput);
        int mCount = inputs.length;
        List<Tensor> d = head.backward(p.head, dOutput);
        ready.ready(groups.get(0));
        try {
            for (int i = blocks.length - 1; i >= 0; i--) {
                List<Tensor> prev = new ArrayList<>();
                try {
                    CrossAttentionBlock.Gradients[] parts = new CrossAttentionBlock.Gradients[mCount];
                    for (int m = 0; m < mCount; m++) {
                        parts[m] = blocks[i][m].backward(p.block[i][m], d.get(m));
                        prev.add(parts[m].dx());
                    }
                    // each target's context gradient goes back to the modalities its context was cut from
                    for (int m = 0; m < mCount; m++) {
                        try (Tensor dc = parts[m].dContext()) {
                            int nb = dc.dim(0), l = prev.get(0).dim(1), dm = dc.dim(2), idx = 0;
                            try (Tensor piece = backend.empty(dc.dtype(), nb, l, dm)) {
                                for (int j = 0; j < mCount; j++) {
                                    if (j == m) continue;
                                    backend.copyBlock(piece, 0, (long) l * dm, dc, (long) idx * l * dm,
                                            (long) (mCount - 1) * l * dm, nb, l * dm);
                                    backend.axpby(prev.get(j), 1, prev.get(j), 1, piece);
                                    idx++;
                                }
                            }
                        }
                    }
                } catch (RuntimeException e) {
                    Models.closeAll(prev);
                    throw e;
                }
                Models.closeAll(d);
                d = prev;
                ready.ready(groups.get(blocks.length - i));
            }
            for (int m = 0; m < mCount; m++) inputs[m].backward(p.in[m], d.get(m));
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
