package io.cmamba.cuda;

import io.cmamba.cpu.CpuBackend;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Comparison against a float64 CPU reference fed the same values (where {@link GpuTestSupport} compares
 * with float32): twins of inputs, NaN-poisoned outputs, norm-wise comparison. The backend is
 * GpuTestSupport's, so every GPU test of a JVM shares one.
 */
public final class GpuSupport {
    public static final CpuBackend CPU = GpuTestSupport.CPU;

    private GpuSupport() {
    }

    /** The one backend every GPU test of this JVM shares (GpuTestSupport's); skips without a usable GPU. */
    public static CudaBackend gpu() {
        return GpuTestSupport.gpu();
    }

    /** The same values on the GPU (float32) and on the CPU (float64 reference). */
    public record Twin(Tensor gpu, Tensor cpu) {
    }

    public static float[] randomFloats(Random r, int n, double scale, double mean) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (mean + scale * r.nextGaussian());
        return v;
    }

    public static Twin twin(float[] values, int... shape) {
        double[] d = new double[values.length];
        for (int i = 0; i < d.length; i++) d[i] = values[i];
        return new Twin(gpu().fromFloats(values, shape), CPU.fromDoubles(DType.F64, d, shape));
    }

    public static Twin randn(Random r, double scale, double mean, int... shape) {
        int n = 1;
        for (int s : shape) n *= s;
        return twin(randomFloats(r, n, scale, mean), shape);
    }

    public static Twin ints(int[] values, int... shape) {
        return new Twin(gpu().fromInts(values, shape), CPU.fromInts(values, shape));
    }

    /** An output pair: the GPU side filled with NaN so that unwritten elements show. */
    public static Twin out(int... shape) {
        Tensor g = gpu().empty(DType.F32, shape);
        gpu().fill(g, Double.NaN);
        return new Twin(g, CPU.empty(DType.F64, shape));
    }

    public static Twin outInts(int... shape) {
        Tensor g = gpu().empty(DType.I32, shape);
        gpu().fill(g, -7);
        return new Twin(g, CPU.empty(DType.I32, shape));
    }

    /** Every element written, and ||gpu - cpu|| / ||cpu|| <= tol. */
    public static double assertClose(String what, Twin t, double tol) {
        double[] g = t.gpu().toDoubles(), c = t.cpu().toDoubles();
        double d2 = 0, r2 = 0;
        for (int i = 0; i < g.length; i++) {
            assertFalse(Double.isNaN(g[i]) && !Double.isNaN(c[i]), what + ": element " + i + " not written (NaN)");
            d2 += (g[i] - c[i]) * (g[i] - c[i]);
            r2 += c[i] * c[i];
        }
        double err = Math.sqrt(d2) / Math.max(Math.sqrt(r2), 1e-30);
        if (r2 == 0) err = Math.sqrt(d2);
        assertTrue(err <= tol, what + ": relative error " + err + " > " + tol);
        return err;
    }
}
