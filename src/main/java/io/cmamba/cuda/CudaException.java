package io.cmamba.cuda;

/** A failed CUDA, NVRTC or cuBLAS call; the message names the call and what it was doing. */
public class CudaException extends RuntimeException {
    public CudaException(String message) {
        super(message);
    }

    public CudaException(String message, Throwable cause) {
        super(message, cause);
    }
}
