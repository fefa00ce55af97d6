package io.cmamba.cuda;

import org.bytedeco.cuda.nvrtc._nvrtcProgram;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.SizeTPointer;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

import static org.bytedeco.cuda.global.nvrtc.*;

/** NVRTC through bytedeco's CUDA presets (links libnvrtc.so.13). */
final class BytedecoNvrtc implements NvrtcProvider {
    private final int[] version;

    /** Loads the binding; throws a LinkageError or a CudaException when NVRTC 13 is absent. */
    BytedecoNvrtc() {
        int[] major = new int[1], minor = new int[1];
        check(nvrtcVersion(major, minor), "nvrtcVersion", "");
        version = new int[]{major[0], minor[0]};
    }

    private static void check(int r, String call, String file) {
        if (r != NVRTC_SUCCESS)
            throw new CudaException(call, r, call + " failed with " + nvrtcGetErrorString(r).getString() + " (" + r + ")"
                    + (file.isEmpty() ? "" : " for " + file));
    }

    @Override
    public String name() {
        return "bytedeco";
    }

    @Override
    public int[] version() {
        return version.clone();
    }

    @Override
    public int[] supportedArchs() {
        int[] n = new int[1];
        check(nvrtcGetNumSupportedArchs(n), "nvrtcGetNumSupportedArchs", "");
        int[] archs = new int[n[0]];
        check(nvrtcGetSupportedArchs(archs), "nvrtcGetSupportedArchs", "");
        return archs;
    }

    private static BytePointer utf8(String s) {
        return new BytePointer(s, StandardCharsets.UTF_8);
    }

    @Override
    public byte[] compileToCubin(String fileName, String source, Map<String, String> headers, List<String> options) {
        String[] names = headers.keySet().toArray(new String[0]);
        int h = names.length;
        try (BytePointer src = utf8(source); BytePointer name = utf8(fileName);
             PointerPointer<BytePointer> texts = new PointerPointer<>(Math.max(1, h));
             PointerPointer<BytePointer> includes = new PointerPointer<>(Math.max(1, h));
             PointerPointer<BytePointer> opts = new PointerPointer<>(Math.max(1, options.size()))) {
            BytePointer[] keep = new BytePointer[2 * h + options.size()];
            for (int i = 0; i < h; i++) {
                keep[2 * i] = utf8(headers.get(names[i]));
                keep[2 * i + 1] = utf8(names[i]);
                texts.put(i, keep[2 * i]);
                includes.put(i, keep[2 * i + 1]);
            }
            for (int i = 0; i < options.size(); i++) {
                keep[2 * h + i] = utf8(options.get(i));
                opts.put(i, keep[2 * h + i]);
            }
            _nvrtcProgram prog = new _nvrtcProgram();
            try {
                check(nvrtcCreateProgram(prog, src, name, h, h == 0 ? null : texts, h == 0 ? null : includes),
                        "nvrtcCreateProgram", fileName);
                int r = nvrtcCompileProgram(prog, options.size(), opts);
                SizeTPointer size = new SizeTPointer(1);
                check(nvrtcGetProgramLogSize(prog, size), "nvrtcGetProgramLogSize", fileName);
                byte[] logBytes = new byte[(int) size.get()];
                check(nvrtcGetProgramLog(prog, logBytes), "nvrtcGetProgramLog", fileName);
                int end = 0;
                while (end < logBytes.length && logBytes[end] != 0) end++;
                String log = new String(logBytes, 0, end, StandardCharsets.UTF_8);
                if (r == NVRTC_ERROR_COMPILATION) throw new KernelCompileException(fileName, Nvrtc.archOption(options), log);
                check(r, "nvrtcCompileProgram", fileName);
                check(nvrtcGetCUBINSize(prog, size), "nvrtcGetCUBINSize", fileName);
                byte[] cubin = new byte[Math.toIntExact(size.get())];
                check(nvrtcGetCUBIN(prog, cubin), "nvrtcGetCUBIN", fileName);
                size.close();
                return cubin;
            } finally {
                nvrtcDestroyProgram(prog);
                for (BytePointer p : keep) if (p != null) p.close();
            }
        }
    }
}
