package io.cmamba.nn;

import io.cmamba.tensor.Activation;
import io.cmamba.tensor.Backend;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * MODEL.md step 3: per modality a final norm and a max-pool over time ([B, L, dModel] -> [B, dModel]),
 * then the M pooled vectors are fused and a head Linear(in, hidden) -> ReLU -> Linear(hidden, outputs)
 * gives the output [B, outputs]. Fusion: SOFTMAX (sum weighted by softmax(w), w [M] learnable, the
 * model's), AVERAGE (plain mean) or CONCAT ([B, M * dModel] into a head of input M * dModel).
 *
 * <p>Parameters: {@code {name}.norm.{m}.weight} (and {@code .bias} for LayerNorm) [dModel],
 * {@code {name}.fusion_weight} [M] (SOFTMAX only, zeros: equal weights at first, no decay),
 * {@code {name}.fc1.weight} [hidden, in], {@code {name}.fc1.bias}, {@code {name}.fc2.weight}
 * [outputs, hidden], {@code {name}.fc2.bias}.
 */
public final class FusionHead {
    public enum Kind { SOFTMAX, AVERAGE, CONCAT }

    private final Kind kind;
    private final Norm[] norms;
    private final Parameter weights; // SOFTMAX only
    private final Linear hidden, out;
    private final int dModel;
    private final String name;

    public FusionHead(Init init, String name, int modalities, int dModel, int hiddenWidth, int outputs, boolean rms, Kind kind) {
        if (modalities < 1) throw new IllegalArgumentException("FusionHead " + name + ": modalities must be >= 1, got " + modalities);
        this.kind = kind;
        this.dModel = dModel;
        this.name = name;
        norms = new Norm[modalities];
        for (int m = 0; m < modalities; m++) norms[m] = new Norm(init, name + ".norm." + m, dModel, rms);
        weights = kind == Kind.SOFTMAX ? init.constant(name + ".fusion_weight", 0, false, modalities) : null;
        int in = kind == Kind.CONCAT ? modalities * dModel : dModel;
        hidden = new Linear(init, name + ".fc1", in, hiddenWidth, true);
        out = new Linear(init, name + ".fc2", hiddenWidth, outputs, true);
    }

    /**
     * The head's saved activations; close frees what it allocated. pooled [M, B, dModel] with argmax
     * [M, B, dModel] int32, fused [B, dModel] (CONCAT: [B, M * dModel]), h = fc1(fused) and
     * relu(h) [B, hidden], output [B, outputs].
     */
    public final class Forward implements AutoCloseable {
        private final Work work = new Work();
        private final List<Tensor> inputs;
        private final Norm.Saved[] norm = new Norm.Saved[norms.length];
        private Tensor argmax, pooled, fused, h, a, output;

        private Forward(List<Tensor> inputs) {
            this.inputs = List.copyOf(inputs);
        }

        /** [B, outputs], owned by this object. */
        public Tensor output() {
            return output;
        }

        @Override
        public void close() {
            work.close();
        }
    }

    /** inputs: r^m [B, L, dModel] per modality (kept by reference until the backward). */
    public Forward forward(List<Tensor> inputs) {
        int mCount = norms.length;
        if (inputs.size() != mCount)
            throw new IllegalArgumentException("FusionHead " + name + ": expected " + mCount + " modalities, got " + inputs.size());
        Tensor first = inputs.get(0);
        for (int m = 0; m < mCount; m++) {
            Tensor r = inputs.get(m);
            if (r.rank() != 3 || r.dim(0) != first.dim(0) || r.dim(2) != dModel)
                throw new IllegalArgumentException("FusionHead " + name + ": expected input " + m + " [" + first.dim(0) + ", L, " + dModel + "], got " + r.shape());
        }
        Backend be = first.backend();
        DType dt = first.dtype();
        int nb = first.dim(0);
        Forward f = new Forward(inputs);
        Work w = f.work;
        try {
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
        } catch (RuntimeException e) {
            f.close();
            throw e;
        }
    }

    /**
     * Overwrites this stage's parameter gradients from dOutput [B, outputs].
     *
     * @return dL/dr^m per modality, [B, L, dModel] (new tensors; the caller closes them)
     */
    public List<Tensor> backward(Forward f, Tensor dOutput) {
        if (!dOutput.shape().equals(f.output.shape()))
            throw new IllegalArgumentException("FusionHead " + name + ": expected dOutput " + f.output.shape() + ", got " + dOutput.shape());
        Backend be = dOutput.backend();
        DType dt = dOutput.dtype();
        int mCount = norms.length;
        List<Tensor> dInputs = new ArrayList<>();
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
            for (int m = 0; m < mCount; m++) {
                Tensor dNorm = w.keep(be.empty(dt, f.inputs.get(m).shape().dims()));
                be.maxPoolTimeBackward(dNorm, dPooled.select(m), f.argmax.select(m));
                dInputs.add(norms[m].backward(f.inputs.get(m), f.norm[m], dNorm));
            }
            return dInputs;
        } catch (RuntimeException e) {
            for (Tensor t : dInputs) t.close();
            throw e;
        }
    }
}
