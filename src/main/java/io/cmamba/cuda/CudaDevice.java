package io.cmamba.cuda;

import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.JCudaDriver;

/**
 * One GPU and its primary context (the one the runtime API and libraries such as cuBLAS use, so
 * that memory and streams are shared with them). Properties are read once at open.
 */
public final class CudaDevice {
    public final int index;
    public final String name;
    public final int major, minor, multiprocessors, clockKHz, memoryClockKHz, busWidthBits;
    public final long totalMemory;
    final CUdevice device = new CUdevice();
    final CUcontext context = new CUcontext();
    private final ThreadLocal<Boolean> current = ThreadLocal.withInitial(() -> false);

    CudaDevice(int index) {
        Driver.requireAvailable();
        int[] count = new int[1];
        Driver.check(JCudaDriver.cuDeviceGetCount(count), "cuDeviceGetCount");
        if (index < 0 || index >= count[0])
            throw new CudaException("no CUDA device " + index + " (this machine has " + count[0] + ")");
        this.index = index;
        Driver.check(JCudaDriver.cuDeviceGet(device, index), "cuDeviceGet(" + index + ")");
        byte[] nameBytes = new byte[256];
        Driver.check(JCudaDriver.cuDeviceGetName(nameBytes, nameBytes.length, device), "cuDeviceGetName");
        String n = new String(nameBytes, java.nio.charset.StandardCharsets.US_ASCII);
        this.name = n.substring(0, Math.max(0, n.indexOf('\0') < 0 ? n.length() : n.indexOf('\0'))).trim();
        this.major = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
        this.minor = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
        this.multiprocessors = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
        this.clockKHz = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_CLOCK_RATE);
        this.memoryClockKHz = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE);
        this.busWidthBits = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH);
        long[] total = new long[1];
        Driver.check(JCudaDriver.cuDeviceTotalMem(total, device), "cuDeviceTotalMem");
        this.totalMemory = total[0];
        if (major < 7)
            throw new CudaException(name + " has compute capability " + major + "." + minor + "; the kernels need 7.0 or newer");
        Driver.check(JCudaDriver.cuDevicePrimaryCtxRetain(context, device), "cuDevicePrimaryCtxRetain(device " + index + ")");
        makeCurrent();
    }

    private int attribute(int attr) {
        int[] v = new int[1];
        Driver.check(JCudaDriver.cuDeviceGetAttribute(v, attr, device), "cuDeviceGetAttribute(" + attr + ")");
        return v[0];
    }

    /** Binds the primary context to the calling thread (once per thread). */
    public void makeCurrent() {
        if (!current.get()) {
            Driver.check(JCudaDriver.cuCtxSetCurrent(context), "cuCtxSetCurrent(device " + index + ")");
            current.set(true);
        }
    }

    /** "sm_90" for an H100. */
    public String arch() {
        return "sm_" + major + minor;
    }

    /** Free and total bytes as the driver sees them. */
    public long[] memoryInfo() {
        makeCurrent();
        long[] free = new long[1], total = new long[1];
        Driver.check(JCudaDriver.cuMemGetInfo(free, total), "cuMemGetInfo");
        return new long[]{free[0], total[0]};
    }

    void release() {
        JCudaDriver.cuDevicePrimaryCtxRelease(device);
    }

    @Override
    public String toString() {
        return name + " (" + arch() + ", " + multiprocessors + " SMs, " + (totalMemory >> 20) + " MiB)";
    }
}
