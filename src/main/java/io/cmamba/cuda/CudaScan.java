package io.cmamba.cuda;

import io.cmamba.tensor.DType;
import io.cmamba.tensor.Saved;
import io.cmamba.tensor.ScanGrads;
import io.cmamba.tensor.ScanInputs;
import io.cmamba.tensor.Tensor;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The coupled selective scan on the GPU: kernels/coupled_scan_fwd.cu and coupled_scan_bwd.cu (their
 * header comments give the strategy). Arguments are checked by {@link CudaBackend} before these run.
 * <p>
 * Launch shapes come from the sizes: each channel's N states are split over K = ceil(N / NS)
 * threads with NS states in registers, a block holds DT = min(D, 128 / K) channels (NS, K and DT
 * compile-time constants: one module per (M, NS, T, K, DT), compiled on first use and cached on
 * disk; K follows from N and DT from D, so a model needs one or two per kernel), the forward runs
 * one block per (channel tile, sample), the backward one per (channel tile, group of samples) with
 * the groups sized to fill the GPU several times over. The forward keeps the state entering every
 * {@link #CHUNK_STEPS}-th step ({@link ChunkStates}); the backward recomputes the rest.
 */
public final class CudaScan {
    static final int CHUNK = 16;
    static final int MAX_MODALITIES = 8;

    private CudaScan() {
    }

    private static final String FWD = "coupled_scan_fwd.cu", BWD = "coupled_scan_bwd.cu";

    /** Steps between the states the forward saves for the backward (a multiple of both chunk lengths). */
    static final int CHUNK_STEPS = 16;
    /** Threads per block of either kernel (at most; fewer when D is small). */
    static final int THREADS = 128;
    /** Backward waves of blocks aimed at: enough that the tail wave is short. */
    private static final int BWD_WAVES = 8;

    /** Bytes of the kernels' CoupledScanParams: 23 pointers then 12 ints (coupled_scan_common.cuh). */
    static final int PARAM_BYTES = 23 * 8 + 12 * 4;
    /**
     * Whether the forward stages its inputs by tensor maps where the device (sm_90 on) and the shapes allow
     * ({@code -Dcmamba.scan.tma=false}: cp.async staging everywhere, to compare).
     */
    private static volatile boolean tensorMaps = !"false".equalsIgnoreCase(System.getProperty("cmamba.scan.tma"));

    /** Turns the forward's tensor-map staging on or off (tests compare the two stagings). */
    static void useTensorMaps(boolean on) {
        tensorMaps = on;
    }

    /** Shared memory a multiprocessor gives its blocks (228 KiB less 1 KiB reserved per block, H100). */
    private static final int SM_SHARED_BYTES = 227 * 1024;

    /** What one kernel launch needs besides the tensors. */
    record Plan(int modalities, int statesPerThread, int lanes, int tileChannels, int threads, int steps, int minBlocks,
                int sharedBytes, boolean prefetch) {
        String prelude(String kind) {
            return "#define CS_M " + modalities + "\n#define CS_NS " + statesPerThread + "\n#define CS_T " + steps + "\n"
                    + "#define CS_K " + lanes + "\n#define CS_DT " + tileChannels + "\n"
                    + (kind.equals("fwd") ? "#define CS_FWD_THREADS " + THREADS + "\n#define CS_FWD_MIN_BLOCKS " + minBlocks + "\n"
                    : "#define CS_BWD_MIN_BLOCKS " + minBlocks + "\n");
        }

        int tiles(int channels) {
            return (channels + tileChannels - 1) / tileChannels;
        }
    }

    private static int pow2ceil(int x) {
        return x <= 1 ? 1 : Integer.highestOneBit(x - 1) << 1;
    }

    /** Floats of one row of the forward's y partials, [K][DT] padded (cs_ypart_row). */
    static int ypartRow(int tileChannels, int lanes) {
        int row = lanes * tileChannels;
        return row + (tileChannels < 32 && row % 32 == 0 ? tileChannels : 0);
    }

    /** Row stride of the backward's [K][S] partial-sum arrays of 16-byte words (cs_partial_stride). */
    static int partialStride(int tileChannels, int lanes) {
        int warpLanes = 8;   // a quarter warp
        int cw = lanes <= warpLanes && warpLanes % lanes == 0 ? warpLanes / lanes : 1;
        int s = (tileChannels + cw - 1) / cw * cw;
        if (((s / cw) & 1) == 0) s += cw;
        return s;
    }

    /** Forward plan: NS = 8 from N = 32 on, 4 from 9, else N rounded up to a power of two (one thread per channel). */
    static Plan forwardPlan(int m, int n, int d, int maxSharedBytes) {
        int ns = n < 8 ? pow2ceil(n) : (n < 32 ? 4 : 8);
        int lanes = (n + ns - 1) / ns, np = lanes * ns;
        int dt = Math.max(1, Math.min(d, THREADS / lanes));
        int threads = dt * lanes;
        int steps = 8;
        long bytes = forwardShared(m, steps, dt, lanes, np);
        if (bytes > maxSharedBytes) {
            steps = 4;
            bytes = forwardShared(m, steps, dt, lanes, np);
        }
        if (bytes > maxSharedBytes)
            throw new IllegalArgumentException("coupledScan: M = " + m + " modalities with N = " + n + " states need "
                    + bytes + " B of shared memory per block, the device offers " + maxSharedBytes);
        // 4 blocks (16 warps) per multiprocessor where 128 registers hold the M x NS exponent factors
        // without spilling (M * NS <= 24: 1.71 -> 1.42 ms at the paper's setting) and the shared memory fits
        int minBlocks = m * ns <= 24 && blocksPerSm(bytes, 4) >= 4 ? 4 : 3;
        return new Plan(m, ns, lanes, dt, threads, steps, minBlocks, (int) bytes, false);
    }

    private static long forwardShared(int m, int t, int dt, int lanes, int np) {
        // 32 floats: the two mbarriers of the tensor-map staging, the boxes after them 128-byte aligned
        long floats = 32 + 2L * m * t * 3 * dt + 2L * m * t * 2 * np + 4L * m * t * dt + ((m * t + 3) & ~3) + (long) m * t * ypartRow(dt, lanes);
        return 4 * floats;
    }

    /** Backward plan: NS = 4 up to 4 modalities, 2 beyond (registers), at most N rounded up to a power of two. */
    static Plan backwardPlan(int m, int n, int d, int chunkSteps, int maxSharedBytes) {
        int ns = Math.min(m <= 4 ? 4 : 2, pow2ceil(n));
        int lanes = (n + ns - 1) / ns, np = lanes * ns;
        int dt = Math.max(1, Math.min(d, THREADS / lanes));
        int steps = 4;
        // fewer channels per block where a full tile's staging exceeds the shared memory (M = 8 with N <= 2)
        while (dt > 1 && backwardShared(m, steps, dt, lanes, np, ns, dt * lanes, chunkSteps, 1) > maxSharedBytes) dt /= 2;
        int threads = dt * lanes;
        // a second staging buffer lets the next sub-chunk's copies overlap the work, unless it costs a block per SM
        long one = backwardShared(m, steps, dt, lanes, np, ns, threads, chunkSteps, 1);
        long two = backwardShared(m, steps, dt, lanes, np, ns, threads, chunkSteps, 2);
        // 4 blocks per multiprocessor (128 registers) where the shared memory holds 4 with that buffer, else 3
        // (168 registers): the reverse step is latency-bound, and the fourth block took the paper's setting
        // from 6.48 to 5.73 ms (bench/NOTES-scan.md, v9)
        int minBlocks = two <= maxSharedBytes && blocksPerSm(two, 4) >= 4 ? 4 : 3;
        boolean prefetch = two <= maxSharedBytes && blocksPerSm(two, minBlocks) >= blocksPerSm(one, minBlocks);
        long bytes = prefetch ? two : one;
        if (bytes > maxSharedBytes)
            throw new IllegalArgumentException("coupledScanBackward: M = " + m + " modalities with N = " + n + " states need "
                    + bytes + " B of shared memory per block, the device offers " + maxSharedBytes);
        return new Plan(m, ns, lanes, dt, threads, steps, minBlocks, (int) bytes, prefetch);
    }

    private static long blocksPerSm(long sharedBytes, int cap) {
        return Math.min(cap, SM_SHARED_BYTES / (sharedBytes + 1024));
    }

    static int subChunks(int chunkSteps, int steps) {
        return (chunkSteps + steps - 1) / steps;
    }

    private static long backwardShared(int m, int t, int dt, int lanes, int np, int ns, int threads, int chunkSteps, int buffers) {
        int s = partialStride(dt, lanes);
        long floats = (long) buffers * m * t * 4 * dt + (long) buffers * m * t * 2 * np + 4L * m * t * dt + 2L * m * t * dt
                + ((2 * m * t + m * dt + 3) & ~3) + ((m * 2L * ns * threads + 3) & ~3L) + (long) m * lanes * s * 4
                + (long) t * ns * threads + (((long) subChunks(chunkSteps, t) * ns * threads + 3) & ~3L)
                + 4L * (m * 2 * Math.max(1, ns / 4) * lanes + m * dt);
        return 4 * floats;
    }

    /**
     * What the forward keeps for the backward: s entering every {@code chunkSteps}-th step after the
     * first, [B, nSaved, D, N] (no buffer when the sequence is one chunk), and the sizes it was made for.
     */
    static final class ChunkStates implements Saved {
        final DeviceBuffer states;
        final int modalities, batch, length, channels, n, chunkSteps, nSaved;
        private boolean closed;

        ChunkStates(DeviceBuffer states, int modalities, int batch, int length, int channels, int n, int chunkSteps, int nSaved) {
            this.states = states;
            this.modalities = modalities;
            this.batch = batch;
            this.length = length;
            this.channels = channels;
            this.n = n;
            this.chunkSteps = chunkSteps;
            this.nSaved = nSaved;
        }

        long address() {
            if (closed) throw new IllegalStateException("coupledScanBackward: the forward's saved states were already closed");
            return states == null ? 0 : states.address();
        }

        @Override
        public void close() {
            if (closed) return;
            closed = true;
            if (states != null) states.close();
        }
    }

    /** The kernels' parameter block (layout of CoupledScanParams). */
    private static final class Params {
        private final ByteBuffer buf = ByteBuffer.allocate(PARAM_BYTES).order(ByteOrder.LITTLE_ENDIAN);

        Params ptr(Tensor t) {
            buf.putLong(t == null ? 0 : CudaBackend.address(t));
            return this;
        }

        Params ptr(long address) {
            buf.putLong(address);
            return this;
        }

        Params i32(int v) {
            buf.putInt(v);
            return this;
        }

        byte[] bytes() {
            if (buf.position() != PARAM_BYTES)
                throw new IllegalStateException("coupled scan parameter block has " + buf.position() + " bytes, expected " + PARAM_BYTES);
            return buf.array();
        }
    }

    private static int sharedLimit(CudaBackend b) {
        return Math.max(b.device().maxSharedPerBlockOptin(), b.device().maxSharedPerBlock());
    }

    /**
     * The forward's least work (MODEL.md's coupled scan over M, B, L, D, N), with E = MBLDN elements
     * and X = MBLD: bytes of u, delta, z, B, C, A, Dskip read and out written once; E + 2X exponentials
     * (Abar, and per (m, b, t, d) softplus and the gate's sigmoid); 5E + 2BLDN FMAs (delta A, Abar s,
     * C.h, the G and V sums, and per (b, t, d, n) the state update). The chunk states kept for the
     * backward are this implementation's choice and not counted.
     */
    public static KernelWork forwardWork(int m, int b, int l, int d, int n) {
        double x = (double) m * b * l * d, e = x * n, y = (double) m * b * l * n;
        return new KernelWork(4 * (4 * x + 2 * y + (double) m * d * n + (double) m * d), 5 * e + 2.0 * b * l * d * n, e + 2 * x);
    }

    /**
     * The backward's least work: u, delta, z, dout, B, C, A, Dskip read and du, ddelta, dz, dB, dC, dA,
     * dDskip written once; E + 2X exponentials; 13E FMAs (delta A, H, the g recurrence, Abar s, y, P,
     * the ddelta, dA and du sums, the dB and dC terms and their sums over d). Recomputing the states is
     * not counted.
     */
    public static KernelWork backwardWork(int m, int b, int l, int d, int n) {
        double x = (double) m * b * l * d, e = x * n, y = (double) m * b * l * n;
        return new KernelWork(4 * (7 * x + 4 * y + 2.0 * m * d * n + 2.0 * m * d), 13 * e, e + 2 * x);
    }

    /**
     * Launches the forward; returns the chunk states for the backward (none when {@code keepStates} is
     * false: inference). out [M,B,L,D]; finalState [B,D,N] or null.
     */
    public static Saved forward(CudaBackend b, ScanInputs in, Tensor out, Tensor finalState, boolean keepStates) {
        final int m = in.modalities(), nb = in.batch(), l = in.length(), d = in.channels(), n = in.states();
        int nSaved = keepStates ? Math.max(0, (l + CHUNK_STEPS - 1) / CHUNK_STEPS - 1) : 0;
        DeviceBuffer states = nSaved > 0 && n > 0 && d > 0 ? b.scratch((long) nb * nSaved * d * n * 4) : null;
        ChunkStates saved = new ChunkStates(states, m, nb, l, d, n, CHUNK_STEPS, nSaved);
        if (n == 0) throw new IllegalArgumentException("coupledScan: A " + in.A().shape() + " has no states (N = 0)");
        if (nb == 0 || d == 0) return saved;
        Plan plan = forwardPlan(m, n, d, sharedLimit(b));
        byte[] maps = tensorMaps(b, in, plan);
        byte[] params = new Params()
                .ptr(in.u()).ptr(in.deltaPre()).ptr(in.z()).ptr(in.A()).ptr(in.B()).ptr(in.C()).ptr(in.Dskip())
                .ptr(in.lengths()).ptr(in.initialState()).ptr(out).ptr(finalState).ptr(saved.address())
                .ptr(0).ptr(0).ptr(0).ptr(0).ptr(0).ptr(0).ptr(0).ptr(0).ptr(0).ptr(0)
                .ptr(b.errorWord().address())
                .i32(m).i32(nb).i32(l).i32(d).i32(n).i32(plan.lanes()).i32(CHUNK_STEPS).i32(nSaved).i32(0).i32(0)
                .i32(0).i32(maps != null ? 1 : 0)
                .bytes();
        int gy = Math.min(nb, 65535), gz = (nb + gy - 1) / gy;
        CudaFunction f = b.module(FWD, plan.prelude("fwd")).function("coupled_scan_fwd");
        b.launch(forwardWork(m, nb, l, d, n), f, Dim3.of(plan.tiles(d), gy, gz), Dim3.of(plan.threads()), plan.sharedBytes(),
                params, maps != null ? maps : ScanTensorMaps.NONE);
        return saved;
    }

    /** Whether the forward of {@code in} on {@code b} stages by tensor maps (tests check that they ran). */
    static boolean stagesByTensorMaps(CudaBackend b, ScanInputs in) {
        return tensorMaps(b, in, forwardPlan(in.modalities(), in.states(), in.channels(), sharedLimit(b))) != null;
    }

    /**
     * The forward's CsTensorMaps parameter (the maps of delta_pre, u, z, B, C), or null (cp.async staging)
     * where the device is older than sm_90, a box would not be whole rows of 16-byte multiples at 128-byte
     * aligned places (the kernel's condition), or an input is misaligned.
     */
    private static byte[] tensorMaps(CudaBackend b, ScanInputs in, Plan plan) {
        final int m = in.modalities(), nb = in.batch(), l = in.length(), d = in.channels(), n = in.states();
        int np = plan.lanes() * plan.statesPerThread(), t = plan.steps(), dt = plan.tileChannels();
        if (!tensorMaps || b.device().major() < 9 || n != np || (t * dt) % 32 != 0 || (t * np) % 32 != 0) return null;
        Tensor[] rows = {in.deltaPre(), in.u(), in.z(), in.B(), in.C()};
        ScanTensorMaps.Spec[] specs = new ScanTensorMaps.Spec[5];
        for (int i = 0; i < 5; i++) {
            boolean x = i < 3;
            specs[i] = ScanTensorMaps.spec(CudaBackend.address(rows[i]), m, nb, l, x ? d : n, x ? dt : n, t);
            if (specs[i] == null) return null;
        }
        return ScanTensorMaps.parameter(specs, new String[] {"delta_pre", "u", "z", "B", "C"});
    }

    /** Launches the backward: writes every non-null gradient of {@code g}. */
    public static void backward(CudaBackend b, ScanInputs in, Saved saved, Tensor dout, Tensor dFinalState, ScanGrads g) {
        final int m = in.modalities(), nb = in.batch(), l = in.length(), d = in.channels(), n = in.states();
        if (!(saved instanceof ChunkStates cs))
            throw new IllegalArgumentException("coupledScanBackward: saved state " + (saved == null ? "null" : saved.getClass().getName())
                    + " does not come from the CUDA coupledScanForward");
        if (cs.modalities != m || cs.batch != nb || cs.length != l || cs.channels != d || cs.n != n)
            throw new IllegalArgumentException("coupledScanBackward: saved states are for M, B, L, D, N = " + cs.modalities + ", "
                    + cs.batch + ", " + cs.length + ", " + cs.channels + ", " + cs.n + "; the inputs have " + m + ", " + nb + ", "
                    + l + ", " + d + ", " + n);
        long states = cs.address();
        // every output is written even where there is nothing to sum
        b.fill(g.dB(), 0);
        b.fill(g.dC(), 0);
        if (nb == 0 || d == 0) {
            b.fill(g.dA(), 0);
            b.fill(g.dDskip(), 0);
            return;
        }
        Plan plan = backwardPlan(m, n, d, cs.chunkSteps, sharedLimit(b));
        int tiles = plan.tiles(d);
        long target = (long) BWD_WAVES * b.device().smCount() * plan.minBlocks();
        int groups = (int) Math.min(nb, Math.max(1, (target + tiles - 1) / tiles));
        int perBlock = (nb + groups - 1) / groups;
        groups = (nb + perBlock - 1) / perBlock;
        try (DeviceBuffer dAPart = groups > 1 ? b.scratch((long) groups * m * d * n * 4) : null;
             DeviceBuffer dDskipPart = groups > 1 ? b.scratch((long) groups * m * d * 4) : null) {
            byte[] params = new Params()
                    .ptr(in.u()).ptr(in.deltaPre()).ptr(in.z()).ptr(in.A()).ptr(in.B()).ptr(in.C()).ptr(in.Dskip())
                    .ptr(in.lengths()).ptr(in.initialState()).ptr(0).ptr(0).ptr(states)
                    .ptr(dout).ptr(dFinalState).ptr(g.du()).ptr(g.dDeltaPre()).ptr(g.dz()).ptr(g.dB()).ptr(g.dC())
                    .ptr(groups > 1 ? dAPart.address() : CudaBackend.address(g.dA()))
                    .ptr(groups > 1 ? dDskipPart.address() : CudaBackend.address(g.dDskip()))
                    .ptr(g.dInitialState()).ptr(b.errorWord().address())
                    .i32(m).i32(nb).i32(l).i32(d).i32(n).i32(plan.lanes()).i32(cs.chunkSteps).i32(cs.nSaved).i32(perBlock)
                    .i32(subChunks(cs.chunkSteps, plan.steps())).i32(plan.prefetch() ? 1 : 0).i32(0)
                    .bytes();
            CudaModule mod = b.module(BWD, plan.prelude("bwd"));
            b.launch(backwardWork(m, nb, l, d, n), mod.function("coupled_scan_bwd"), Dim3.of(tiles, groups), Dim3.of(plan.threads()),
                    plan.sharedBytes(), params);
            if (groups > 1) {
                CudaFunction sum = mod.function("coupled_scan_sum_partials");
                long size = (long) m * d * n;
                b.launch(sum, Dim3.of(b.gridFor(size, 256)), Dim3.of(256), 0, g.dA(), dAPart, size, groups);
                b.launch(sum, Dim3.of(b.gridFor((long) m * d, 256)), Dim3.of(256), 0, g.dDskip(), dDskipPart, (long) m * d, groups);
            }
        }
    }
}
