package io.cmamba.cuda;

/**
 * Where the caching allocator gets its blocks: the device (cuMemAlloc/cuMemFree) or, in tests, a
 * fake. Blocks are returned as {@link Block}s so that the allocator needs no CUDA itself.
 */
public interface RawMemory {
    /** A block of device memory: its address and whatever the source needs to free it. */
    record Block(long address, long bytes, Object handle) {
    }

    /** A new block of exactly {@code bytes}, or null when the device is out of memory. */
    Block allocate(long bytes);

    void free(Block block);

    /** {free, total} bytes of the device, for messages; {-1, -1} where unknown. */
    long[] deviceMemoryInfo();
}
