package io.cmamba.cuda;

import io.cmamba.tensor.Backend;
import io.cmamba.tensor.BackendProvider;

import java.util.Arrays;

/**
 * Registers the CUDA backend with {@link io.cmamba.tensor.Backends}. It is usable when the driver
 * loads, sees a device, the device is sm_70 or newer, and an NVRTC binding loads that can target
 * that device; otherwise {@link #unavailableReason} says which of these failed, in one line.
 */
public final class CudaBackendProvider implements BackendProvider {
    /** Oldest compute capability the kernels are written for (warp shuffles with masks, 64 KiB+ shared). */
    public static final int MIN_COMPUTE_CAPABILITY = 70;

    /** What the availability check asks of the machine (a fake in tests). */
    interface Probe {
        /** Null when the driver loads and initialises, else why not. */
        String driverProblem();

        int deviceCount();

        /** 90 for sm_90. */
        int computeCapability(int device);

        String deviceName(int device);

        /** Null when an NVRTC binding loads, else why not. */
        String nvrtcProblem();

        /** "bytedeco NVRTC 13.0". */
        String nvrtcName();

        int[] nvrtcArchs();
    }

    private static final class RealProbe implements Probe {
        @Override
        public String driverProblem() {
            return Cuda.probeDriver();
        }

        @Override
        public int deviceCount() {
            return Cuda.deviceCount();
        }

        @Override
        public int computeCapability(int device) {
            return CudaDevice.get(device).computeCapability();
        }

        @Override
        public String deviceName(int device) {
            return CudaDevice.get(device).name();
        }

        @Override
        public String nvrtcProblem() {
            return Nvrtc.select().unavailableReason();
        }

        @Override
        public String nvrtcName() {
            return Nvrtc.provider().describe();
        }

        @Override
        public int[] nvrtcArchs() {
            return Nvrtc.provider().supportedArchs();
        }
    }

    private String reason;
    private boolean probed;

    @Override
    public String kind() {
        return "cuda";
    }

    @Override
    public synchronized String unavailableReason() {
        if (!probed) {
            reason = reason(new RealProbe(), 0);
            probed = true;
        }
        return reason;
    }

    /** The availability rule for device {@code index}; never throws, always one line or null. */
    static String reason(Probe p, int index) {
        try {
            String driver = p.driverProblem();
            if (driver != null) return oneLine(driver);
            int count = p.deviceCount();
            if (count == 0) return "no CUDA device: the driver loads but sees no GPU";
            if (index >= count) return "no CUDA device " + index + ": the driver sees " + count;
            int cc = p.computeCapability(index);
            if (cc < MIN_COMPUTE_CAPABILITY)
                return "unsupported GPU: " + p.deviceName(index) + " is sm_" + cc + ", the kernels need sm_"
                        + MIN_COMPUTE_CAPABILITY + " or newer";
            String nvrtc = p.nvrtcProblem();
            if (nvrtc != null) return oneLine(nvrtc);
            int[] archs = p.nvrtcArchs();
            if (Arrays.stream(archs).noneMatch(a -> a == cc))
                return "unsupported arch: " + p.nvrtcName() + " cannot compile for sm_" + cc + " of " + p.deviceName(index)
                        + " (it targets " + Arrays.toString(archs) + ")";
            return null;
        } catch (RuntimeException | LinkageError e) {
            return oneLine("the CUDA check failed: " + e);
        }
    }

    private static String oneLine(String s) {
        return s.replace('\n', ' ').replace('\r', ' ').strip();
    }

    @Override
    public Backend open(int index) {
        String why = reason(new RealProbe(), index);
        if (why != null) throw new IllegalStateException("cannot open cuda:" + index + ": " + why);
        return new CudaBackend(index);
    }
}
