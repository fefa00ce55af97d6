package io.cmamba.cuda;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * A caching allocator of device memory. cuMemAlloc and cuMemFree synchronise the device and cost
 * tens of microseconds, and a training step allocates the same sizes again and again, so freed
 * blocks are kept in per-size-class free lists and handed out again.
 * <ul>
 *   <li>Size classes: 512 B at least; up to 1 MiB, the next of 2^k, 1.25*2^k, 1.5*2^k, 1.75*2^k
 *       (at most 25% waste); above 1 MiB, the next multiple of 2 MiB.</li>
 *   <li>Reuse: a request takes a cached block of its own class, else a new block.</li>
 *   <li>Out of memory: every cached block is freed and the request retried once; then a
 *       {@link DeviceOutOfMemoryException} names the request and the pool's state.</li>
 *   <li>{@link #trim} frees the cached blocks; {@link #stats} reports current and peak bytes.</li>
 * </ul>
 * Thread-safe. Blocks are reused in stream order (see {@link DeviceBuffer}).
 */
public final class CachingAllocator implements AutoCloseable {
    /** Smallest block. */
    public static final long MIN_BLOCK = 512;
    /** Above this, classes are multiples of {@link #LARGE_STEP}. */
    public static final long SMALL_LIMIT = 1L << 20;
    public static final long LARGE_STEP = 2L << 20;

    /**
     * Counters, all in bytes of whole blocks except {@code requestedBytes}.
     *
     * @param inUseBytes        held by live buffers
     * @param peakInUseBytes    the most ever held by live buffers (since the last {@link #resetPeak})
     * @param cachedBytes       free blocks kept for reuse
     * @param reservedBytes     in use + cached: what this allocator holds from the device
     * @param peakReservedBytes the most ever reserved (since the last reset)
     * @param requestedBytes    what the live buffers asked for
     */
    public record Stats(long inUseBytes, long peakInUseBytes, long cachedBytes, long reservedBytes,
                        long peakReservedBytes, long requestedBytes, int liveBuffers, int cachedBlocks,
                        long allocations, long cacheHits, long deviceAllocations, long deviceFrees, long oomRetries) {
        public String describe() {
            return "in use " + human(inUseBytes) + " in " + liveBuffers + " buffers (peak " + human(peakInUseBytes)
                    + "), cached " + human(cachedBytes) + " in " + cachedBlocks + " blocks, reserved " + human(reservedBytes)
                    + " (peak " + human(peakReservedBytes) + ")";
        }
    }

    private final RawMemory raw;
    private final String deviceName;
    private final TreeMap<Long, ArrayDeque<RawMemory.Block>> free = new TreeMap<>();
    private final Set<DeviceBuffer> live = Collections.newSetFromMap(new IdentityHashMap<>());
    private long inUse, peakInUse, cached, peakReserved, requested;
    private int cachedBlocks;
    private long allocations, hits, deviceAllocs, deviceFrees, oomRetries;
    private boolean closed;

    public CachingAllocator(RawMemory raw, String deviceName) {
        this.raw = raw;
        this.deviceName = deviceName;
    }

    /** The block size serving a request of {@code bytes}. */
    public static long sizeClass(long bytes) {
        if (bytes < 0) throw new IllegalArgumentException("negative allocation: " + bytes + " bytes");
        if (bytes <= MIN_BLOCK) return MIN_BLOCK;
        if (bytes > SMALL_LIMIT) return Math.multiplyExact((bytes + LARGE_STEP - 1) / LARGE_STEP, LARGE_STEP);
        long pow = Long.highestOneBit(bytes - 1);
        long quarter = pow / 4;
        for (long c = pow + quarter; ; c += quarter) if (c >= bytes) return c;
    }

    /** A buffer of at least {@code bytes}. */
    public synchronized DeviceBuffer allocate(long bytes) {
        if (closed) throw new IllegalStateException("the allocator of " + deviceName + " is closed");
        long size = sizeClass(bytes);
        allocations++;
        RawMemory.Block block = null;
        ArrayDeque<RawMemory.Block> list = free.get(size);
        if (list != null && !list.isEmpty()) {
            block = list.pop();
            cached -= size;
            cachedBlocks--;
            hits++;
        } else {
            block = raw.allocate(size);
            if (block == null) {
                long freed = cached;
                trim();
                oomRetries++;
                block = raw.allocate(size);
                if (block == null) {
                    long[] info = raw.deviceMemoryInfo();
                    throw new DeviceOutOfMemoryException("out of GPU memory on " + deviceName + ": a request of "
                            + human(bytes) + " (block " + human(size) + ") failed after freeing " + human(freed)
                            + " of cached blocks; " + stats().describe()
                            + (info[1] > 0 ? "; the device has " + human(info[0]) + " free of " + human(info[1]) : ""));
                }
            }
            deviceAllocs++;
        }
        DeviceBuffer b = new DeviceBuffer(this, block, bytes);
        live.add(b);
        inUse += size;
        requested += bytes;
        peakInUse = Math.max(peakInUse, inUse);
        peakReserved = Math.max(peakReserved, inUse + cached);
        return b;
    }

    synchronized void release(DeviceBuffer b) {
        if (!live.remove(b)) return;
        RawMemory.Block block = b.block();
        inUse -= block.bytes();
        requested -= b.bytes();
        if (closed) {
            raw.free(block);
            deviceFrees++;
            return;
        }
        free.computeIfAbsent(block.bytes(), k -> new ArrayDeque<>()).push(block);
        cached += block.bytes();
        cachedBlocks++;
    }

    /** Frees every cached block back to the device; returns the bytes freed. */
    public synchronized long trim() {
        long freed = 0;
        for (Map.Entry<Long, ArrayDeque<RawMemory.Block>> e : free.entrySet()) {
            for (RawMemory.Block block : e.getValue()) {
                raw.free(block);
                deviceFrees++;
                freed += block.bytes();
            }
        }
        free.clear();
        cached = 0;
        cachedBlocks = 0;
        return freed;
    }

    public synchronized Stats stats() {
        return new Stats(inUse, peakInUse, cached, inUse + cached, peakReserved, requested, live.size(), cachedBlocks,
                allocations, hits, deviceAllocs, deviceFrees, oomRetries);
    }

    /**
     * {free, total} bytes of the device as the driver reports them (cuMemGetInfo: every process, the
     * CUDA context and this allocator's cached blocks count as used), or {-1, -1} if it cannot say.
     */
    public long[] deviceMemoryInfo() {
        return raw.deviceMemoryInfo();
    }

    /** Starts the peak counters again from the current values (a benchmark's phases). */
    public synchronized void resetPeak() {
        peakInUse = inUse;
        peakReserved = inUse + cached;
    }

    /** Frees every block, cached or live; live buffers are unusable afterwards. */
    @Override
    public synchronized void close() {
        if (closed) return;
        trim();
        closed = true;
        List<DeviceBuffer> all = new ArrayList<>(live);
        for (DeviceBuffer b : all) b.close();
    }

    /** "1.50 MiB". */
    public static String human(long bytes) {
        if (bytes < 1024) return bytes + " B";
        String[] units = {"KiB", "MiB", "GiB", "TiB"};
        double v = bytes;
        int u = -1;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return String.format("%.2f %s", v, units[u]);
    }
}
