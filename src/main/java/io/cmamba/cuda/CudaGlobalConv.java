package io.cmamba.cuda;

import io.cmamba.tensor.OpChecks;
import io.cmamba.tensor.Tensor;

/**
 * The global convolution (MODEL.md, "Global convolution kernel"; the contract is the Javadoc of
 * {@code Backend.globalConv*}) on the GPU, with the kernels of kernels/global_conv.cu (whose header
 * describes each strategy):
 * <ul>
 *   <li>{@link #kernel}: K [M, M, D, L] from (A [M, D, N], delta [M, D], B [M, N], C [M, N]) in one
 *       launch; {@link #kernelBackward}: dA, dDelta, dB, dC from dK in three deterministic launches.</li>
 *   <li>{@link #forward}: y [M, B, L, D] = sum_k K^{m,k} * u^k + Dskip u^m, and {@link #backward}: du,
 *       dK, dDskip. Two paths: {@link Path#DIRECT} (tiled direct sums, O(M^2 B D L^2)) and
 *       {@link Path#FFT} (cuFFT, O(M^2 B D L log L) but several passes over padded copies);
 *       {@link Path#AUTO} takes FFT from {@link #FFT_MIN_LENGTH} on, where it was measured to win.</li>
 * </ul>
 * Every op overwrites all of its outputs and issues its work on the backend's stream; scratch
 * memory comes from the backend's caching allocator and is returned when the work is queued.
 * Limits: N at most {@link #MAX_STATES}; the FFT path takes M at most 4 (AUTO falls back to DIRECT
 * above that, or where cuFFT cannot be loaded).
 */
public final class CudaGlobalConv {
    private CudaGlobalConv() {
    }

    /** The convolution algorithm. */
    public enum Path { AUTO, DIRECT, FFT }

    /**
     * The length from which {@link Path#AUTO} takes the FFT path. Measured by GlobalConvBenchmark on an
     * H100 (M 3, D 256, B x L = 131072 tokens; bench/results/gconv-h100.txt): forward plus backward, the
     * FFT path overtakes the direct kernels from L = 128.
     */
    public static final int FFT_MIN_LENGTH = 128;

    /** The largest state size the kernel backward's thread layout takes (one thread per state). */
    public static final int MAX_STATES = 256;

    /** The largest M the FFT pointwise kernels are instantiated for. */
    public static final int FFT_MAX_MODALITIES = 4;

    static final String FILE = "global_conv.cu";

    // constants shared with kernels/global_conv.cu
    private static final int GCK_THREADS = 128, GCK_TILE = 1024, GCK_STAGE = GCK_TILE + GCK_TILE / 32;
    private static final int GCB_THREADS = 256, GCB_CHUNK = 512, GCB_SEG = 64;
    private static final int GCD_T = 64, GCD_TY = 4;

    // ---------------------------------------------------------------- kernel materialisation

    /** K [M, M, D, L] from A [M, D, N], delta [M, D], B [M, N], C [M, N]. */
    public static void kernel(CudaBackend be, Tensor kernel, Tensor A, Tensor delta, Tensor B, Tensor C) {
        enter(be, kernel, A, delta, B, C);
        OpChecks.globalConvKernel(kernel, A, delta, B, C);
        int m = A.dim(0), d = A.dim(1), n = A.dim(2), l = kernel.dim(3);
        requireStates(n);
        if (kernel.size() == 0) return;
        int p = pairsPerBlock(m);
        int shared = Math.max(n * 12 + p * n * 4 + p * 4, p * GCK_STAGE * 4);
        be.launch(be.kernel(FILE, "gck_fwd_p" + p), Dim3.of(ceil(l, GCK_TILE), d, ceil(m * m, p)), Dim3.of(GCK_THREADS),
                shared, kernel, A, delta, B, C, m, d, n, l);
    }

    /** Backward of {@link #kernel}: dA [M, D, N], dDelta [M, D], dB [M, N], dC [M, N] from dKernel [M, M, D, L]. */
    public static void kernelBackward(CudaBackend be, Tensor dA, Tensor dDelta, Tensor dB, Tensor dC, Tensor dKernel,
                                      Tensor A, Tensor delta, Tensor B, Tensor C) {
        enter(be, dA, dDelta, dB, dC, dKernel, A, delta, B, C);
        OpChecks.globalConvKernel(dKernel, A, delta, B, C);
        OpChecks.globalConvKernel(dKernel, dA, dDelta, dB, dC);
        int m = A.dim(0), d = A.dim(1), n = A.dim(2), l = dKernel.dim(3), mm = m * m;
        requireStates(n);
        if (l == 0 || d == 0 || n == 0 || m == 0) {
            for (Tensor t : new Tensor[]{dA, dDelta, dB, dC}) be.fill(t, 0);
            return;
        }
        int p = pairsPerBlock(m), zBlocks = ceil(mm, p);
        // enough lag blocks to fill the GPU about four times over, each at least one staged chunk
        int want = Math.max(1, ceil(4 * be.device().smCount(), d * zBlocks));
        int t = Math.max(1, Math.min(ceil(l, GCB_CHUNK), want));
        int lagsPerBlock = ceil(ceil(l, t), GCB_SEG) * GCB_SEG;
        t = ceil(l, lagsPerBlock);
        try (DeviceBuffer part = be.scratch(4L * d * t * 2 * mm * n);
             DeviceBuffer bcPart = be.scratch(4L * d * 2 * m * n)) {
            int shared = ((((3 * n + 1) / 2) + 1) & ~1) * 8 + p * GCB_CHUNK * 4;
            be.launch(be.kernel(FILE, "gck_bwd_partial_p" + p), Dim3.of(t, d, zBlocks), Dim3.of(GCB_THREADS), shared,
                    part, dKernel, A, delta, m, d, n, l, lagsPerBlock);
            int nt = 32;
            while (nt < n) nt *= 2;
            be.launch(be.kernel(FILE, "gck_bwd_chain"), Dim3.of(d), Dim3.of(nt), 5 * m * nt * 8,
                    dA, dDelta, bcPart, part, dKernel, A, delta, B, C, m, d, n, l, t);
            be.launch(be.kernel(FILE, "gck_bwd_reduce"), Dim3.of(ceil(2 * m * n, 256)), Dim3.of(256), 0,
                    dB, dC, bcPart, m, d, n);
        }
    }

    // ---------------------------------------------------------------- convolution

    /** y [M, B, L, D] = sum_k K^{m,k} * u^k + Dskip u^m (path chosen by length). */
    public static void forward(CudaBackend be, Tensor y, Tensor u, Tensor kernel, Tensor Dskip) {
        forward(be, Path.AUTO, y, u, kernel, Dskip);
    }

    public static void forward(CudaBackend be, Path path, Tensor y, Tensor u, Tensor kernel, Tensor Dskip) {
        enter(be, y, u, kernel, Dskip);
        OpChecks.globalConv(y, u, kernel, Dskip);
        requireDistinct("y", y, "u", u);
        if (y.size() == 0) return;
        if (resolve(path, u.dim(0), u.dim(2)) == Path.FFT) fftForward(be, y, u, kernel, Dskip);
        else directForward(be, y, u, kernel, Dskip);
    }

    /** Backward of {@link #forward}: du [M, B, L, D], dKernel [M, M, D, L], dDskip [M, D] from dy. */
    public static void backward(CudaBackend be, Tensor du, Tensor dKernel, Tensor dDskip, Tensor dy, Tensor u,
                                Tensor kernel, Tensor Dskip) {
        backward(be, Path.AUTO, du, dKernel, dDskip, dy, u, kernel, Dskip);
    }

    public static void backward(CudaBackend be, Path path, Tensor du, Tensor dKernel, Tensor dDskip, Tensor dy, Tensor u,
                                Tensor kernel, Tensor Dskip) {
        enter(be, du, dKernel, dDskip, dy, u, kernel, Dskip);
        OpChecks.globalConv(dy, u, kernel, Dskip);
        OpChecks.globalConv(du, u, dKernel, dDskip);
        requireDistinct("du", du, "dy", dy);
        if (u.size() == 0) {
            // no (b, t): the kernel and skip gradients are empty sums
            be.fill(dKernel, 0);
            be.fill(dDskip, 0);
            return;
        }
        if (resolve(path, u.dim(0), u.dim(2)) == Path.FFT) fftBackward(be, du, dKernel, dy, u, kernel, Dskip);
        else directBackward(be, du, dKernel, dy, u, kernel, Dskip);
        dskip(be, dDskip, dy, u);
    }

    /** The path {@code path} stands for at M modalities and length L (AUTO resolved). */
    public static Path resolve(Path path, int m, int l) {
        boolean fftPossible = m <= FFT_MAX_MODALITIES && CudaFft.available();
        if (path == Path.FFT) {
            if (m > FFT_MAX_MODALITIES)
                throw new IllegalArgumentException("the FFT path of the global convolution takes at most " + FFT_MAX_MODALITIES
                        + " modalities, got M = " + m + " (use the direct path)");
            String why = CudaFft.unavailableReason();
            if (why != null) throw new IllegalStateException("the FFT path of the global convolution needs cuFFT: " + why);
            return Path.FFT;
        }
        if (path == Path.DIRECT) return Path.DIRECT;
        return fftPossible && l >= FFT_MIN_LENGTH ? Path.FFT : Path.DIRECT;
    }

    // ---------------------------------------------------------------- direct path

    private static int directShared(int mo) {
        return (mo * 2 * GCD_T * 33 + GCD_T * 32) * 4;
    }

    private static void directForward(CudaBackend be, Tensor y, Tensor u, Tensor kernel, Tensor Dskip) {
        int m = u.dim(0);
        convDirect(be, "gcd_conv_fwd_m", y, u, kernel, Dskip, m, 1);
    }

    /** out = direct conv of in; the K pair of (output o, input i) is o * pairO + i * pairI. */
    private static void convDirect(CudaBackend be, String name, Tensor out, Tensor in, Tensor kernel, Tensor Dskip,
                                   int pairO, int pairI) {
        int m = in.dim(0), bt = in.dim(1), l = in.dim(2), d = in.dim(3);
        int mo = Math.min(m, 4), groups = ceil(m, mo), tiles = ceil(l, GCD_T);
        be.launch(be.kernel(FILE, name + mo), Dim3.of(ceil(d, 32), ceil(tiles, 2), bt * groups), Dim3.of(32, GCD_TY),
                directShared(mo), out, in, kernel, Dskip, m, bt, l, d, pairO, pairI);
    }

    private static void directBackward(CudaBackend be, Tensor du, Tensor dKernel, Tensor dy, Tensor u, Tensor kernel,
                                       Tensor Dskip) {
        int m = u.dim(0), bt = u.dim(1), l = u.dim(2), d = u.dim(3);
        // du: the same convolution backwards in time with the (m, k) pair transposed
        convDirect(be, "gcd_conv_rev_m", du, dy, kernel, Dskip, 1, m);
        int kg = Math.min(m, 4), tiles = ceil(l, GCD_T);
        long base = (long) ceil(d, 32) * ceil(tiles, 2) * m * ceil(m, kg);
        // split the batch over blocks when the lag tiles alone leave SMs idle; the parts are summed after
        long cap = Math.max(1, (64L << 20) / Math.max(1, dKernel.size())); // parts take at most 256 MiB
        int groups = (int) Math.max(1, Math.min(Math.min(bt, cap), ceilL(8L * be.device().smCount(), base)));
        int shared = (kg * 2 * GCD_T * 32 + GCD_T * 32) * 4;
        CudaFunction corr = be.kernel(FILE, "gcd_corr_m" + kg);
        Dim3 grid = Dim3.of(ceil(d, 32), ceil(tiles, 2), m * ceil(m, kg) * groups);
        if (groups == 1) {
            be.launch(corr, grid, Dim3.of(32, GCD_TY), shared, dKernel, dy, u, m, bt, l, d, 1);
            return;
        }
        long n = dKernel.size();
        try (DeviceBuffer parts = be.scratch(4L * groups * n)) {
            be.launch(corr, grid, Dim3.of(32, GCD_TY), shared, parts, dy, u, m, bt, l, d, groups);
            be.launch(be.kernel(FILE, "gc_sum_parts"), Dim3.of(be.gridFor(n, 256)), Dim3.of(256), 0, dKernel, parts, groups, n);
        }
    }

    /** dDskip [M, D] = sum over (b, t) of dy u, in two deterministic stages. */
    private static void dskip(CudaBackend be, Tensor dDskip, Tensor dy, Tensor u) {
        int m = u.dim(0), rows = Math.multiplyExact(u.dim(1), u.dim(2)), d = u.dim(3);
        int chunks = Math.max(1, Math.min(ceil(rows, 256), ceil(4 * be.device().smCount(), ceil(d, 32) * m)));
        int rowsPerChunk = ceil(rows, chunks);
        chunks = ceil(rows, rowsPerChunk);
        try (DeviceBuffer part = be.scratch(4L * chunks * m * d)) {
            be.launch(be.kernel(FILE, "gc_dskip_partial"), Dim3.of(ceil(d, 32), m, chunks), Dim3.of(32, 8), 0,
                    part, dy, u, m, rows, d, rowsPerChunk);
            be.launch(be.kernel(FILE, "gc_dskip_reduce"), Dim3.of(ceil(m * d, 256)), Dim3.of(256), 0, dDskip, part, chunks, m * d);
        }
    }

    // ---------------------------------------------------------------- FFT path

    /** The transform length: the smallest 2^a or 3 2^a >= 2L - 1, so the circular convolution never wraps. */
    static int fftLength(int l) {
        long need = 2L * l - 1, n = 2;
        while (n < need) n *= 2;
        if (n >= 8 && 3 * n / 4 >= need) n = 3 * n / 4;
        if (n > Integer.MAX_VALUE / 2) throw new IllegalArgumentException("sequence length " + l + " is too long for the FFT path");
        return (int) n;
    }

    /** Rows [MB*D][pitch] from x [MB, L, D], zero-padded to nfft. */
    private static void padTranspose(CudaBackend be, DeviceBuffer buf, Tensor x, int nfft, int pitch) {
        int mb = x.dim(0) * x.dim(1), l = x.dim(2), d = x.dim(3);
        be.launch(be.kernel(FILE, "gcf_pad_transpose"), Dim3.of(ceil(nfft, 32), ceil(d, 32), mb), Dim3.of(32, 8), 0,
                buf, x, l, d, nfft, pitch);
    }

    private static void padRows(CudaBackend be, DeviceBuffer buf, Tensor kernel, int nfft, int pitch) {
        int rows = kernel.dim(0) * kernel.dim(1) * kernel.dim(2), l = kernel.dim(3);
        be.launch(be.kernel(FILE, "gcf_pad_rows"), Dim3.of(rows, ceil(nfft, 256)), Dim3.of(256), 0, buf, kernel, l, nfft, pitch);
    }

    private static void fftForward(CudaBackend be, Tensor y, Tensor u, Tensor kernel, Tensor Dskip) {
        int m = u.dim(0), bt = u.dim(1), l = u.dim(2), d = u.dim(3);
        int nfft = fftLength(l), f = nfft / 2 + 1, pitch = 2 * f;
        long xRows = (long) m * bt * d, kRows = (long) m * m * d;
        try (DeviceBuffer x = be.scratch(4L * xRows * pitch); DeviceBuffer kf = be.scratch(4L * kRows * pitch)) {
            padTranspose(be, x, u, nfft, pitch);
            padRows(be, kf, kernel, nfft, pitch);
            CudaFft.forward(be, x.address(), nfft, xRows);
            CudaFft.forward(be, kf.address(), nfft, kRows);
            int[] slices = batchSlices(be, bt, (long) d * f);
            be.launch(be.kernel(FILE, "gcf_mul_fwd_m" + m), Dim3.of(ceil((long) d * f, 256), slices[0]), Dim3.of(256), 0,
                    x, kf, bt, d, f, slices[1]);
            CudaFft.inverse(be, x.address(), nfft, xRows);
            be.launch(be.kernel(FILE, "gcf_unpad_transpose"), Dim3.of(ceil(l, 32), ceil(d, 32), m * bt), Dim3.of(32, 8), 0,
                    y, x, u, Dskip, bt, l, d, pitch, 1.0f / nfft);
        }
    }

    private static void fftBackward(CudaBackend be, Tensor du, Tensor dKernel, Tensor dy, Tensor u, Tensor kernel,
                                    Tensor Dskip) {
        int m = u.dim(0), bt = u.dim(1), l = u.dim(2), d = u.dim(3);
        int nfft = fftLength(l), f = nfft / 2 + 1, pitch = 2 * f;
        long xRows = (long) m * bt * d, kRows = (long) m * m * d;
        try (DeviceBuffer x = be.scratch(4L * xRows * pitch); DeviceBuffer uf = be.scratch(4L * xRows * pitch);
             DeviceBuffer kf = be.scratch(4L * kRows * pitch)) {
            padTranspose(be, x, dy, nfft, pitch);
            padTranspose(be, uf, u, nfft, pitch);
            padRows(be, kf, kernel, nfft, pitch);
            CudaFft.forward(be, x.address(), nfft, xRows);
            CudaFft.forward(be, uf.address(), nfft, xRows);
            CudaFft.forward(be, kf.address(), nfft, kRows);
            // x: DY -> DU = sum_m conj(Kf[m,k]) DY[m]; kf: Kf -> DK = sum_b DY[m,b] conj(U[k,b])
            int[] slices = batchSlices(be, bt, (long) d * f);
            Dim3 grid = Dim3.of(ceil((long) d * f, 256), slices[0]);
            CudaFunction mul = be.kernel(FILE, "gcf_mul_bwd_m" + m);
            if (slices[0] == 1) {
                be.launch(mul, grid, Dim3.of(256), 0, x, uf, kf, kf, bt, d, f, slices[1]);
            } else {
                long n = kRows * pitch; // floats of the spectrum rows, summed slice by slice
                try (DeviceBuffer parts = be.scratch(4L * slices[0] * n)) {
                    be.launch(mul, grid, Dim3.of(256), 0, x, uf, kf, parts, bt, d, f, slices[1]);
                    be.launch(be.kernel(FILE, "gc_sum_parts"), Dim3.of(be.gridFor(n, 256)), Dim3.of(256), 0, kf, parts, slices[0], n);
                }
            }
            CudaFft.inverse(be, x.address(), nfft, xRows);
            CudaFft.inverse(be, kf.address(), nfft, kRows);
            be.launch(be.kernel(FILE, "gcf_unpad_transpose"), Dim3.of(ceil(l, 32), ceil(d, 32), m * bt), Dim3.of(32, 8), 0,
                    du, x, dy, Dskip, bt, l, d, pitch, 1.0f / nfft);
            be.launch(be.kernel(FILE, "gcf_unpad_rows"), Dim3.of((int) kRows, ceil(l, 256)), Dim3.of(256), 0,
                    dKernel, kf, l, pitch, 1.0f / nfft);
        }
    }

    /**
     * {slices, samples per slice} for the pointwise spectrum kernels: one thread per (d, f) gives
     * D * F threads, too few at short L, so the batch is split until the GPU is about four times full.
     */
    private static int[] batchSlices(CudaBackend be, int bt, long threads) {
        long want = ceilL(4L * be.device().smCount() * 256, threads);
        int slices = (int) Math.max(1, Math.min(bt, want));
        int per = ceil(bt, slices);
        return new int[]{ceil(bt, per), per};
    }

    // ---------------------------------------------------------------- helpers

    private static void enter(CudaBackend be, Tensor... ts) {
        be.context().makeCurrent();
        io.cmamba.tensor.OpChecks.sameBackend(be, ts);
    }

    private static void requireStates(int n) {
        if (n > MAX_STATES)
            throw new IllegalArgumentException("the GPU global convolution takes at most " + MAX_STATES + " states, got N = " + n);
    }

    /** The kernels read one while writing the other from other blocks: they must not overlap. */
    private static void requireDistinct(String outName, Tensor out, String inName, Tensor in) {
        if (out.storage() != in.storage()) return;
        long a0 = out.offset(), a1 = a0 + out.size(), b0 = in.offset(), b1 = b0 + in.size();
        if (a0 < b1 && b0 < a1)
            throw new IllegalArgumentException("globalConv: " + outName + " " + out.shape() + " overlaps " + inName + " "
                    + in.shape() + " in memory; the GPU convolution needs separate buffers");
    }

    /** (m,k) pairs per block of the kernel materialisation: every pair for M <= 3, else groups of 9. */
    private static int pairsPerBlock(int m) {
        return m == 1 ? 1 : m == 2 ? 4 : 9;
    }

    private static int ceil(int a, int b) {
        return (a + b - 1) / b;
    }

    private static int ceil(long a, int b) {
        return Math.toIntExact((a + b - 1) / b);
    }

    private static long ceilL(long a, long b) {
        return (a + b - 1) / b;
    }
}
