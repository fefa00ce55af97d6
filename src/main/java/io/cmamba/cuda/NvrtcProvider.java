package io.cmamba.cuda;

import java.util.List;
import java.util.Map;

/**
 * A binding of NVRTC, the run-time CUDA compiler. Two exist because each links one major version:
 * JCuda's needs libnvrtc.so.12 (CUDA 12 toolkits), bytedeco's libnvrtc.so.13 (CUDA 13). Both
 * compile to a CUBIN for the device's own architecture; {@link Nvrtc} picks the one that loads.
 */
public interface NvrtcProvider {
    /** "jcuda" or "bytedeco": the value of -Dcmamba.nvrtc that selects it. */
    String name();

    /** NVRTC's version, {major, minor}. */
    int[] version();

    /** Compute capabilities this NVRTC can target, as 90 for sm_90. */
    int[] supportedArchs();

    /**
     * Compiles {@code source} (named {@code fileName} in messages) with {@code headers} (include
     * name to text) and options; returns the CUBIN.
     *
     * @throws KernelCompileException with NVRTC's log when the source does not compile
     */
    byte[] compileToCubin(String fileName, String source, Map<String, String> headers, List<String> options);

    /** "bytedeco NVRTC 13.0". */
    default String describe() {
        int[] v = version();
        return name() + " NVRTC " + v[0] + "." + v[1];
    }
}
