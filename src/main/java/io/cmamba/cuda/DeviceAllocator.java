package io.cmamba.cuda;

import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUresult;
import jcuda.driver.JCudaDriver;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;

/**
 * A caching allocator over cuMemAlloc: freed blocks are kept by size class and reused, since
 * cuMemAlloc/cuMemFree synchronise the device and cost tens of microseconds. Size classes: multiples
 * of 512 bytes below 1 MiB, of 2 MiB above. Counters (bytes in use, peak, cached) feed the
 * benchmarks. Out of memory: the cache is returned to the driver and the request retried once; if it
 * still fails the error names the request and the pool's state.
 */
public final class DeviceAllocator {
    /** A device pointer whose address can be read (JCuda keeps it in a protected field). */
    static final class Ptr extends CUdeviceptr {
        long address() {
            return getNativePointer();
        }
    }

    /** One allocation of {@code bytes} (its size class) at {@code address}. */
    public static final class Block {
        final Ptr ptr;
        public final long address, bytes;

        Block(Ptr ptr, long bytes) {
            this.ptr = ptr;
            this.address = ptr.address();
            this.bytes = bytes;
        }
    }

    private final CudaDevice device;
    private final Map<Long, ArrayDeque<Block>> cache = new HashMap<>();
    private long inUse, peak, cached, driverBytes;
    private long allocations, reuses;

    DeviceAllocator(CudaDevice device) {
        this.device = device;
    }

    static long sizeClass(long bytes) {
        if (bytes <= 0) return 512;
        long unit = bytes < (1L << 20) ? 512 : (2L << 20);
        return (bytes + unit - 1) / unit * unit;
    }

    public synchronized Block allocate(long bytes) {
        long size = sizeClass(bytes);
        ArrayDeque<Block> free = cache.get(size);
        Block b = free == null ? null : free.poll();
        if (b != null) {
            cached -= size;
            reuses++;
        } else {
            device.makeCurrent();
            Ptr p = new Ptr();
            int rc = JCudaDriver.cuMemAlloc(p, size);
            if (rc == CUresult.CUDA_ERROR_OUT_OF_MEMORY) {
                trim();
                rc = JCudaDriver.cuMemAlloc(p, size);
            }
            if (rc != CUresult.CUDA_SUCCESS) {
                long[] info = device.memoryInfo();
                throw new CudaException("out of device memory: cuMemAlloc of " + size + " bytes (requested " + bytes
                        + ") failed with " + CUresult.stringFor(rc) + "; pool: " + (inUse >> 20) + " MiB in use, peak "
                        + (peak >> 20) + " MiB, " + (cached >> 20) + " MiB cached (already returned); driver: "
                        + (info[0] >> 20) + " MiB free of " + (info[1] >> 20) + " MiB");
            }
            b = new Block(p, size);
            driverBytes += size;
            allocations++;
        }
        inUse += size;
        peak = Math.max(peak, inUse);
        return b;
    }

    public synchronized void free(Block b) {
        inUse -= b.bytes;
        cached += b.bytes;
        cache.computeIfAbsent(b.bytes, k -> new ArrayDeque<>()).push(b);
    }

    /** Returns every cached block to the driver. */
    public synchronized void trim() {
        device.makeCurrent();
        for (ArrayDeque<Block> q : cache.values())
            for (Block b : q) {
                Driver.check(JCudaDriver.cuMemFree(b.ptr), "cuMemFree(" + b.bytes + " bytes)");
                driverBytes -= b.bytes;
            }
        cache.clear();
        cached = 0;
    }

    /** Bytes handed out and not yet freed. */
    public synchronized long bytesInUse() {
        return inUse;
    }

    /** The largest {@link #bytesInUse()} since the last {@link #resetPeak()}. */
    public synchronized long peakBytes() {
        return peak;
    }

    public synchronized void resetPeak() {
        peak = inUse;
    }

    public synchronized long cachedBytes() {
        return cached;
    }

    /** Bytes currently obtained from the driver (in use plus cached). */
    public synchronized long driverBytes() {
        return driverBytes;
    }

    @Override
    public synchronized String toString() {
        return "allocator[" + (inUse >> 20) + " MiB in use, peak " + (peak >> 20) + " MiB, " + (cached >> 20)
                + " MiB cached, " + allocations + " driver allocations, " + reuses + " reuses]";
    }
}
