package io.cmamba.tensor;

import java.util.Arrays;

/**
 * A contiguous row-major tensor: a shape over a window of a backend's {@link Storage}. Views
 * ({@link #reshape}, {@link #select}, {@link #narrow}) share the storage; only the tensor that
 * allocated it frees it on {@link #close}.
 */
public final class Tensor implements AutoCloseable {
    private final Backend backend;
    private final Storage storage;
    private final long offset;
    private final Shape shape;
    private final DType dtype;
    private final boolean owner;

    public Tensor(Backend backend, Storage storage, long offset, Shape shape, DType dtype, boolean owner) {
        if (offset < 0 || offset + shape.size() > storage.capacity())
            throw new IllegalArgumentException("tensor " + shape + " at offset " + offset
                    + " does not fit a storage of " + storage.capacity() + " elements");
        this.backend = backend;
        this.storage = storage;
        this.offset = offset;
        this.shape = shape;
        this.dtype = dtype;
        this.owner = owner;
    }

    public Backend backend() {
        return backend;
    }

    public Storage storage() {
        if (storage.released()) throw new IllegalStateException("tensor " + shape + " used after it was closed");
        return storage;
    }

    /** Offset of the first element in the storage, in elements. */
    public long offset() {
        return offset;
    }

    public Shape shape() {
        return shape;
    }

    public int dim(int i) {
        return shape.dim(i);
    }

    public int rank() {
        return shape.rank();
    }

    public long size() {
        return shape.size();
    }

    public DType dtype() {
        return dtype;
    }

    /** A view with another shape of the same size. */
    public Tensor reshape(int... dims) {
        Shape s = Shape.of(dims);
        if (s.size() != shape.size())
            throw new IllegalArgumentException("cannot reshape " + shape + " to " + Arrays.toString(dims));
        return new Tensor(backend, storage, offset, s, dtype, false);
    }

    /** The view of index i along the first dimension, without that dimension. */
    public Tensor select(int i) {
        if (rank() == 0 || i < 0 || i >= shape.dim(0))
            throw new IndexOutOfBoundsException("index " + i + " out of first dimension of " + shape);
        Shape s = shape.dropFirst();
        return new Tensor(backend, storage, offset + i * s.size(), s, dtype, false);
    }

    /** The view of indices [start, start + length) along the first dimension. */
    public Tensor narrow(int start, int length) {
        if (rank() == 0 || start < 0 || length < 0 || start + length > shape.dim(0))
            throw new IndexOutOfBoundsException("range [" + start + ", " + (start + length) + ") out of first dimension of " + shape);
        long inner = shape.dropFirst().size();
        return new Tensor(backend, storage, offset + start * inner, shape.withFirst(length), dtype, false);
    }

    /** Host copy of the elements, as doubles (exact for every dtype). */
    public double[] toDoubles() {
        return backend.toDoubles(this);
    }

    public float[] toFloats() {
        return backend.toFloats(this);
    }

    public int[] toInts() {
        return backend.toInts(this);
    }

    @Override
    public void close() {
        if (owner && !storage.released()) storage.release();
    }

    @Override
    public String toString() {
        return "Tensor" + shape + " " + dtype + " on " + backend.name();
    }
}
