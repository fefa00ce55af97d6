package io.cmamba.cuda;

import jcuda.driver.CUresult;
import jcuda.driver.JCudaDriver;

/**
 * The CUDA driver through JCuda, initialised once. Every driver call goes through {@link #check}, so
 * a failure names the call and the context given by the caller (kernel, launch shape, sizes).
 */
public final class Driver {
    private static volatile String unavailable;
    private static volatile boolean initialised;

    private Driver() {
    }

    public static void check(int result, String call) {
        if (result != CUresult.CUDA_SUCCESS)
            throw new CudaException(call + " failed: " + CUresult.stringFor(result) + " (" + result + ")");
    }

    /** Null when the driver loads and reports a device; else one line saying why not. */
    public static synchronized String unavailableReason() {
        if (initialised) return null;
        if (unavailable != null) return unavailable;
        try {
            JCudaDriver.setExceptionsEnabled(false);
            int rc = JCudaDriver.cuInit(0);
            if (rc != CUresult.CUDA_SUCCESS) return unavailable = "the CUDA driver did not initialise: " + CUresult.stringFor(rc);
            int[] count = new int[1];
            rc = JCudaDriver.cuDeviceGetCount(count);
            if (rc != CUresult.CUDA_SUCCESS || count[0] == 0) return unavailable = "no CUDA device is visible";
            initialised = true;
            return null;
        } catch (UnsatisfiedLinkError | NoClassDefFoundError e) {
            return unavailable = "no NVIDIA driver (libcuda could not be loaded: " + firstLine(e.getMessage()) + ")";
        }
    }

    static void requireAvailable() {
        String why = unavailableReason();
        if (why != null) throw new CudaException("CUDA is not usable here: " + why);
    }

    static String firstLine(String s) {
        if (s == null) return "no detail";
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }
}
