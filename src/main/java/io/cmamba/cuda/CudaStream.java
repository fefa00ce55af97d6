package io.cmamba.cuda;

import jcuda.driver.CUstream;
import jcuda.driver.CUstream_flags;
import jcuda.driver.JCudaDriver;

/**
 * A non-blocking stream: work on it is ordered, and it never waits on the legacy default stream.
 * The backend issues everything on one stream, which is what makes freeing a buffer back to the
 * caching allocator safe before the kernels that use it have finished.
 */
public final class CudaStream implements AutoCloseable {
    /** CUstream with a readable address (cuBLAS takes the stream as a raw pointer). */
    static final class Handle extends CUstream {
        long address() {
            return getNativePointer();
        }
    }

    private final Handle stream = new Handle();
    private boolean closed;

    public CudaStream() {
        Cuda.check(JCudaDriver.cuStreamCreate(stream, CUstream_flags.CU_STREAM_NON_BLOCKING), "cuStreamCreate");
    }

    public CUstream handle() {
        return stream;
    }

    /** The raw cudaStream_t value. */
    public long address() {
        return stream.address();
    }

    public void synchronize() {
        Cuda.check(JCudaDriver.cuStreamSynchronize(stream), "cuStreamSynchronize",
                "waiting for the kernels queued on the stream (an error here may come from any of them; "
                        + "set -Dcmamba.cudaSync=true to check after every launch)");
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        Cuda.check(JCudaDriver.cuStreamDestroy(stream), "cuStreamDestroy");
    }
}
