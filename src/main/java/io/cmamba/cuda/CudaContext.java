package io.cmamba.cuda;

import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.JCudaDriver;

/**
 * The primary context of one device (the one the CUDA runtime, hence cuBLAS, also uses), retained
 * for the life of this object. Driver calls act on the calling thread's current context, so every
 * entry point of the backend calls {@link #makeCurrent} first; it is a thread-local check when the
 * context is already current.
 */
public final class CudaContext implements AutoCloseable {
    private static final ThreadLocal<CudaContext> CURRENT = new ThreadLocal<>();

    private final CudaDevice device;
    private final CUdevice handle;
    private final CUcontext context = new CUcontext();
    private boolean closed;

    public CudaContext(CudaDevice device) {
        Cuda.init();
        this.device = device;
        this.handle = device.handle();
        Cuda.check(JCudaDriver.cuDevicePrimaryCtxRetain(context, handle), "cuDevicePrimaryCtxRetain",
                "opening the primary context of device " + device.index());
        makeCurrent();
    }

    public CudaDevice device() {
        return device;
    }

    public CUcontext handle() {
        return context;
    }

    /** Binds this context to the calling thread (once per thread while it stays bound). */
    public void makeCurrent() {
        if (closed) throw new IllegalStateException("the CUDA context of device " + device.index() + " is closed");
        if (CURRENT.get() == this) return;
        Cuda.check(JCudaDriver.cuCtxSetCurrent(context), "cuCtxSetCurrent", "binding device " + device.index() + " to this thread");
        CURRENT.set(this);
    }

    /** Waits for all work of the context, on every stream. */
    public void synchronize() {
        makeCurrent();
        Cuda.check(JCudaDriver.cuCtxSynchronize(), "cuCtxSynchronize");
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        if (CURRENT.get() == this) CURRENT.remove();
        Cuda.check(JCudaDriver.cuDevicePrimaryCtxRelease(handle), "cuDevicePrimaryCtxRelease");
    }
}
