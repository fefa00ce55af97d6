package io.cmamba.cpu;

import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static io.cmamba.cpu.CpuTestSupport.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

class CpuGemmTest {

    /** alpha op(A) op(B) + beta C with three plain loops; A is [m, k] or [k, m], B [k, n] or [n, k]. */
    static double[] reference(boolean transA, boolean transB, double alpha, double[] a, double[] b, double beta,
                              double[] c, int m, int n, int k) {
        double[] r = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int p = 0; p < k; p++) {
                    double x = transA ? a[p * m + i] : a[i * k + p];
                    double y = transB ? b[j * k + p] : b[p * n + j];
                    s += x * y;
                }
                r[i * n + j] = alpha * s + (beta == 0 ? 0 : beta * c[i * n + j]);
            }
        return r;
    }

    private static void check(Random rnd, DType dt, boolean transA, boolean transB, int m, int n, int k,
                              double alpha, double beta) {
        String what = dt + " " + (transA ? "A^T" : "A") + (transB ? "B^T" : "B") + " m" + m + " n" + n + " k" + k
                + " alpha " + alpha + " beta " + beta;
        Tensor a = transA ? tensor(dt, gaussian(rnd, k * m), k, m) : tensor(dt, gaussian(rnd, m * k), m, k);
        Tensor b = transB ? tensor(dt, gaussian(rnd, n * k), n, k) : tensor(dt, gaussian(rnd, k * n), k, n);
        Tensor c = beta == 0 ? poisoned(dt, m, n) : tensor(dt, gaussian(rnd, m * n), m, n);
        double[] e = reference(transA, transB, alpha, a.toDoubles(), b.toDoubles(), beta, c.toDoubles(), m, n, k);
        CPU.gemm(transA, transB, alpha, a, b, beta, c);
        assertAllWritten(c, "C of " + what);
        assertClose(c, e, dt == DType.F64 ? F64_TOL : F32_TOL, what);
    }

    @Test
    void everyTransposeMatchesTheTripleLoop() {
        Random rnd = random("gemm");
        // sizes that cross the row, depth and column blocks, and tiny ones
        int[][] sizes = {{5, 3, 7}, {1, 1, 1}, {131, 67, 259}, {70, 300, 3}, {64, 256, 128}};
        for (DType dt : new DType[]{DType.F64, DType.F32})
            for (int[] s : sizes)
                for (int t = 0; t < 4; t++) {
                    boolean ta = (t & 1) != 0, tb = (t & 2) != 0;
                    check(rnd, dt, ta, tb, s[0], s[1], s[2], 1, 0);
                    check(rnd, dt, ta, tb, s[0], s[1], s[2], rnd.nextGaussian(), rnd.nextGaussian());
                }
    }

    @Test
    void betaOneAccumulatesAndZeroDepthOnlyScales() {
        Random rnd = random("gemmEdges");
        check(rnd, DType.F64, false, true, 9, 11, 13, 0.5, 1);
        check(rnd, DType.F64, true, false, 9, 11, 13, 0, 2);
        // k = 0: the product is empty, C = beta C (and zeros when beta is 0, NaN or not); A is given
        // transposed, [0, 3], because a [3, 0] matrix reads as 0 rows
        double[] c0 = gaussian(rnd, 12);
        Tensor c = tensor(DType.F64, c0, 3, 4);
        CPU.gemm(true, false, 1, CPU.empty(DType.F64, 0, 3), CPU.empty(DType.F64, 0, 4), -2, c);
        double[] e = new double[12];
        for (int i = 0; i < 12; i++) e[i] = -2 * c0[i];
        assertClose(c, e, 0, "k = 0");
        Tensor p = poisoned(DType.F64, 3, 4);
        CPU.gemm(true, false, 1, CPU.empty(DType.F64, 0, 3), CPU.empty(DType.F64, 0, 4), 0, p);
        assertArrayEquals(new double[12], p.toDoubles());
    }

    @Test
    void leadingDimensionsFoldIntoRows() {
        Random rnd = random("gemmFold");
        double[] x = gaussian(rnd, 2 * 3 * 5), w = gaussian(rnd, 4 * 5);
        Tensor y = poisoned(DType.F64, 2, 3, 4);
        CPU.gemm(false, true, 1, tensor(DType.F64, x, 2, 3, 5), tensor(DType.F64, w, 4, 5), 0, y);
        assertClose(y, reference(false, true, 1, x, w, 0, null, 6, 4, 5), F64_TOL, "[2, 3, 5] x [4, 5]^T");
    }

    /** The products of a Linear layer's backward, y = x W^T: dx = dy W and dW = dy^T x. */
    @Test
    void linearLayerGradientsFromGemmPassAGradientCheck() {
        Random rnd = random("gemmGradient");
        int rows = 7, in = 5, out = 6;
        Tensor x = tensor(DType.F64, gaussian(rnd, rows * in), rows, in), w = tensor(DType.F64, gaussian(rnd, out * in), out, in);
        double[] weights = gaussian(rnd, rows * out);
        Tensor dy = tensor(DType.F64, weights, rows, out);
        Tensor dx = poisoned(DType.F64, rows, in), dw = poisoned(DType.F64, out, in);
        CPU.gemm(false, false, 1, dy, w, 0, dx);
        CPU.gemm(true, false, 1, dy, x, 0, dw);
        Tensor y = CPU.empty(DType.F64, rows, out);
        java.util.function.Supplier<Double> loss = () -> {
            CPU.gemm(false, true, 1, x, w, 0, y);
            return weighted(weights, y);
        };
        assertGradient(x, dx, loss, "dx = dy W");
        assertGradient(w, dw, loss, "dW = dy^T x");
        // the same dW with the other transpose: (x^T dy)^T
        Tensor dwT = poisoned(DType.F64, in, out);
        CPU.gemm(true, false, 1, x, dy, 0, dwT);
        double[] t = dwT.toDoubles(), e = dw.toDoubles();
        for (int i = 0; i < out; i++)
            for (int j = 0; j < in; j++) assertClose(new double[]{t[j * out + i]}, new double[]{e[i * in + j]}, F64_TOL, "x^T dy");
    }

    @Test
    void badShapesNameTheArgument() {
        Tensor a = CPU.zeros(DType.F64, 3, 4), b = CPU.zeros(DType.F64, 5, 6);
        assertRejected(() -> CPU.gemm(false, false, 1, a, b, 0, CPU.zeros(DType.F64, 3, 6)), "inner dimensions", "[3, 4]", "[5, 6]");
        assertRejected(() -> CPU.gemm(false, true, 1, a, CPU.zeros(DType.F64, 6, 4), 0, CPU.zeros(DType.F64, 3, 5)),
                "expected C [3, 6]", "[3, 5]");
        assertRejected(() -> CPU.gemm(true, false, 1, a, CPU.zeros(DType.F64, 3, 2), 0, CPU.zeros(DType.F32, 4, 2)), "mixed dtypes");
        Tensor big = CPU.zeros(DType.F64, 2, 4, 4);
        assertRejected(() -> CPU.gemm(false, false, 1, big.select(0), big.select(1), 0, big.select(0)), "overlaps A");
        assertRejected(() -> CPU.gemm(false, false, 1, a, big.select(1), 0, big.select(1).narrow(0, 3)), "overlaps B");
    }
}
