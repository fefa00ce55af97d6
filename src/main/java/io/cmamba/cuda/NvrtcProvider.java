package io.cmamba.cuda;

import java.util.List;
import java.util.Map;

/**
 * Run-time compilation of CUDA C++ to a CUBIN. Two implementations: JCuda's binding (needs
 * libnvrtc.so.12, CUDA 12 toolkits) and bytedeco's (libnvrtc.so.13, CUDA 13 toolkits); {@link #choose}
 * takes the first that loads, or the one named by the system property {@code cmamba.nvrtc}.
 */
public interface NvrtcProvider {
    String name();

    /** "13.0" and the like. */
    String version();

    /**
     * Compiles {@code source} (named {@code fileName} in messages) with the given headers (include
     * name to text) and options; throws {@link CudaException} with NVRTC's log on a compile error.
     */
    byte[] compileToCubin(String fileName, String source, Map<String, String> headers, List<String> options);

    /** The chosen provider, or an exception explaining why none loads. */
    static NvrtcProvider choose() {
        String forced = System.getProperty("cmamba.nvrtc", "");
        StringBuilder why = new StringBuilder();
        for (String candidate : new String[]{"bytedeco", "jcuda"}) {
            if (!forced.isEmpty() && !forced.equals(candidate)) continue;
            try {
                NvrtcProvider p = candidate.equals("bytedeco") ? new BytedecoNvrtc() : new JCudaNvrtc();
                p.version(); // loads the native library
                return p;
            } catch (Throwable t) {
                why.append(candidate).append(": ").append(Driver.firstLine(t.getMessage() == null ? t.toString() : t.getMessage())).append("; ");
            }
        }
        if (!forced.isEmpty() && !forced.equals("bytedeco") && !forced.equals("jcuda"))
            throw new CudaException("cmamba.nvrtc must be bytedeco or jcuda, got '" + forced + "'");
        throw new CudaException("no NVRTC could be loaded (" + why.toString().replaceAll("; $", "") + ")");
    }

    /** Turns "kernel.cu(12): error: ..." lines into a message that names the file and line. */
    static CudaException compileError(String provider, String fileName, String log) {
        return new CudaException("NVRTC (" + provider + ") could not compile " + fileName + ":\n" + log.strip());
    }
}
