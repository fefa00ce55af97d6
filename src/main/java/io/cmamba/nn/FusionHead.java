package io.cmamba.nn;

import io.cmamba.tensor.Activation;
import io.cmamba.tensor.Backend;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * MODEL.md step 3: per modality a final norm and a max-pool over time, then the pooled vectors are
 * fused (softmax-weighted sum, plain mean, or concatenation) and a head Linear(in, hidden) -> ReLU ->
 * Linear(hidden, outputs) gives the output [B, outputs].
 */
public final class FusionHead {
    public enum Kind { SOFTMAX, AVERAGE, CONCAT }

    private final Kind kind;
    private final Norm[] norms;
    private final Parameter weights; // softmax fusion only
    private final Linear hidden, out;
    private final int dModel;

    public FusionHead(Init init, String name, int modalities, int dModel, int hiddenWidth, int outputs, boolean rms, Kind kind) {
        this.kind = kind;
        this.dModel = dModel;
        norms = new Norm[modalities];
        for (int m = 0; m < modalities; m++) norms[m] = new Norm(init, name + ".norm" + m, dModel, rms);
        weights = kind == Kind.SOFTMAX ? init.constant(name + ".fusion_weight", 0, false, modalities) : null;
        int in = kind == Kind.CONCAT ? modalities * dModel : dModel;
        hidden = new Linear(init, name + ".fc1", in, hiddenWidth, true);
        out = new Linear(init, name + ".fc2", hiddenWidth, outputs, true);
    }

    public final class Forward implements AutoCloseable {
        final Work work = new Work();
        final List<Tensor> inputs;
        final Norm.Saved[] norm = new Norm.Saved[norms.length];
        Tensor argmax, pooled, fused, h, a;
        public Tensor output;

        Forward(List<Tensor> inputs) {
            this.inputs = inputs;
        }

        @Override
        public void close() {
            work.close();
        }
    }

    /** inputs: r^m [B, L, dModel] per modality. */
    public Forward forward(List<Tensor> inputs) {
        Tensor first = inputs.get(0);
        Backend be = first.backend();
        DType dt = first.dtype();
        int mCount = norms.length, nb = first.dim(0);
        Forward f = new Forward(inputs);
        Work w = f.work;
        f.pooled = w.keep(be.empty(dt, mCount, nb, dModel));
        f.argmax = w.keep(be.empty(DType.I32, mCount, nb, dModel));
        for (int m = 0; m < mCount; m++) {
            f.norm[m] = w.keep(norms[m].forward(inputs.get(m)));
            be.maxPoolTimeForward(f.pooled.select(m), f.argmax.select(m), f.norm[m].out());
        }
        switch (kind) {
            case SOFTMAX -> {
                f.fused = w.keep(be.empty(dt, nb, dModel));
                be.softmaxFusionForward(f.fused, f.pooled, weights.value());
            }
            case AVERAGE -> {
                f.fused = w.keep(be.zeros(dt, nb, dModel));
                for (int m = 0; m < mCount; m++) be.axpby(f.fused, 1, f.fused, 1.0 / mCount, f.pooled.select(m));
            }
            case CONCAT -> {
                f.fused = w.keep(be.empty(dt, nb, mCount * dModel));
                for (int m = 0; m < mCount; m++)
                    be.copyBlock(f.fused, (long) m * dModel, (long) mCount * dModel, f.pooled.select(m), 0, dModel, nb, dModel);
            }
        }
        f.h = w.keep(hidden.forward(f.fused, null));
        f.a = w.keep(be.empty(dt, f.h.shape().dims()));
        be.activationForward(Activation.RELU, f.a, f.h);
        f.output = w.keep(out.forward(f.a, null));
        return f;
    }

    /** Writes this stage's parameter gradients; returns dL/dr^m per modality (new tensors). */
    public List<Tensor> backward(Forward f, Tensor dOutput) {
        Backend be = dOutput.backend();
        DType dt = dOutput.dtype();
        int mCount = norms.length;
        try (Work w = new Work()) {
            Tensor dA = w.keep(out.backward(f.a, dOutput, true));
            Tensor dH = w.keep(be.empty(dt, f.h.shape().dims()));
            be.activationBackward(Activation.RELU, dH, dA, f.h);
            Tensor dFused = w.keep(hidden.backward(f.fused, dH, true));
            Tensor dPooled = w.keep(be.empty(dt, f.pooled.shape().dims()));
            int nb = f.pooled.dim(1);
            switch (kind) {
                case SOFTMAX -> be.softmaxFusionBackward(dPooled, weights.grad(), dFused, f.pooled, weights.value());
                case AVERAGE -> {
                    for (int m = 0; m < mCount; m++) be.axpby(dPooled.select(m), 1.0 / mCount, dFused, 0, dFused);
                }
                case CONCAT -> {
                    for (int m = 0; m < mCount; m++)
                        be.copyBlock(dPooled.select(m), 0, dModel, dFused, (long) m * dModel, (long) mCount * dModel, nb, dModel);
                }
            }
            List<Tensor> dInputs = new ArrayList<>();
            for (int m = 0; m < mCount; m++) {
                Tensor dNorm = w.keep(be.empty(dt, f.inputs.get(m).shape().dims()));
                be.maxPoolTimeBackward(dNorm, dPooled.select(m), f.argmax.select(m));
                dInputs.add(norms[m].backward(f.inputs.get(m), f.norm[m], dNorm));
            }
            return dInputs;
        }
    }
}
