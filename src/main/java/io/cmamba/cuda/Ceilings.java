package io.cmamba.cuda;

import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;

import java.util.Locale;

/**
 * The three rates a kernel's roofline is drawn against: device-memory bandwidth (bytes read plus
 * bytes written per second), FP32 FMAs per second and exponentials per second. {@link #measure}
 * times them on the device (a 1 GiB device-to-device copy, and the probes of kernels/ceilings.cu);
 * {@link #spec} derives the last two from the SM clock (128 FP32 lanes and 16 special-function
 * lanes per SM on sm_80 and newer) for comparison.
 */
public record Ceilings(double bytesPerSecond, double fmasPerSecond, double expsPerSecond, String source) {
    public Ceilings {
        if (!(bytesPerSecond > 0) || !(fmasPerSecond > 0) || !(expsPerSecond > 0))
            throw new IllegalArgumentException("ceilings must be > 0: " + bytesPerSecond + " B/s, " + fmasPerSecond
                    + " FMA/s, " + expsPerSecond + " exp/s");
    }

    /** FP32 FLOP/s (an FMA is two). */
    public double flopsPerSecond() {
        return 2 * fmasPerSecond;
    }

    /** "copy 2.98 TB/s, FP32 66.9 TFLOP/s, exp 4.18 T/s (measured)". */
    public String describe() {
        return String.format(Locale.ROOT, "copy %.2f TB/s, FP32 %.1f TFLOP/s, exp %.2f T/s (%s)", bytesPerSecond / 1e12,
                flopsPerSecond() / 1e12, expsPerSecond / 1e12, source);
    }

    /** From the device's attributes; null where the driver does not report the SM clock. */
    public static Ceilings spec(CudaDevice d) {
        if (d.clockKHz() <= 0 || d.peakBandwidth() <= 0) return null;
        double clock = d.clockKHz() * 1e3;
        return new Ceilings(d.peakBandwidth(), 128.0 * d.smCount() * clock, 16.0 * d.smCount() * clock, "spec sheet");
    }

    /** Times the three rates on {@code gpu}'s device: device events, warm-up first, the median of 10 runs. */
    public static Ceilings measure(CudaBackend gpu) {
        return new Ceilings(copyBandwidth(gpu, 1 << 28), probe(gpu, false), probe(gpu, true), "measured");
    }

    /** Device-to-device copy of {@code floats} floats: bytes read plus bytes written per second. */
    public static double copyBandwidth(CudaBackend gpu, int floats) {
        try (Tensor a = gpu.empty(DType.F32, floats); Tensor b = gpu.empty(DType.F32, floats)) {
            gpu.fill(a, 1.5);
            double ms = CudaTimer.time(gpu.stream(), 2, 10, () -> gpu.copy(b, a)).median();
            return 2.0 * 4 * floats / (ms * 1e-3);
        }
    }

    private static final int PROBE_CHAINS = 8, PROBE_THREADS = 256, PROBE_BLOCKS_PER_SM = 16;

    /** FMAs (or exponentials) per second from the probe kernels, every SM filled 16 blocks deep. */
    private static double probe(CudaBackend gpu, boolean exp) {
        int blocks = gpu.device().smCount() * PROBE_BLOCKS_PER_SM, iters = exp ? 1024 : 4096;
        CudaFunction f = gpu.kernel("ceilings.cu", exp ? "probe_ex2_f32" : "probe_fma_f32");
        try (Tensor out = gpu.empty(DType.F32, blocks * PROBE_THREADS)) {
            Runnable run = exp
                    ? () -> gpu.launch(f, Dim3.of(blocks), Dim3.of(PROBE_THREADS), 0, out, iters)
                    : () -> gpu.launch(f, Dim3.of(blocks), Dim3.of(PROBE_THREADS), 0, out, iters, 0.999f, 1e-3f);
            double ms = CudaTimer.time(gpu.stream(), 2, 10, run).median();
            return (double) blocks * PROBE_THREADS * PROBE_CHAINS * iters / (ms * 1e-3);
        }
    }
}
