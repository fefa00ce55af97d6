package io.cmamba.nn;

import io.cmamba.tensor.Backend;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;

import java.util.List;
import java.util.SplittableRandom;

/**
 * Creates parameters on a backend from host values drawn deterministically from one seeded
 * generator, in construction order, so that a model built twice from a seed is identical.
 */
public final class Init {
    private final Backend backend;
    private final DType dtype;
    private final SplittableRandom rnd;
    private final List<Parameter> sink;

    public Init(Backend backend, DType dtype, long seed, List<Parameter> sink) {
        this.backend = backend;
        this.dtype = dtype;
        this.rnd = new SplittableRandom(seed);
        this.sink = sink;
    }

    public Backend backend() {
        return backend;
    }

    public DType dtype() {
        return dtype;
    }

    public SplittableRandom random() {
        return rnd;
    }

    /** A parameter with the given values; its gradient starts at zero. */
    public Parameter param(String name, double[] values, boolean decay, int... shape) {
        Tensor v = backend.fromDoubles(dtype, values, shape);
        Tensor g = backend.zeros(dtype, shape);
        Parameter p = new Parameter(name, v, g, decay);
        sink.add(p);
        return p;
    }

    /** Uniform in [-bound, bound] (PyTorch's default Linear and Conv1d initialisation uses 1/sqrt(fan_in)). */
    public Parameter uniform(String name, double bound, boolean decay, int... shape) {
        double[] v = new double[size(shape)];
        for (int i = 0; i < v.length; i++) v[i] = (rnd.nextDouble() * 2 - 1) * bound;
        return param(name, v, decay, shape);
    }

    public Parameter constant(String name, double value, boolean decay, int... shape) {
        double[] v = new double[size(shape)];
        java.util.Arrays.fill(v, value);
        return param(name, v, decay, shape);
    }

    static int size(int... shape) {
        int n = 1;
        for (int d : shape) n *= d;
        return n;
    }
}
