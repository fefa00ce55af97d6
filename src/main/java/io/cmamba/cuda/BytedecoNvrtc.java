package io.cmamba.cuda;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.SizeTPointer;
import org.bytedeco.cuda.global.nvrtc;
import org.bytedeco.cuda.nvrtc._nvrtcProgram;

import java.util.List;
import java.util.Map;

/** NVRTC through bytedeco's presets: the one that loads on CUDA 13 toolkits (libnvrtc.so.13). */
final class BytedecoNvrtc implements NvrtcProvider {
    BytedecoNvrtc() {
        Loader.load(nvrtc.class);
    }

    private static void check(int rc, String call) {
        if (rc != nvrtc.NVRTC_SUCCESS) throw new CudaException(call + " failed: " + nvrtc.nvrtcGetErrorString(rc).getString());
    }

    @Override
    public String name() {
        return "bytedeco";
    }

    @Override
    public String version() {
        int[] major = new int[1], minor = new int[1];
        check(nvrtc.nvrtcVersion(major, minor), "nvrtcVersion");
        return major[0] + "." + minor[0];
    }

    @Override
    public byte[] compileToCubin(String fileName, String source, Map<String, String> headers, List<String> options) {
        _nvrtcProgram prog = new _nvrtcProgram();
        String[] names = headers.keySet().toArray(new String[0]);
        String[] texts = headers.values().toArray(new String[0]);
        try (PointerPointer<?> h = new PointerPointer<>(texts); PointerPointer<?> n = new PointerPointer<>(names);
             PointerPointer<?> o = new PointerPointer<>(options.toArray(new String[0]));
             BytePointer src = new BytePointer(source); BytePointer file = new BytePointer(fileName)) {
            check(nvrtc.nvrtcCreateProgram(prog, src, file, names.length, names.length == 0 ? null : h, names.length == 0 ? null : n),
                    "nvrtcCreateProgram(" + fileName + ")");
            int rc = nvrtc.nvrtcCompileProgram(prog, options.size(), o);
            if (rc != nvrtc.NVRTC_SUCCESS) throw NvrtcProvider.compileError(name(), fileName, log(prog));
            try (SizeTPointer size = new SizeTPointer(1)) {
                check(nvrtc.nvrtcGetCUBINSize(prog, size), "nvrtcGetCUBINSize(" + fileName + ")");
                long bytes = size.get();
                if (bytes == 0) throw new CudaException("NVRTC produced no CUBIN for " + fileName + " (is --gpu-architecture a real sm_XX?)");
                try (BytePointer cubin = new BytePointer(bytes)) {
                    check(nvrtc.nvrtcGetCUBIN(prog, cubin), "nvrtcGetCUBIN(" + fileName + ")");
                    byte[] out = new byte[(int) bytes];
                    cubin.get(out);
                    return out;
                }
            }
        } finally {
            nvrtc.nvrtcDestroyProgram(prog);
        }
    }

    private static String log(_nvrtcProgram prog) {
        try (SizeTPointer size = new SizeTPointer(1)) {
            nvrtc.nvrtcGetProgramLogSize(prog, size);
            try (BytePointer log = new BytePointer(Math.max(1, size.get()))) {
                nvrtc.nvrtcGetProgramLog(prog, log);
                return log.getString();
            }
        }
    }
}
