package io.cmamba.cuda;

import io.cmamba.tensor.Activation;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static io.cmamba.cuda.GpuTestSupport.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Pointwise kernels, bias, row sums and scalar reductions against the CPU backend, on sizes that
 * take the float4 path, the scalar tail and (through views one element in) the unaligned path.
 */
@Tag("gpu")
class ElementwiseGpuTest {
    /** Sizes: tiny, odd, a multiple of 4, large and odd. */
    private static final int[] SIZES = {1, 3, 7, 64, 1001, 262147};

    /** A view of n elements starting one element in: its pointer is not 16-byte aligned. */
    private static Pair unaligned(Random rnd, int n) {
        Pair p = pair(gaussian(rnd, n + 1), n + 1);
        return new Pair(p.cpu().narrow(1, n), p.gpu().narrow(1, n));
    }

    @Test
    void fillFloatAndInt() {
        for (int n : SIZES) {
            Tensor f = gpu().empty(DType.F32, n), i = gpu().empty(DType.I32, n);
            gpu().fill(f, 1.5);
            gpu().fill(i, -3);
            for (float v : f.toFloats()) assertEquals(1.5f, v);
            for (int v : i.toInts()) assertEquals(-3, v);
            f.close();
            i.close();
        }
    }

    @Test
    void float64IsRejected() {
        CudaBackend be = gpu(); // outside the lambda: without a GPU the test must skip, not count a wrong exception
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> be.empty(DType.F64, 2, 3));
        assertTrue(e.getMessage().contains("F64") && e.getMessage().contains("[2, 3]"), e.getMessage());
        assertTrue(!gpu().supports(DType.F64) && gpu().supports(DType.F32) && gpu().supports(DType.I32));
    }

    @Test
    void transfersRoundTrip() {
        Random rnd = random("transfersRoundTrip");
        double[] v = gaussian(rnd, 1000);
        Tensor t = gpu().fromDoubles(DType.F32, v, 10, 100);
        float[] back = t.toFloats();
        for (int i = 0; i < v.length; i++) assertEquals((float) v[i], back[i]);
        int[] ints = {5, -1, 7, Integer.MAX_VALUE, Integer.MIN_VALUE};
        assertArrayEquals(ints, gpu().fromInts(ints, 5).toInts());
        Tensor empty = gpu().empty(DType.F32, 0, 4);
        assertEquals(0, empty.toFloats().length);
    }

    @Test
    void copyAndCopyBlock() {
        Random rnd = random("copyBlock");
        for (int n : SIZES) {
            try (Pair src = gaussianPair(rnd, n); Pair out = poisoned(n)) {
                CPU.copy(out.cpu(), src.cpu());
                gpu().copy(out.gpu(), src.gpu());
                assertMatches(out, 0, "copy " + n);
            }
        }
        // {rows, cols, srcStride, srcOffset, outStride, outOffset}: aligned (vector path) and not
        int[][] cases = {{4, 8, 8, 0, 12, 4}, {3, 5, 7, 1, 9, 2}, {100, 64, 128, 64, 64, 0}, {17, 33, 40, 3, 33, 0}, {1, 1, 1, 0, 1, 0}};
        for (int[] c : cases) {
            int rows = c[0], cols = c[1];
            int srcSize = c[3] + (rows - 1) * c[2] + cols, outSize = c[5] + (rows - 1) * c[4] + cols;
            try (Pair src = gaussianPair(rnd, srcSize); Pair out = poisoned(outSize)) {
                CPU.copyBlock(out.cpu(), c[5], c[4], src.cpu(), c[3], c[2], rows, cols);
                gpu().copyBlock(out.gpu(), c[5], c[4], src.gpu(), c[3], c[2], rows, cols);
                // elements outside the block stay NaN on both sides
                double[] g = out.gpu().toDoubles(), e = out.cpu().toDoubles();
                for (int i = 0; i < g.length; i++)
                    assertTrue(Double.compare(g[i], e[i]) == 0, "copyBlock " + java.util.Arrays.toString(c) + " element " + i);
            }
        }
    }

    @Test
    void axpbyAndMul() {
        Random rnd = random("axpbyAndMul");
        for (int n : SIZES) {
            try (Pair a = gaussianPair(rnd, n); Pair b = gaussianPair(rnd, n); Pair out = poisoned(n)) {
                CPU.axpby(out.cpu(), 0.75, a.cpu(), -1.25, b.cpu());
                gpu().axpby(out.gpu(), 0.75, a.gpu(), -1.25, b.gpu());
                assertMatches(out, TOL, "axpby " + n);
                CPU.mul(out.cpu(), a.cpu(), b.cpu());
                gpu().mul(out.gpu(), a.gpu(), b.gpu());
                assertMatches(out, TOL, "mul " + n);
            }
            // a zero coefficient drops its operand: a scaled copy into a NaN-filled out, out aliasing b
            try (Pair a = gaussianPair(rnd, n); Pair out = poisoned(n)) {
                CPU.axpby(out.cpu(), 2, a.cpu(), 0, out.cpu());
                gpu().axpby(out.gpu(), 2, a.gpu(), 0, out.gpu());
                assertMatches(out, TOL, "axpby beta 0 " + n);
                CPU.fill(out.cpu(), Double.NaN);
                gpu().fill(out.gpu(), Double.NaN);
                CPU.axpby(out.cpu(), 0, out.cpu(), 0, out.cpu());
                gpu().axpby(out.gpu(), 0, out.gpu(), 0, out.gpu());
                assertMatches(out, 0, "axpby zero " + n);
            }
        }
        try (Pair a = unaligned(rnd, 1001); Pair b = unaligned(rnd, 1001)) {
            Pair out = poisoned(1001);
            CPU.axpby(out.cpu(), 1.5, a.cpu(), 0.5, b.cpu());
            gpu().axpby(out.gpu(), 1.5, a.gpu(), 0.5, b.gpu());
            assertMatches(out, TOL, "axpby unaligned");
        }
    }

    @Test
    void activationsForwardAndBackward() {
        Random rnd = random("activations");
        for (Activation f : Activation.values()) {
            for (int n : new int[]{1, 5, 4096, 100003}) {
                double[] x = gaussian(rnd, n);
                for (int i = 0; i < n; i += 97) x[i] *= 15;  // the tails: large |x| (softplus threshold, overflow-safe sigmoid)
                try (Pair xs = pair(x, n); Pair g = gaussianPair(rnd, n); Pair out = poisoned(n)) {
                    CPU.activationForward(f, out.cpu(), xs.cpu());
                    gpu().activationForward(f, out.gpu(), xs.gpu());
                    assertMatches(out, TOL, f + " forward " + n);
                    CPU.activationBackward(f, out.cpu(), g.cpu(), xs.cpu());
                    gpu().activationBackward(f, out.gpu(), g.gpu(), xs.gpu());
                    assertMatches(out, TOL, f + " backward " + n);
                    // in place: out aliases x
                    CPU.activationForward(f, xs.cpu(), xs.cpu());
                    gpu().activationForward(f, xs.gpu(), xs.gpu());
                    assertMatches(xs, TOL, f + " in place " + n);
                }
            }
            try (Pair x = unaligned(rnd, 999)) {
                Pair out = poisoned(999);
                CPU.activationForward(f, out.cpu(), x.cpu());
                gpu().activationForward(f, out.gpu(), x.gpu());
                assertMatches(out, TOL, f + " unaligned");
            }
        }
    }

    @Test
    void addBiasAndSumRows() {
        Random rnd = random("addBiasAndSumRows");
        int[][] shapes = {{1, 1}, {3, 5}, {7, 128}, {1000, 33}, {51200 / 8, 512}, {2, 3, 4}, {0, 6}};
        for (int[] s : shapes) {
            int cols = s[s.length - 1];
            try (Pair x = gaussianPair(rnd, s); Pair bias = gaussianPair(rnd, cols); Pair out = poisoned(cols)) {
                CPU.addBias(x.cpu(), bias.cpu());
                gpu().addBias(x.gpu(), bias.gpu());
                assertMatches(x, TOL, "addBias " + java.util.Arrays.toString(s));
                CPU.sumRows(out.cpu(), x.cpu());
                gpu().sumRows(out.gpu(), x.gpu());
                assertMatches(out, SUM_TOL, "sumRows " + java.util.Arrays.toString(s));
            }
        }
    }

    @Test
    void sumSquaresAndCountNonFinite() {
        Random rnd = random("reductions");
        for (int n : new int[]{0, 1, 7, 1000, 1 << 20, 3_000_001}) {
            double[] v = gaussian(rnd, n);
            int bad = 0;
            for (int i = 0; i < n; i += 9973) {
                v[i] = (i / 9973) % 3 == 0 ? Double.NaN : (i / 9973) % 3 == 1 ? Double.POSITIVE_INFINITY : Double.NEGATIVE_INFINITY;
                bad++;
            }
            try (Pair x = pair(v, n); Pair out = poisoned(1)) {
                CPU.countNonFinite(out.cpu(), x.cpu());
                gpu().countNonFinite(out.gpu(), x.gpu());
                assertEquals(bad, (int) out.gpu().toFloats()[0], "countNonFinite " + n);
                assertMatches(out, 0, "countNonFinite " + n);
            }
            for (int i = 0; i < n; i += 9973) v[i] = 1;
            try (Pair x = pair(v, n); Pair out = poisoned(1)) {
                CPU.sumSquares(out.cpu(), x.cpu());
                gpu().sumSquares(out.gpu(), x.gpu());
                assertMatches(out, 1e-6, "sumSquares " + n);
            }
        }
    }
}
