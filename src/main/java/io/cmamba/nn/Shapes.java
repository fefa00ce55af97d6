package io.cmamba.nn;

import io.cmamba.tensor.Tensor;

/** Small shape helpers for layers. */
final class Shapes {
    private Shapes() {
    }

    /** The dims of t with the last one replaced. */
    static int[] withLast(Tensor t, int last) {
        int[] d = t.shape().dims();
        d[d.length - 1] = last;
        return d;
    }
}
