package io.cmamba.tensor;

import java.util.Arrays;

/** An immutable row-major shape; the last dimension is contiguous. */
public final class Shape {
    private final int[] dims;
    private final long size;

    private Shape(int[] dims) {
        long n = 1;
        for (int d : dims) {
            if (d < 0) throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(dims));
            n = Math.multiplyExact(n, (long) d);
        }
        this.dims = dims;
        this.size = n;
    }

    public static Shape of(int... dims) {
        return new Shape(dims.clone());
    }

    public int rank() {
        return dims.length;
    }

    public int dim(int i) {
        return dims[i < 0 ? dims.length + i : i];
    }

    public int[] dims() {
        return dims.clone();
    }

    /** Number of elements. */
    public long size() {
        return size;
    }

    /** The last dimension (columns when the tensor is read as a matrix); 1 for a scalar. */
    public int cols() {
        return dims.length == 0 ? 1 : dims[dims.length - 1];
    }

    /** Product of all dimensions but the last (rows when the tensor is read as a matrix). */
    public long rows() {
        int c = cols();
        return c == 0 ? 0 : size / c;
    }

    /** This shape without its first dimension. */
    public Shape dropFirst() {
        if (dims.length == 0) throw new IllegalArgumentException("cannot drop a dimension of a scalar shape");
        return new Shape(Arrays.copyOfRange(dims, 1, dims.length));
    }

    /** This shape with its first dimension replaced. */
    public Shape withFirst(int first) {
        int[] d = dims.clone();
        d[0] = first;
        return new Shape(d);
    }

    public boolean equals(Object o) {
        return o instanceof Shape s && Arrays.equals(dims, s.dims);
    }

    public int hashCode() {
        return Arrays.hashCode(dims);
    }

    public String toString() {
        return Arrays.toString(dims);
    }
}
