package io.cmamba.cuda;

import jcuda.driver.CUdevice;
import jcuda.driver.JCudaDriver;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static jcuda.driver.CUdevice_attribute.*;

/**
 * One GPU and the properties the kernels and benchmarks need: compute capability (the arch the
 * kernels are compiled for), SM count (grid sizes), memory, clocks and limits (launch checks).
 *
 * @param clockKHz       SM clock, 0 where the driver no longer reports it
 * @param memoryClockKHz memory clock, 0 where not reported
 */
public record CudaDevice(int index, String name, int major, int minor, int smCount, long totalMemory,
                         int clockKHz, int memoryClockKHz, int memoryBusWidth, int l2CacheBytes,
                         int maxThreadsPerBlock, int maxSharedPerBlock, int maxSharedPerBlockOptin,
                         int[] maxBlockDim, int[] maxGridDim, int warpSize) {

    /** The device's handle for driver calls. */
    public CUdevice handle() {
        CUdevice d = new CUdevice();
        Cuda.check(JCudaDriver.cuDeviceGet(d, index), "cuDeviceGet", "opening device " + index);
        return d;
    }

    /** "sm_90": the target the kernels are compiled for. */
    public String arch() {
        return "sm_" + major + minor;
    }

    /** Compute capability as one number, 90 for 9.0. */
    public int computeCapability() {
        return major * 10 + minor;
    }

    /** Theoretical DRAM bandwidth in bytes/s (double data rate), 0 when the clock is not reported. */
    public double peakBandwidth() {
        return 2.0 * memoryClockKHz * 1e3 * memoryBusWidth / 8;
    }

    /** "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79.1 GiB)". */
    public String describe() {
        return name + " (" + arch() + ", " + smCount + " SMs, " + String.format("%.1f GiB", totalMemory / 1073741824.0)
                + (clockKHz > 0 ? String.format(", %d MHz", clockKHz / 1000) : "") + ")";
    }

    public static CudaDevice get(int index) {
        int count = Cuda.deviceCount();
        if (index < 0 || index >= count)
            throw new IllegalArgumentException("no CUDA device " + index + ": this machine has " + count);
        CUdevice d = new CUdevice();
        Cuda.check(JCudaDriver.cuDeviceGet(d, index), "cuDeviceGet", "opening device " + index);
        byte[] raw = new byte[256];
        Cuda.check(JCudaDriver.cuDeviceGetName(raw, raw.length, d), "cuDeviceGetName");
        int len = 0;
        while (len < raw.length && raw[len] != 0) len++;
        long[] mem = new long[1];
        Cuda.check(JCudaDriver.cuDeviceTotalMem(mem, d), "cuDeviceTotalMem");
        return new CudaDevice(index, new String(raw, 0, len, StandardCharsets.UTF_8),
                attr(d, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR), attr(d, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR),
                attr(d, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT), mem[0],
                optionalAttr(d, CU_DEVICE_ATTRIBUTE_CLOCK_RATE), optionalAttr(d, CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE),
                optionalAttr(d, CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH), optionalAttr(d, CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE),
                attr(d, CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK), attr(d, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK),
                optionalAttr(d, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN),
                new int[]{attr(d, CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X), attr(d, CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y), attr(d, CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z)},
                new int[]{attr(d, CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X), attr(d, CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y), attr(d, CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z)},
                attr(d, CU_DEVICE_ATTRIBUTE_WARP_SIZE));
    }

    /** Every device the driver sees. */
    public static List<CudaDevice> all() {
        int n = Cuda.deviceCount();
        List<CudaDevice> r = new ArrayList<>();
        for (int i = 0; i < n; i++) r.add(get(i));
        return r;
    }

    private static int attr(CUdevice d, int attribute) {
        int[] v = new int[1];
        Cuda.check(JCudaDriver.cuDeviceGetAttribute(v, attribute, d), "cuDeviceGetAttribute", "reading attribute " + attribute);
        return v[0];
    }

    /** Attributes that newer drivers may drop (the clocks): 0 instead of an error. */
    private static int optionalAttr(CUdevice d, int attribute) {
        int[] v = new int[1];
        return JCudaDriver.cuDeviceGetAttribute(v, attribute, d) == 0 ? v[0] : 0;
    }
}
