package io.cmamba.train;

import io.cmamba.data.Batch;
import io.cmamba.model.ModelInput;
import io.cmamba.tensor.Backend;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;

import java.util.SplittableRandom;

/** Host batches to backend tensors (public: library users need it for a hand-written step), and the epochs' seeded orders. */
public final class Batches {
    private Batches() {
    }

    /** Features [B, L_m, F_m] in the model's dtype and lengths [B] int32, per modality. */
    public static ModelInput upload(Backend backend, DType dtype, Batch batch) {
        int mCount = batch.modalities(), n = batch.size();
        Tensor[] f = new Tensor[mCount], l = new Tensor[mCount];
        for (int m = 0; m < mCount; m++) {
            f[m] = floats(backend, dtype, batch.features()[m], n, batch.maxLengths()[m], batch.featureSizes()[m]);
            l[m] = backend.fromInts(batch.lengths()[m], n);
        }
        return new ModelInput(f, l);
    }

    static Tensor floats(Backend backend, DType dtype, float[] values, int... shape) {
        if (dtype == DType.F32) return backend.fromFloats(values, shape);
        double[] d = new double[values.length];
        for (int i = 0; i < d.length; i++) d[i] = values[i];
        return backend.fromDoubles(dtype, d, shape);
    }

    public static void close(ModelInput in) {
        for (Tensor t : in.features()) t.close();
        for (Tensor t : in.lengths()) t.close();
    }

    /** A permutation of [0, n) for the epoch (Fisher-Yates). */
    static int[] shuffled(int n, long seed, int epoch) {
        int[] order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        // seeded by (seed, epoch) alone: the epoch is the whole random state of a run, which makes resuming exact
        SplittableRandom r = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + epoch * 0xC2B2AE3D27D4EB4FL);
        for (int i = n - 1; i > 0; i--) {
            int j = r.nextInt(i + 1);
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        return order;
    }
}
