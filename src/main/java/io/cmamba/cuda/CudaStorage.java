package io.cmamba.cuda;

import io.cmamba.tensor.Storage;
import io.cmamba.tensor.Tensor;

/** Device memory behind CUDA tensors: one {@link DeviceBuffer} of 4-byte elements (F32 or I32). */
public final class CudaStorage implements Storage {
    static final int ELEMENT_BYTES = 4;

    private final DeviceBuffer buffer;
    private final long capacity;

    CudaStorage(DeviceBuffer buffer, long capacity) {
        this.buffer = buffer;
        this.capacity = capacity;
    }

    public DeviceBuffer buffer() {
        return buffer;
    }

    @Override
    public long capacity() {
        return capacity;
    }

    @Override
    public void release() {
        buffer.close();
    }

    @Override
    public boolean released() {
        return buffer.closed();
    }

    /** The device address of a CUDA tensor's first element. */
    public static long address(Tensor t) {
        if (!(t.storage() instanceof CudaStorage s))
            throw new IllegalArgumentException("tensor " + t.shape() + " is not a CUDA tensor (it is on " + t.backend().name() + ")");
        return s.buffer.address() + t.offset() * ELEMENT_BYTES;
    }

    /** A JCuda pointer to a CUDA tensor's first element (for the driver's copy calls). */
    static jcuda.driver.CUdeviceptr pointer(Tensor t) {
        CudaStorage s = (CudaStorage) t.storage();
        return s.buffer.pointer(t.offset() * ELEMENT_BYTES);
    }
}
