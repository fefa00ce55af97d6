package io.cmamba.cuda;

/** A device allocation that failed even after the allocator freed every cached block. */
public final class DeviceOutOfMemoryException extends CudaException {
    public DeviceOutOfMemoryException(String message) {
        super("cuMemAlloc", 2, message);
    }
}
