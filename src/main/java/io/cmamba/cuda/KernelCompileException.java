package io.cmamba.cuda;

/** A kernel source that NVRTC rejected; the message carries NVRTC's log ("file(line): error: ..."). */
public final class KernelCompileException extends CudaException {
    private final String log;

    public KernelCompileException(String fileName, String arch, String log) {
        super("nvrtcCompileProgram", 6, "NVRTC could not compile " + fileName + " for " + arch + ":\n" + log.strip());
        this.log = log;
    }

    /** NVRTC's full log. */
    public String log() {
        return log;
    }
}
