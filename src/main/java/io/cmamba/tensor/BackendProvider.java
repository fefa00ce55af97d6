package io.cmamba.tensor;

/**
 * A way to open a backend, found by {@link java.util.ServiceLoader}: the tensor package names no
 * implementation, so layers above it never depend on the CPU or CUDA code.
 */
public interface BackendProvider {
    /** "cpu" or "cuda". */
    String kind();

    /** Null when usable here, else one line saying why not (no driver, no NVRTC, unsupported arch). */
    String unavailableReason();

    /** Opens device {@code index} (ignored by the CPU). */
    Backend open(int index);
}
