package io.cmamba.cuda;

import jcuda.nvrtc.JNvrtc;
import jcuda.nvrtc.nvrtcProgram;
import jcuda.nvrtc.nvrtcResult;

import java.util.List;
import java.util.Map;

/** NVRTC through JCuda (links libnvrtc.so.12). */
final class JcudaNvrtc implements NvrtcProvider {
    private final int[] version;

    /** Loads the binding; throws a LinkageError or a CudaException when NVRTC 12 is absent. */
    JcudaNvrtc() {
        JNvrtc.setExceptionsEnabled(false);
        int[] major = new int[1], minor = new int[1];
        check(JNvrtc.nvrtcVersion(major, minor), "nvrtcVersion", "");
        version = new int[]{major[0], minor[0]};
    }

    private static void check(int r, String call, String file) {
        if (r != nvrtcResult.NVRTC_SUCCESS)
            throw new CudaException(call, r, call + " failed with " + nvrtcResult.stringFor(r) + " (" + r + ")"
                    + (file.isEmpty() ? "" : " for " + file));
    }

    @Override
    public String name() {
        return "jcuda";
    }

    @Override
    public int[] version() {
        return version.clone();
    }

    @Override
    public int[] supportedArchs() {
        int[] n = new int[1];
        check(JNvrtc.nvrtcGetNumSupportedArchs(n), "nvrtcGetNumSupportedArchs", "");
        int[] archs = new int[n[0]];
        check(JNvrtc.nvrtcGetSupportedArchs(archs), "nvrtcGetSupportedArchs", "");
        return archs;
    }

    @Override
    public byte[] compileToCubin(String fileName, String source, Map<String, String> headers, List<String> options) {
        String[] names = headers.keySet().toArray(new String[0]);
        String[] texts = new String[names.length];
        for (int i = 0; i < names.length; i++) texts[i] = headers.get(names[i]);
        nvrtcProgram prog = new nvrtcProgram();
        check(JNvrtc.nvrtcCreateProgram(prog, source, fileName, names.length, texts, names), "nvrtcCreateProgram", fileName);
        try {
            int r = JNvrtc.nvrtcCompileProgram(prog, options.size(), options.toArray(new String[0]));
            String[] log = new String[1];
            check(JNvrtc.nvrtcGetProgramLog(prog, log), "nvrtcGetProgramLog", fileName);
            if (r == nvrtcResult.NVRTC_ERROR_COMPILATION)
                throw new KernelCompileException(fileName, Nvrtc.archOption(options), log[0] == null ? "" : log[0]);
            check(r, "nvrtcCompileProgram", fileName);
            long[] size = new long[1];
            check(JNvrtc.nvrtcGetCUBINSize(prog, size), "nvrtcGetCUBINSize", fileName);
            byte[] cubin = new byte[Math.toIntExact(size[0])];
            check(JNvrtc.nvrtcGetCUBIN(prog, cubin), "nvrtcGetCUBIN", fileName);
            return cubin;
        } finally {
            JNvrtc.nvrtcDestroyProgram(prog);
        }
    }
}
