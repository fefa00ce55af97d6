package io.cmamba.cuda;

import jcuda.driver.CUdeviceptr;

/**
 * A device allocation from a {@link CachingAllocator}; closing it returns the block to the
 * allocator's cache (not to the driver). Safe because the backend orders all its work on one
 * stream: a later kernel that reuses the block runs after every earlier kernel that used it.
 */
public final class DeviceBuffer implements AutoCloseable {
    private final CachingAllocator owner;
    private final RawMemory.Block block;
    private final long bytes;
    private boolean closed;

    DeviceBuffer(CachingAllocator owner, RawMemory.Block block, long bytes) {
        this.owner = owner;
        this.block = block;
        this.bytes = bytes;
    }

    /** The device address of the first byte. */
    public long address() {
        checkOpen();
        return block.address();
    }

    /** Bytes requested (the block may be larger: its size class). */
    public long bytes() {
        return bytes;
    }

    /** Bytes of the block holding it (the size class). */
    public long blockBytes() {
        return block.bytes();
    }

    RawMemory.Block block() {
        return block;
    }

    /** A JCuda pointer {@code byteOffset} bytes into the buffer (for the driver's copy calls). */
    public CUdeviceptr pointer(long byteOffset) {
        checkOpen();
        if (byteOffset < 0 || byteOffset > bytes)
            throw new IndexOutOfBoundsException("offset " + byteOffset + " outside a buffer of " + bytes + " bytes");
        if (!(block.handle() instanceof DevicePointer p))
            throw new IllegalStateException("buffer is not device memory (it comes from " + block.handle() + ")");
        return byteOffset == 0 ? p : p.withByteOffset(byteOffset);
    }

    public boolean closed() {
        return closed;
    }

    private void checkOpen() {
        if (closed) throw new IllegalStateException("device buffer of " + CachingAllocator.human(bytes) + " used after close");
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        owner.release(this);
    }
}
