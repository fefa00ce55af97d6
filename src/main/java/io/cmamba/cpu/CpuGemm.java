package io.cmamba.cpu;

import io.cmamba.tensor.Tensor;

import static io.cmamba.cpu.CpuBackend.data;
import static io.cmamba.cpu.CpuBackend.off;

/**
 * C = alpha op(A) op(B) + beta C in float64: the CPU training hot path (every Linear, forward and
 * backward).
 * <p>
 * Strategy: op(B) is brought to a row-major [K, N] layout (a copy only when transposed), then the
 * rows of C are cut into blocks of {@link #ROWS} handled by separate tasks. A task packs its rows of
 * op(A) for one slab of {@link #DEPTH} k values (so A^T costs no strided inner loop), and for each
 * column panel of {@link #COLS} updates every row of C by four k at a time:
 * {@code c[j] += a0 b0[j] + a1 b1[j] + a2 b2[j] + a3 b3[j]}. That inner loop is a unit-stride loop
 * the JIT vectorises; summing four products per load and store of C quarters the traffic to C,
 * and the [DEPTH, COLS] slab of B (256 KiB) stays in the L2 cache while the rows of the block reuse it.
 * Each element of C is a sum over k in increasing order, the same whatever the thread count.
 */
final class CpuGemm {
    private CpuGemm() {
    }

    /** Rows of C per task. */
    static final int ROWS = 64;
    /** k values per packed slab of A and B. */
    static final int DEPTH = 128;
    /** Columns of C per panel. */
    static final int COLS = 256;

    static void gemm(boolean transA, boolean transB, double alpha, Tensor a, Tensor b, double beta, Tensor c) {
        int m = Math.toIntExact(c.shape().rows()), n = c.shape().cols();
        int k = transA ? Math.toIntExact(a.shape().rows()) : a.shape().cols();
        if (overlaps(c, a)) throw new IllegalArgumentException("gemm: C " + c.shape() + " overlaps A " + a.shape());
        if (overlaps(c, b)) throw new IllegalArgumentException("gemm: C " + c.shape() + " overlaps B " + b.shape());
        double[] av = data(a), cv = data(c);
        int ao = off(a), co = off(c);
        // op(B) as row-major [k, n]
        double[] bv;
        int bo;
        if (transB) {
            bv = transpose(data(b), off(b), n, k);
            bo = 0;
        } else {
            bv = data(b);
            bo = off(b);
        }
        boolean product = k > 0 && alpha != 0;
        int tasks = (m + ROWS - 1) / ROWS;
        Parallel.forEach(tasks, (long) ROWS * n * Math.max(k, 1), t -> {
            int i0 = t * ROWS, i1 = Math.min(m, i0 + ROWS), rows = i1 - i0;
            for (int i = i0; i < i1; i++) {
                int base = co + i * n;
                if (beta == 0) java.util.Arrays.fill(cv, base, base + n, 0.0);
                else if (beta != 1) for (int j = 0; j < n; j++) cv[base + j] *= beta;
            }
            if (!product) return;
            double[] ap = new double[rows * DEPTH];
            for (int k0 = 0; k0 < k; k0 += DEPTH) {
                int kc = Math.min(DEPTH, k - k0);
                packA(transA, alpha, av, ao, m, k, i0, rows, k0, kc, ap);
                for (int j0 = 0; j0 < n; j0 += COLS) {
                    int j1 = Math.min(n, j0 + COLS);
                    for (int r = 0; r < rows; r++)
                        rowUpdate(cv, co + (i0 + r) * n, ap, r * kc, kc, bv, bo + k0 * n, n, j0, j1);
                }
            }
        });
    }

    /** ap[r * kc + kk] = alpha * op(A)[i0 + r, k0 + kk]. */
    private static void packA(boolean transA, double alpha, double[] av, int ao, int m, int k, int i0, int rows,
                              int k0, int kc, double[] ap) {
        if (transA) {
            // A is [k, m]: walk it row by row so that the reads are contiguous
            for (int kk = 0; kk < kc; kk++) {
                int src = ao + (k0 + kk) * m + i0;
                for (int r = 0; r < rows; r++) ap[r * kc + kk] = alpha * av[src + r];
            }
        } else {
            for (int r = 0; r < rows; r++) {
                int src = ao + (i0 + r) * k + k0;
                for (int kk = 0; kk < kc; kk++) ap[r * kc + kk] = alpha * av[src + kk];
            }
        }
    }

    /** c[cBase + j] += sum_kk ap[aBase + kk] * bv[bBase + kk * n + j] for j in [j0, j1). */
    private static void rowUpdate(double[] cv, int cBase, double[] ap, int aBase, int kc, double[] bv, int bBase,
                                  int n, int j0, int j1) {
        int kk = 0;
        for (; kk + 4 <= kc; kk += 4) {
            double a0 = ap[aBase + kk], a1 = ap[aBase + kk + 1], a2 = ap[aBase + kk + 2], a3 = ap[aBase + kk + 3];
            int b0 = bBase + kk * n, b1 = b0 + n, b2 = b1 + n, b3 = b2 + n;
            for (int j = j0; j < j1; j++)
                cv[cBase + j] += a0 * bv[b0 + j] + a1 * bv[b1 + j] + a2 * bv[b2 + j] + a3 * bv[b3 + j];
        }
        for (; kk < kc; kk++) {
            double a0 = ap[aBase + kk];
            int b0 = bBase + kk * n;
            for (int j = j0; j < j1; j++) cv[cBase + j] += a0 * bv[b0 + j];
        }
    }

    /** The [cols, rows] transpose of the row-major [rows, cols] matrix at src[so], in tiles. */
    private static double[] transpose(double[] src, int so, int rows, int cols) {
        double[] t = new double[rows * cols];
        final int tile = 32;
        for (int r0 = 0; r0 < rows; r0 += tile)
            for (int c0 = 0; c0 < cols; c0 += tile) {
                int r1 = Math.min(rows, r0 + tile), c1 = Math.min(cols, c0 + tile);
                for (int r = r0; r < r1; r++)
                    for (int cc = c0; cc < c1; cc++) t[cc * rows + r] = src[so + r * cols + cc];
            }
        return t;
    }

    private static boolean overlaps(Tensor x, Tensor y) {
        if (data(x) != data(y)) return false;
        long x0 = x.offset(), x1 = x0 + x.size(), y0 = y.offset(), y1 = y0 + y.size();
        return x0 < y1 && y0 < x1 && x.size() > 0 && y.size() > 0;
    }
}
