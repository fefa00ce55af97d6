package io.cmamba.cuda;

import io.cmamba.tensor.Storage;

/** Device memory of one tensor (and its views): a block of the caching allocator. */
final class CudaStorage implements Storage {
    private final DeviceAllocator allocator;
    private DeviceAllocator.Block block;
    private final long elements;

    CudaStorage(DeviceAllocator allocator, long elements, int elementBytes) {
        this.allocator = allocator;
        this.elements = elements;
        this.block = allocator.allocate(Math.max(1, elements) * elementBytes);
    }

    long address() {
        if (block == null) throw new IllegalStateException("device tensor used after it was closed");
        return block.address;
    }

    DeviceAllocator.Ptr pointer() {
        if (block == null) throw new IllegalStateException("device tensor used after it was closed");
        return block.ptr;
    }

    @Override
    public long capacity() {
        return elements;
    }

    @Override
    public void release() {
        if (block != null) {
            allocator.free(block);
            block = null;
        }
    }

    @Override
    public boolean released() {
        return block == null;
    }
}
