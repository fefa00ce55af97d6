package io.cmamba.cuda;

import jcuda.driver.CUevent;
import jcuda.driver.CUevent_flags;
import jcuda.driver.JCudaDriver;

/** A timing event: record two on a stream and read the milliseconds between them. */
public final class CudaEvent implements AutoCloseable {
    private final CUevent event = new CUevent();
    private boolean closed;

    public CudaEvent() {
        Cuda.check(JCudaDriver.cuEventCreate(event, CUevent_flags.CU_EVENT_DEFAULT), "cuEventCreate");
    }

    public void record(CudaStream stream) {
        Cuda.check(JCudaDriver.cuEventRecord(event, stream.handle()), "cuEventRecord");
    }

    public void synchronize() {
        Cuda.check(JCudaDriver.cuEventSynchronize(event), "cuEventSynchronize");
    }

    /** Milliseconds from {@code start} to this event (waits for this event). */
    public float millisSince(CudaEvent start) {
        synchronize();
        float[] ms = new float[1];
        Cuda.check(JCudaDriver.cuEventElapsedTime(ms, start.event, event), "cuEventElapsedTime");
        return ms[0];
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        Cuda.check(JCudaDriver.cuEventDestroy(event), "cuEventDestroy");
    }
}
