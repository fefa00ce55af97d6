package io.cmamba.cuda;

/**
 * A failed CUDA, NVRTC or cuBLAS call. The message names the call, its result code and what it was
 * doing (the kernel and its launch shape, the buffer size...).
 */
public class CudaException extends RuntimeException {
    private final String call;
    private final int code;

    public CudaException(String call, int code, String message) {
        super(message);
        this.call = call;
        this.code = code;
    }

    public CudaException(String message, Throwable cause) {
        super(message, cause);
        this.call = null;
        this.code = 0;
    }

    /** The failing API function ("cuLaunchKernel"), or null for an error raised by this package. */
    public String call() {
        return call;
    }

    /** The API's result code (0 when not from an API call). */
    public int code() {
        return code;
    }
}
