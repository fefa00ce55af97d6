package io.cmamba.cuda;

import jcuda.driver.CUresult;
import jcuda.driver.JCudaDriver;

/**
 * Entry to the CUDA driver API (through JCuda): one-time initialisation and the checking of every
 * result code. Every driver call of this package goes through {@link #check}, so that an error
 * always names the call and what it was doing; nothing is called with JCuda's exceptions on.
 */
public final class Cuda {
    private Cuda() {
    }

    private static volatile boolean initialised;
    private static volatile String unavailable;

    /** Loads the driver binding and calls cuInit once; throws with the reason when that fails. */
    public static void init() {
        if (initialised) return;
        synchronized (Cuda.class) {
            if (initialised) return;
            String why = probeDriver();
            if (why != null) throw new CudaException("cuInit", -1, why);
            initialised = true;
        }
    }

    /** Null when the driver loads and initialises, else one line saying why not. Never throws. */
    public static synchronized String probeDriver() {
        if (initialised) return null;
        if (unavailable != null) return unavailable;
        try {
            JCudaDriver.setExceptionsEnabled(false);
            int r = JCudaDriver.cuInit(0);
            if (r == CUresult.CUDA_ERROR_NO_DEVICE) unavailable = "no CUDA device: the driver sees no GPU";
            else if (r != CUresult.CUDA_SUCCESS) unavailable = "the CUDA driver failed to initialise: cuInit returned " + name(r);
            else {
                initialised = true;
                return null;
            }
        } catch (LinkageError e) {
            unavailable = "no NVIDIA driver: the CUDA driver library (libcuda.so.1) could not be loaded ("
                    + firstLine(e) + ")";
        }
        return unavailable;
    }

    static String firstLine(Throwable e) {
        String m = String.valueOf(e.getMessage());
        int nl = m.indexOf('\n');
        return nl < 0 ? m : m.substring(0, nl);
    }

    /** "CUDA_ERROR_OUT_OF_MEMORY (2)": the symbolic name of a driver result code. */
    public static String name(int result) {
        String s;
        try {
            s = CUresult.stringFor(result);
        } catch (RuntimeException e) {
            s = "CUDA_ERROR";
        }
        return s + " (" + result + ")";
    }

    /** Throws a {@link CudaException} naming {@code call} and {@code what} unless result is success. */
    public static void check(int result, String call, String what) {
        if (result != CUresult.CUDA_SUCCESS)
            throw new CudaException(call, result, call + " failed with " + name(result) + (what == null || what.isEmpty() ? "" : " while " + what));
    }

    public static void check(int result, String call) {
        check(result, call, null);
    }

    /** The driver's CUDA version as 13000 for 13.0. */
    public static int driverVersion() {
        init();
        int[] v = new int[1];
        check(JCudaDriver.cuDriverGetVersion(v), "cuDriverGetVersion");
        return v[0];
    }

    public static int deviceCount() {
        init();
        int[] n = new int[1];
        check(JCudaDriver.cuDeviceGetCount(n), "cuDeviceGetCount");
        return n[0];
    }
}
