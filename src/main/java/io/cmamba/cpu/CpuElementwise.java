package io.cmamba.cpu;

import io.cmamba.tensor.Activation;
import io.cmamba.tensor.Tensor;

import static io.cmamba.cpu.CpuBackend.data;
import static io.cmamba.cpu.CpuBackend.off;
import static io.cmamba.cpu.CpuMath.sigmoid;
import static io.cmamba.cpu.CpuMath.softplus;

/**
 * Pointwise ops, bias and row reductions of the CPU backend, in float64. Large arrays are cut into
 * fixed chunks (independent of the thread count) so that reductions add their partial sums in the
 * same order on every machine and give bit-identical results.
 */
final class CpuElementwise {
    private CpuElementwise() {
    }

    /** Elements per parallel chunk of a pointwise loop or a reduction. */
    static final int CHUNK = 1 << 14;

    private static int chunks(long n) {
        return (int) ((n + CHUNK - 1) / CHUNK);
    }

    /**
     * out = alpha * a + beta * b. A zero coefficient drops its operand entirely (as in BLAS), so
     * {@code axpby(out, s, x, 0, out)} scales x into a freshly allocated out whatever out held.
     */
    static void axpby(Tensor out, double alpha, Tensor a, double beta, Tensor b) {
        double[] o = data(out), x = data(a), y = data(b);
        int oo = off(out), xo = off(a), yo = off(b);
        long n = out.size();
        Parallel.forEach(chunks(n), CHUNK, c -> {
            int s = c * CHUNK, e = (int) Math.min(n, s + (long) CHUNK);
            if (beta == 0 && alpha == 0) {
                for (int i = s; i < e; i++) o[oo + i] = 0;
            } else if (beta == 0) {
                for (int i = s; i < e; i++) o[oo + i] = alpha * x[xo + i];
            } else if (alpha == 0) {
                for (int i = s; i < e; i++) o[oo + i] = beta * y[yo + i];
            } else {
                for (int i = s; i < e; i++) o[oo + i] = alpha * x[xo + i] + beta * y[yo + i];
            }
        });
    }

    static void mul(Tensor out, Tensor a, Tensor b) {
        double[] o = data(out), x = data(a), y = data(b);
        int oo = off(out), xo = off(a), yo = off(b);
        long n = out.size();
        Parallel.forEach(chunks(n), CHUNK, c -> {
            int s = c * CHUNK, e = (int) Math.min(n, s + (long) CHUNK);
            for (int i = s; i < e; i++) o[oo + i] = x[xo + i] * y[yo + i];
        });
    }

    private static final double GELU_C = Math.sqrt(2 / Math.PI);
    private static final double GELU_A = 0.044715;

    /** f(x) of {@link Activation}. */
    static double apply(Activation f, double x) {
        switch (f) {
            case SILU:
                return x * sigmoid(x);
            case SOFTPLUS:
                return softplus(x);   // the GPU kernel's threshold: above 20, log1p(exp(x)) is x in float32
            case RELU:
                return x > 0 ? x : 0;
            case GELU:
                // 0.5 (1 + tanh z) is sigmoid(2z), without the cancellation of 1 + tanh z for negative x
                return x * sigmoid(2 * GELU_C * (x + GELU_A * x * x * x));
            case SIGMOID:
                return sigmoid(x);
            case NEG_EXP:
                return -Math.exp(x);
            default:
                throw new IllegalArgumentException("activation " + f + " has no CPU implementation");
        }
    }

    /** f'(x) of {@link Activation}. */
    static double derivative(Activation f, double x) {
        switch (f) {
            // 1 - sigmoid(x) is sigmoid(-x), taken directly: even in float64 the subtraction loses every
            // digit by x = 37 (and 1e-5 relative by x = 25), where the float32 kernel is still exact
            case SILU:
                return sigmoid(x) * (1 + x * sigmoid(-x));
            case SOFTPLUS:
                return sigmoid(x);
            case RELU:
                return x > 0 ? 1 : 0;
            case GELU: {
                // with s = sigmoid(2z) = 0.5 (1 + tanh z): 1 - tanh^2 z = 4 s sigmoid(-2z)
                double z2 = 2 * GELU_C * (x + GELU_A * x * x * x);
                double s = sigmoid(z2);
                return s + 2 * x * s * sigmoid(-z2) * GELU_C * (1 + 3 * GELU_A * x * x);
            }
            case SIGMOID:
                return sigmoid(x) * sigmoid(-x);
            case NEG_EXP:
                return -Math.exp(x);
            default:
                throw new IllegalArgumentException("activation " + f + " has no CPU implementation");
        }
    }

    static void activationForward(Activation f, Tensor out, Tensor x) {
        double[] o = data(out), a = data(x);
        int oo = off(out), xo = off(x);
        long n = out.size();
        Parallel.forEach(chunks(n), 8L * CHUNK, c -> {
            int s = c * CHUNK, e = (int) Math.min(n, s + (long) CHUNK);
            for (int i = s; i < e; i++) o[oo + i] = apply(f, a[xo + i]);
        });
    }

    static void activationBackward(Activation f, Tensor dx, Tensor dout, Tensor x) {
        double[] g = data(dx), d = data(dout), a = data(x);
        int go = off(dx), dOff = off(dout), xo = off(x);
        long n = dx.size();
        Parallel.forEach(chunks(n), 8L * CHUNK, c -> {
            int s = c * CHUNK, e = (int) Math.min(n, s + (long) CHUNK);
            for (int i = s; i < e; i++) g[go + i] = d[dOff + i] * derivative(f, a[xo + i]);
        });
    }

    /** x [rows, n] += bias [n] on every row. */
    static void addBias(Tensor x, Tensor bias) {
        double[] a = data(x), b = data(bias);
        int xo = off(x), bo = off(bias);
        int n = x.shape().cols();
        int rows = Math.toIntExact(x.shape().rows());
        Parallel.forEach(rows, n, r -> {
            int base = xo + r * n;
            for (int j = 0; j < n; j++) a[base + j] += b[bo + j];
        });
    }

    /** Columns per task of {@link #sumRows}: a block of 64 doubles is one 512-byte run of each row. */
    private static final int SUM_COLS = 64;

    /** out [n] = sum over the rows of x [rows, n]; each column is summed in row order. */
    static void sumRows(Tensor out, Tensor x) {
        double[] o = data(out), a = data(x);
        int oo = off(out), xo = off(x);
        int n = x.shape().cols();
        int rows = Math.toIntExact(x.shape().rows());
        int blocks = (n + SUM_COLS - 1) / SUM_COLS;
        Parallel.forEach(blocks, (long) rows * SUM_COLS, blk -> {
            int j0 = blk * SUM_COLS, j1 = Math.min(n, j0 + SUM_COLS);
            double[] acc = new double[j1 - j0];
            for (int r = 0; r < rows; r++) {
                int base = xo + r * n;
                for (int j = j0; j < j1; j++) acc[j - j0] += a[base + j];
            }
            System.arraycopy(acc, 0, o, oo + j0, j1 - j0);
        });
    }

    /** out [1] = sum of x^2: chunk sums added in chunk order. */
    static void sumSquares(Tensor out, Tensor x) {
        double[] a = data(x);
        int xo = off(x);
        long n = x.size();
        double[] part = new double[chunks(n)];
        Parallel.forEach(part.length, CHUNK, c -> {
            int s = c * CHUNK, e = (int) Math.min(n, s + (long) CHUNK);
            double acc = 0;
            for (int i = s; i < e; i++) acc += a[xo + i] * a[xo + i];
            part[c] = acc;
        });
        double total = 0;
        for (double p : part) total += p;
        data(out)[off(out)] = total;
    }

    /** out [1] = how many elements of x are NaN or infinite. */
    static void countNonFinite(Tensor out, Tensor x) {
        double[] a = data(x);
        int xo = off(x);
        long n = x.size();
        long[] part = new long[chunks(n)];
        Parallel.forEach(part.length, CHUNK, c -> {
            int s = c * CHUNK, e = (int) Math.min(n, s + (long) CHUNK);
            long k = 0;
            for (int i = s; i < e; i++) if (!Double.isFinite(a[xo + i])) k++;
            part[c] = k;
        });
        long total = 0;
        for (long p : part) total += p;
        data(out)[off(out)] = total;
    }
}
