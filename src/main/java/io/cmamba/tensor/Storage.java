package io.cmamba.tensor;

/** Backing memory of a tensor and of its views, owned by one backend. */
public interface Storage {
    /** Capacity in elements. */
    long capacity();

    /** Returns the memory to its backend; later use of the tensor is an error. */
    void release();

    boolean released();
}
