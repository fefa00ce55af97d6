package io.cmamba.model;

import io.cmamba.nn.FusionHead;
import io.cmamba.nn.InputStage;
import io.cmamba.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * What both fusion models keep of one forward pass at their two ends: the input stages' and the
 * fusion head's saved activations. Each model adds its middle (layers or attention blocks) and frees
 * it in {@link #closeMiddle}; close frees head, middle and inputs in that order, once.
 */
abstract class ModelPass implements FusionModel.Forward {
    final InputStage.Saved[] in;
    FusionHead.Forward head;
    boolean closed;

    ModelPass(int modalities) {
        in = new InputStage.Saved[modalities];
    }

    /** Runs every modality's input stage (projection and length pooling) and returns r^m [B, L, d_model]. */
    List<Tensor> runInputs(InputStage[] stages, ModelInput input) {
        List<Tensor> r = new ArrayList<>();
        for (int m = 0; m < stages.length; m++) {
            in[m] = stages[m].forward(input.features()[m], input.lengths()[m]);
            r.add(in[m].pooled());
        }
        return r;
    }

    /** Frees the input stages' activations (inference, once the first layer has run). */
    void closeInputs() {
        for (int m = 0; m < in.length; m++) {
            if (in[m] != null) in[m].close();
            in[m] = null;
        }
    }

    /** Frees layer {@code i}'s activations (its outputs included). */
    abstract void closeLayer(int i);

    /** Inference: frees what layer {@code i} read (layer i - 1, or the input stages for i = 0). */
    void freeBefore(int i) {
        if (i > 0) closeLayer(i - 1);
        else closeInputs();
    }

    /** Frees the activations between the input stages and the head, the last stage first. */
    abstract void closeMiddle();

    @Override
    public Tensor output() {
        if (closed) throw new IllegalStateException("forward pass used after it was closed");
        return head.output();
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        if (head != null) head.close();
        closeMiddle();
        closeInputs();
    }
}
