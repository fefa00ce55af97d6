package io.cmamba.cuda;

import jcuda.driver.CUdeviceptr;

/**
 * A JCuda device pointer whose address can be read: buffers are kept as this type so that kernel
 * arguments, cuBLAS operands and offsets can be plain {@code long} addresses.
 */
public final class DevicePointer extends CUdeviceptr {
    /** The device address (set by cuMemAlloc). */
    public long address() {
        return getNativePointer();
    }
}
