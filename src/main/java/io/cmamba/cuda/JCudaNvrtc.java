package io.cmamba.cuda;

import jcuda.nvrtc.JNvrtc;
import jcuda.nvrtc.nvrtcProgram;
import jcuda.nvrtc.nvrtcResult;

import java.util.List;
import java.util.Map;

/** NVRTC through JCuda's binding: loads where libnvrtc.so.12 is installed (CUDA 12 toolkits). */
final class JCudaNvrtc implements NvrtcProvider {
    JCudaNvrtc() {
        JNvrtc.setExceptionsEnabled(false);
    }

    private static void check(int rc, String call) {
        if (rc != nvrtcResult.NVRTC_SUCCESS) throw new CudaException(call + " failed: " + nvrtcResult.stringFor(rc));
    }

    @Override
    public String name() {
        return "jcuda";
    }

    @Override
    public String version() {
        int[] major = new int[1], minor = new int[1];
        check(JNvrtc.nvrtcVersion(major, minor), "nvrtcVersion");
        return major[0] + "." + minor[0];
    }

    @Override
    public byte[] compileToCubin(String fileName, String source, Map<String, String> headers, List<String> options) {
        nvrtcProgram prog = new nvrtcProgram();
        String[] names = headers.keySet().toArray(new String[0]);
        String[] texts = headers.values().toArray(new String[0]);
        check(JNvrtc.nvrtcCreateProgram(prog, source, fileName, names.length, texts, names), "nvrtcCreateProgram(" + fileName + ")");
        try {
            int rc = JNvrtc.nvrtcCompileProgram(prog, options.size(), options.toArray(new String[0]));
            if (rc != nvrtcResult.NVRTC_SUCCESS) {
                String[] log = new String[1];
                JNvrtc.nvrtcGetProgramLog(prog, log);
                throw NvrtcProvider.compileError(name(), fileName, log[0] == null ? "" : log[0]);
            }
            long[] size = new long[1];
            check(JNvrtc.nvrtcGetCUBINSize(prog, size), "nvrtcGetCUBINSize(" + fileName + ")");
            byte[] cubin = new byte[(int) size[0]];
            check(JNvrtc.nvrtcGetCUBIN(prog, cubin), "nvrtcGetCUBIN(" + fileName + ")");
            return cubin;
        } finally {
            JNvrtc.nvrtcDestroyProgram(prog);
        }
    }
}
