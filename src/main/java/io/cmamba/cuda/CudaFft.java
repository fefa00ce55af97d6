package io.cmamba.cuda;

import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.cudart.float2;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.SizeTPointer;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.WeakHashMap;

import static org.bytedeco.cuda.global.cufft.*;

/**
 * Batched real FFTs along rows through cuFFT (bytedeco's binding, which loads the toolkit's
 * libcufft.so.12), for the FFT path of the global convolution. Rows are stored in place: row r holds
 * nfft reals at [r * pitch, r * pitch + nfft) before the forward transform and F = nfft/2 + 1 complex
 * values (pitch = 2F floats) after it; the inverse goes back the same way, unnormalised.
 * <p>
 * Plans are created once per (backend, nfft, rows, direction) and kept (at most {@link #MAX_PLANS} per
 * backend, the least recently used destroyed first) because creating one costs far more than a
 * transform. They are made without their own work area: each transform takes one from the
 * backend's caching allocator and runs on the backend's stream, so plans hold little device memory.
 * Plans of a backend closed meanwhile are dropped with it (the map holds backends weakly).
 */
final class CudaFft {
    private CudaFft() {
    }

    static final int MAX_PLANS = 16;

    private static volatile String unavailable;
    private static volatile boolean probed;

    /** Null when cuFFT loads, else one line saying why not. Never throws. */
    static String unavailableReason() {
        if (!probed) {
            synchronized (CudaFft.class) {
                if (!probed) {
                    try {
                        Loader.load(org.bytedeco.cuda.global.cufft.class);
                        int[] v = new int[1];
                        int r = cufftGetVersion(v);
                        if (r != CUFFT_SUCCESS) unavailable = "cufftGetVersion failed with " + resultName(r);
                    } catch (Throwable e) {
                        unavailable = "cuFFT could not be loaded (" + Cuda.firstLine(e) + ")";
                    }
                    probed = true;
                }
            }
        }
        return unavailable;
    }

    static boolean available() {
        return unavailableReason() == null;
    }

    private record Key(int nfft, long rows, boolean forward) {
    }

    /** One plan: its handle and the work area it needs. */
    private static final class Plan {
        final int handle;
        final long workBytes;
        final String what;

        Plan(int handle, long workBytes, String what) {
            this.handle = handle;
            this.workBytes = workBytes;
            this.what = what;
        }
    }

    private static final Map<CudaBackend, Map<Key, Plan>> PLANS = new WeakHashMap<>();

    private static synchronized Plan plan(CudaBackend be, int nfft, long rows, boolean forward) {
        String reason = unavailableReason();
        if (reason != null) throw new IllegalStateException("the FFT path of the global convolution needs cuFFT: " + reason);
        Map<Key, Plan> plans = PLANS.computeIfAbsent(be, k -> new LinkedHashMap<>(16, 0.75f, true));
        Key key = new Key(nfft, rows, forward);
        Plan p = plans.get(key);
        if (p != null) return p;
        if (plans.size() >= MAX_PLANS) {
            Map.Entry<Key, Plan> eldest = plans.entrySet().iterator().next();
            check(cufftDestroy(eldest.getValue().handle), "cufftDestroy", eldest.getValue().what);
            plans.remove(eldest.getKey());
        }
        long f = nfft / 2 + 1;
        String what = (forward ? "R2C" : "C2R") + " plan of " + rows + " rows of " + nfft + " points";
        int[] h = new int[1];
        check(cufftCreate(h), "cufftCreate", what);
        boolean ok = false;
        try {
            check(cufftSetAutoAllocation(h[0], 0), "cufftSetAutoAllocation", what);
            long[] n = {nfft};
            long[] real = {2 * f}, complex = {f};
            try (SizeTPointer work = new SizeTPointer(1)) {
                if (forward)
                    check(cufftMakePlanMany64(h[0], 1, n, real, 1, 2 * f, complex, 1, f, CUFFT_R2C, rows, work), "cufftMakePlanMany64", what);
                else
                    check(cufftMakePlanMany64(h[0], 1, n, complex, 1, f, real, 1, 2 * f, CUFFT_C2R, rows, work), "cufftMakePlanMany64", what);
                p = new Plan(h[0], work.get(), what);
            }
            ok = true;
        } finally {
            if (!ok) cufftDestroy(h[0]);
        }
        plans.put(key, p);
        return p;
    }

    /** In-place forward transform of {@code rows} rows of pitch 2(nfft/2+1) floats at {@code address}. */
    static void forward(CudaBackend be, long address, int nfft, long rows) {
        exec(be, address, nfft, rows, true);
    }

    /** In-place inverse transform (unnormalised: the result is nfft times the signal). */
    static void inverse(CudaBackend be, long address, int nfft, long rows) {
        exec(be, address, nfft, rows, false);
    }

    private static void exec(CudaBackend be, long address, int nfft, long rows, boolean forward) {
        be.context().makeCurrent();
        Plan p = plan(be, nfft, rows, forward);
        // at least a little: cuFFT refuses a null work area even where the plan reports needing none
        try (DeviceBuffer work = be.scratch(Math.max(p.workBytes, 512))) {
            synchronized (CudaFft.class) {
                check(cufftSetStream(p.handle, new CUstream_st(raw(be.stream().address()))), "cufftSetStream", p.what);
                check(cufftSetWorkArea(p.handle, raw(work.address())), "cufftSetWorkArea", p.what);
                Pointer data = raw(address);
                // in place: rows of nfft/2+1 complex values read and written; 2.5 nfft log2(nfft) FLOPs per row
                double bytes = 2.0 * rows * (nfft / 2 + 1) * 8, fmas = 1.25 * rows * nfft * (Math.log(nfft) / Math.log(2));
                be.profiled(forward ? "cufftExecR2C" : "cufftExecC2R", new KernelWork(bytes, fmas, 0), () -> {
                    if (forward) check(cufftExecR2C(p.handle, new FloatPointer(data), new float2(data)), "cufftExecR2C", p.what);
                    else check(cufftExecC2R(p.handle, new float2(data), new FloatPointer(data)), "cufftExecC2R", p.what);
                });
            }
        }
    }

    /** A JavaCPP pointer with a raw device address (never dereferenced on the host). */
    private static Pointer raw(long deviceAddress) {
        // (the parameter must not be called address: inside the subclass that name is Pointer's field)
        return new Pointer() {
            {
                address = deviceAddress;
            }
        };
    }

    private static void check(int result, String call, String what) {
        if (result != CUFFT_SUCCESS)
            throw new CudaException(call, result, call + " failed with " + resultName(result) + " for the " + what);
    }

    static String resultName(int r) {
        String[] names = {"CUFFT_SUCCESS", "CUFFT_INVALID_PLAN", "CUFFT_ALLOC_FAILED", "CUFFT_INVALID_TYPE",
                "CUFFT_INVALID_VALUE", "CUFFT_INTERNAL_ERROR", "CUFFT_EXEC_FAILED", "CUFFT_SETUP_FAILED",
                "CUFFT_INVALID_SIZE", "CUFFT_UNALIGNED_DATA", "CUFFT_INCOMPLETE_PARAMETER_LIST", "CUFFT_INVALID_DEVICE",
                "CUFFT_PARSE_ERROR", "CUFFT_NO_WORKSPACE", "CUFFT_NOT_IMPLEMENTED", "CUFFT_LICENSE_ERROR",
                "CUFFT_NOT_SUPPORTED"};
        return (r >= 0 && r < names.length ? names[r] : "cuFFT error") + " (" + r + ")";
    }
}
