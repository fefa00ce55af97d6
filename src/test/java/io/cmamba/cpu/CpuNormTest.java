package io.cmamba.cpu;

import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static io.cmamba.cpu.CpuTestSupport.*;

class CpuNormTest {
    private static final double EPS = 1e-5;

    /** LayerNorm of each row straight from the definition; returns out, then mean and rstd appended. */
    static double[][] layerNormReference(double[] x, double[] gamma, double[] beta, int rows, int n) {
        double[] out = new double[rows * n], mean = new double[rows], rstd = new double[rows];
        for (int r = 0; r < rows; r++) {
            double mu = 0;
            for (int j = 0; j < n; j++) mu += x[r * n + j] / n;
            double var = 0;
            for (int j = 0; j < n; j++) var += (x[r * n + j] - mu) * (x[r * n + j] - mu) / n;
            double sd = Math.sqrt(var + EPS);
            for (int j = 0; j < n; j++) out[r * n + j] = gamma[j] * (x[r * n + j] - mu) / sd + (beta == null ? 0 : beta[j]);
            mean[r] = mu;
            rstd[r] = 1 / sd;
        }
        return new double[][]{out, mean, rstd};
    }

    static double[][] rmsNormReference(double[] x, double[] gamma, int rows, int n) {
        double[] out = new double[rows * n], rstd = new double[rows];
        for (int r = 0; r < rows; r++) {
            double ms = 0;
            for (int j = 0; j < n; j++) ms += x[r * n + j] * x[r * n + j] / n;
            double rms = Math.sqrt(ms + EPS);
            for (int j = 0; j < n; j++) out[r * n + j] = gamma[j] * x[r * n + j] / rms;
            rstd[r] = 1 / rms;
        }
        return new double[][]{out, rstd};
    }

    @Test
    void layerNormForwardMatchesTheDefinition() {
        Random rnd = random("layerNormForward");
        // 3 x 5 x 7 rows of 37, and enough rows (300 x 129) for the parallel path
        for (int[] shape : new int[][]{{3, 5, 37}, {300, 129}}) {
            int n = shape[shape.length - 1], size = 1;
            for (int s : shape) size *= s;
            int rows = size / n;
            for (DType dt : new DType[]{DType.F64, DType.F32}) {
                double tol = dt == DType.F64 ? F64_TOL : F32_TOL;
                double[] xs = gaussian(rnd, size);
                for (int i = 0; i < size; i++) xs[i] = 3 + 2 * xs[i]; // an offset the mean must remove
                Tensor x = tensor(dt, xs, shape), gamma = tensor(dt, gaussian(rnd, n), n), beta = tensor(dt, gaussian(rnd, n), n);
                double[][] e = layerNormReference(x.toDoubles(), gamma.toDoubles(), beta.toDoubles(), rows, n);
                Tensor out = poisoned(dt, shape), mean = poisoned(dt, rows), rstd = poisoned(dt, rows);
                CPU.layerNormForward(out, mean, rstd, x, gamma, beta, EPS);
                assertAllWritten(out, "out");
                assertAllWritten(mean, "mean");
                assertAllWritten(rstd, "rstd");
                assertClose(out, e[0], tol, "layerNorm out " + dt);
                assertClose(mean, e[1], tol, "layerNorm mean " + dt);
                assertClose(rstd, e[2], tol, "layerNorm rstd " + dt);

                Tensor noBeta = poisoned(dt, shape);
                CPU.layerNormForward(noBeta, null, rstd, x, gamma, null, EPS);
                assertClose(noBeta, layerNormReference(x.toDoubles(), gamma.toDoubles(), null, rows, n)[0], tol,
                        "layerNorm without beta " + dt);
            }
        }
    }

    @Test
    void layerNormBackwardPassesAGradientCheckForEveryInput() {
        Random rnd = random("layerNormBackward");
        int rows = 6, n = 11;
        Tensor x = tensor(DType.F64, gaussian(rnd, rows * n), 2, 3, n);
        Tensor gamma = tensor(DType.F64, gaussian(rnd, n), n), beta = tensor(DType.F64, gaussian(rnd, n), n);
        double[] w = gaussian(rnd, rows * n);
        Tensor out = CPU.empty(DType.F64, 2, 3, n), mean = CPU.empty(DType.F64, rows), rstd = CPU.empty(DType.F64, rows);
        CPU.layerNormForward(out, mean, rstd, x, gamma, beta, EPS);
        Tensor dout = tensor(DType.F64, w, 2, 3, n);
        Tensor dx = poisoned(DType.F64, 2, 3, n), dgamma = poisoned(DType.F64, n), dbeta = poisoned(DType.F64, n);
        CPU.layerNormBackward(dx, dgamma, dbeta, dout, x, mean, rstd, gamma);
        assertAllWritten(dx, "dx");
        assertAllWritten(dgamma, "dgamma");
        assertAllWritten(dbeta, "dbeta");
        Tensor m2 = CPU.empty(DType.F64, rows), r2 = CPU.empty(DType.F64, rows);
        java.util.function.Supplier<Double> loss = () -> {
            CPU.layerNormForward(out, m2, r2, x, gamma, beta, EPS);
            return weighted(w, out);
        };
        assertGradient(x, dx, loss, "layerNorm dx");
        assertGradient(gamma, dgamma, loss, "layerNorm dgamma");
        assertGradient(beta, dbeta, loss, "layerNorm dbeta");

        // the parameter gradients are optional
        Tensor dx2 = poisoned(DType.F64, 2, 3, n);
        CPU.layerNormBackward(dx2, null, null, dout, x, mean, rstd, gamma);
        assertClose(dx2, dx.toDoubles(), 0, "dx without dgamma, dbeta");
    }

    @Test
    void layerNormBackwardInFloat32AndOverManyRowsMatchesFloat64() {
        Random rnd = random("layerNormBackwardF32");
        int rows = 203, n = 67; // several row blocks of the parameter-gradient reduction
        double[] xs = gaussian(rnd, rows * n), gs = gaussian(rnd, n), bs = gaussian(rnd, n), ds = gaussian(rnd, rows * n);
        Tensor[] dx = new Tensor[2], dg = new Tensor[2], db = new Tensor[2];
        DType[] types = {DType.F64, DType.F32};
        for (int i = 0; i < 2; i++) {
            DType dt = types[i];
            // the float64 run starts from the float32-rounded inputs so that both see the same numbers
            Tensor x = tensor(dt, tensor(DType.F32, xs, rows, n).toDoubles(), rows, n);
            Tensor gamma = tensor(dt, tensor(DType.F32, gs, n).toDoubles(), n);
            Tensor beta = tensor(dt, tensor(DType.F32, bs, n).toDoubles(), n);
            Tensor dout = tensor(dt, tensor(DType.F32, ds, rows, n).toDoubles(), rows, n);
            Tensor out = CPU.empty(dt, rows, n), mean = CPU.empty(dt, rows), rstd = CPU.empty(dt, rows);
            CPU.layerNormForward(out, mean, rstd, x, gamma, beta, EPS);
            dx[i] = poisoned(dt, rows, n);
            dg[i] = poisoned(dt, n);
            db[i] = poisoned(dt, n);
            CPU.layerNormBackward(dx[i], dg[i], db[i], dout, x, mean, rstd, gamma);
        }
        assertClose(dx[1], dx[0].toDoubles(), F32_TOL, "dx F32");
        assertClose(dg[1], dg[0].toDoubles(), F32_TOL, "dgamma F32");
        assertClose(db[1], db[0].toDoubles(), F32_TOL, "dbeta F32");
        // dbeta is a plain column sum of dout
        double[] d = tensor(DType.F32, ds, rows, n).toDoubles(), sum = new double[n];
        for (int r = 0; r < rows; r++) for (int j = 0; j < n; j++) sum[j] += d[r * n + j];
        assertClose(db[0], sum, F64_TOL, "dbeta column sum");
    }

    @Test
    void rmsNormForwardMatchesTheDefinition() {
        Random rnd = random("rmsNormForward");
        for (int[] shape : new int[][]{{4, 3, 19}, {257, 130}}) {
            int n = shape[shape.length - 1], size = 1;
            for (int s : shape) size *= s;
            int rows = size / n;
            for (DType dt : new DType[]{DType.F64, DType.F32}) {
                double tol = dt == DType.F64 ? F64_TOL : F32_TOL;
                Tensor x = tensor(dt, gaussian(rnd, size), shape), gamma = tensor(dt, gaussian(rnd, n), n);
                double[][] e = rmsNormReference(x.toDoubles(), gamma.toDoubles(), rows, n);
                Tensor out = poisoned(dt, shape), rstd = poisoned(dt, rows);
                CPU.rmsNormForward(out, rstd, x, gamma, EPS);
                assertAllWritten(out, "out");
                assertAllWritten(rstd, "rstd");
                assertClose(out, e[0], tol, "rmsNorm out " + dt);
                assertClose(rstd, e[1], tol, "rmsNorm rstd " + dt);
            }
        }
    }

    @Test
    void rmsNormBackwardPassesAGradientCheckForEveryInput() {
        Random rnd = random("rmsNormBackward");
        int rows = 7, n = 9;
        Tensor x = tensor(DType.F64, gaussian(rnd, rows * n), rows, n), gamma = tensor(DType.F64, gaussian(rnd, n), n);
        double[] w = gaussian(rnd, rows * n);
        Tensor out = CPU.empty(DType.F64, rows, n), rstd = CPU.empty(DType.F64, rows);
        CPU.rmsNormForward(out, rstd, x, gamma, EPS);
        Tensor dx = poisoned(DType.F64, rows, n), dgamma = poisoned(DType.F64, n);
        CPU.rmsNormBackward(dx, dgamma, tensor(DType.F64, w, rows, n), x, rstd, gamma);
        assertAllWritten(dx, "dx");
        assertAllWritten(dgamma, "dgamma");
        Tensor r2 = CPU.empty(DType.F64, rows);
        java.util.function.Supplier<Double> loss = () -> {
            CPU.rmsNormForward(out, r2, x, gamma, EPS);
            return weighted(w, out);
        };
        assertGradient(x, dx, loss, "rmsNorm dx");
        assertGradient(gamma, dgamma, loss, "rmsNorm dgamma");

        // float32 against float64 over many rows
        int big = 150, m = 70;
        double[] xs = tensor(DType.F32, gaussian(rnd, big * m), big * m).toDoubles();
        double[] gs = tensor(DType.F32, gaussian(rnd, m), m).toDoubles();
        double[] ds = tensor(DType.F32, gaussian(rnd, big * m), big * m).toDoubles();
        Tensor[] gx = new Tensor[2], gg = new Tensor[2];
        DType[] types = {DType.F64, DType.F32};
        for (int i = 0; i < 2; i++) {
            DType dt = types[i];
            Tensor xx = tensor(dt, xs, big, m), g = tensor(dt, gs, m), o = CPU.empty(dt, big, m), rs = CPU.empty(dt, big);
            CPU.rmsNormForward(o, rs, xx, g, EPS);
            gx[i] = poisoned(dt, big, m);
            gg[i] = poisoned(dt, m);
            CPU.rmsNormBackward(gx[i], gg[i], tensor(dt, ds, big, m), xx, rs, g);
        }
        assertClose(gx[1], gx[0].toDoubles(), F32_TOL, "rmsNorm dx F32");
        assertClose(gg[1], gg[0].toDoubles(), F32_TOL, "rmsNorm dgamma F32");
    }

    @Test
    void badShapesNameTheArgument() {
        Tensor x = CPU.zeros(DType.F64, 4, 6), g = CPU.zeros(DType.F64, 6), r = CPU.zeros(DType.F64, 4);
        assertRejected(() -> CPU.layerNormForward(CPU.zeros(DType.F64, 4, 5), r, r, x, g, g, EPS), "out", "[4, 6]");
        assertRejected(() -> CPU.layerNormForward(x.reshape(4, 6), r, r, x, CPU.zeros(DType.F64, 5), g, EPS), "gamma", "[6]", "[5]");
        assertRejected(() -> CPU.layerNormForward(CPU.zeros(DType.F64, 4, 6), r, r, x, g, CPU.zeros(DType.F64, 7), EPS), "beta", "[7]");
        assertRejected(() -> CPU.layerNormForward(CPU.zeros(DType.F64, 4, 6), CPU.zeros(DType.F64, 3), r, x, g, g, EPS), "mean", "[4]", "[3]");
        assertRejected(() -> CPU.layerNormForward(CPU.zeros(DType.F64, 4, 6), r, CPU.zeros(DType.F64, 24), x, g, g, EPS), "rstd", "[4]");
        assertRejected(() -> CPU.layerNormBackward(CPU.zeros(DType.F64, 4, 6), CPU.zeros(DType.F64, 5), g, x, x, r, r, g), "dgamma", "[6]", "[5]");
        assertRejected(() -> CPU.layerNormBackward(CPU.zeros(DType.F64, 6, 4), g, g, x, x, r, r, g), "layerNormBackward", "[6, 4]");
        assertRejected(() -> CPU.rmsNormForward(CPU.zeros(DType.F64, 4, 6), r, x, CPU.zeros(DType.F64, 4), EPS), "gamma", "[6]");
        assertRejected(() -> CPU.rmsNormBackward(CPU.zeros(DType.F64, 4, 6), CPU.zeros(DType.F64, 1), x, x, r, g), "dgamma", "[6]");
        assertRejected(() -> CPU.rmsNormForward(CPU.zeros(DType.F32, 4, 6), r, x, g, EPS), "mixed dtypes");
    }
}
