package io.cmamba.tensor;

import java.util.Arrays;

/** Argument checks shared by every backend, so that all report a wrong shape the same way. */
public final class Tensors {
    private Tensors() {
    }

    public static void requireShape(String name, Tensor t, int... dims) {
        if (t == null) throw new IllegalArgumentException(name + " is missing (expected " + Arrays.toString(dims) + ")");
        if (!Arrays.equals(t.shape().dims(), dims))
            throw new IllegalArgumentException("expected " + name + " " + Arrays.toString(dims) + ", got " + t.shape());
    }

    public static void requireSameShape(String name, Tensor t, Tensor like) {
        requireShape(name, t, like.shape().dims());
    }

    public static void requireDType(String name, Tensor t, DType dtype) {
        if (t.dtype() != dtype) throw new IllegalArgumentException(name + " must be " + dtype + ", got " + t.dtype());
    }

    /** Floating dtype (F32 or F64), the same for every tensor given. */
    public static void requireFloat(String op, Tensor... ts) {
        DType first = null;
        for (Tensor t : ts) {
            if (t == null) continue;
            if (t.dtype() == DType.I32) throw new IllegalArgumentException(op + ": expected a float tensor, got int32 " + t.shape());
            if (first == null) first = t.dtype();
            else if (t.dtype() != first)
                throw new IllegalArgumentException(op + ": mixed dtypes " + first + " and " + t.dtype());
        }
    }
}
