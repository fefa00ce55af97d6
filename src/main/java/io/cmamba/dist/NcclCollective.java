package io.cmamba.dist;

import io.cmamba.cuda.CudaBackend;
import io.cmamba.cuda.CudaStream;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;
import jcuda.driver.CUevent;
import jcuda.driver.CUevent_flags;
import jcuda.driver.CUresult;
import jcuda.driver.JCudaDriver;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.nccl.ncclComm;
import org.bytedeco.cuda.nccl.ncclUniqueId;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.Pointer;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.bytedeco.cuda.global.nccl.*;

/**
 * NCCL collectives (bytedeco's binding) on the CUDA backend's own device memory, one communicator per
 * process and GPU. Rank 0 creates the ncclUniqueId and hands its 128 bytes to the others over the
 * {@link Rendezvous}; then ncclCommInitRank.
 *
 * <p>Every collective runs on a communication stream of its own: it waits (through an event) for the
 * work the backend has queued so far, and {@link Pending#await} makes the backend's stream wait for the
 * collective in turn, so neither the host nor the compute stream stalls while gradients travel.
 *
 * <p>Nothing waits forever: a watchdog thread polls each collective's completion event and NCCL's
 * asynchronous error; past the timeout, or on an NCCL error, or when the rendezvous reports a dead
 * rank, it aborts the communicator (ncclCommAbort ends the kernels that wait for the missing peer) and
 * fails the job through the rendezvous with a message naming the collective and the rank.
 *
 * <p>libnccl.so.2 is loaded on first use only, so CPU runs and single-GPU runs never need it.
 */
public final class NcclCollective implements Collective {
    /** A bytedeco pointer at a raw address (device memory, a stream): javacpp passes it through. */
    private static final class Address extends Pointer {
        Address(long address) {
            super();
            this.address = address;
        }
    }

    private final Rendezvous rv;
    private final CudaBackend backend;
    private final CudaStream comm;
    private final CUstream_st commHandle;
    private final CUevent queued = new CUevent();
    private final ncclComm handle = new ncclComm();
    private final Duration timeout;
    private final CopyOnWriteArrayList<Watch> watched = new CopyOnWriteArrayList<>();
    private final Thread watchdog;
    private volatile boolean initialised, closed, aborted;
    private long sequence;

    /** One collective (or the communicator's creation) under the watchdog. */
    private final class Watch implements Pending {
        final String what;
        final CUevent done;
        final long deadline;
        boolean complete, awaited;

        Watch(String what, CUevent done) {
            this.what = what;
            this.done = done;
            this.deadline = System.nanoTime() + timeout.toNanos();
        }

        @Override
        public synchronized void await() {
            if (awaited) return;
            rv.check();
            backend.context().makeCurrent();
            check(JCudaDriver.cuStreamWaitEvent(backend.stream().handle(), done, 0), "cuStreamWaitEvent");
            awaited = true;
            if (complete) release();
        }

        /** Called by the watchdog: true when it can forget this one. */
        synchronized boolean poll(long now) {
            if (done != null && !complete) {
                int r = JCudaDriver.cuEventQuery(done);
                if (r == CUresult.CUDA_SUCCESS) complete = true;
                else if (r != CUresult.CUDA_ERROR_NOT_READY)
                    throw new DistributedException(what + " failed on the device: " + CUresult.stringFor(r));
            }
            if (done != null && complete) {
                if (awaited) release();
                return awaited;
            }
            if (now > deadline)
                throw new DistributedException(what + " did not finish within " + Rendezvous.seconds(timeout)
                        + " (another rank is missing from it, or hung)");
            return done == null && initialised;
        }

        private void release() {
            watched.remove(this);
            JCudaDriver.cuEventDestroy(done);
        }
    }

    /** Joins the communicator of the rendezvous's job on the backend's device. */
    public NcclCollective(Rendezvous rv, CudaBackend backend) {
        this.rv = rv;
        this.backend = backend;
        this.timeout = rv.timeout();
        if (!"0".equals(System.getenv("NCCL_NVLS_ENABLE")))
            throw new DistributedException("NCCL_NVLS_ENABLE must be 0 in every worker's environment (NVLink multicast stays off;"
                    + " `cmamba train --gpus N` sets it, an external launcher must export it)");
        load();
        backend.context().makeCurrent();
        try {
            org.bytedeco.cuda.global.cudart.cudaSetDevice(backend.device().index());
        } catch (LinkageError ignored) {
            // the driver context made current above is what the runtime adopts anyway
        }
        byte[] id = rv.broadcast(rv.rank() == 0 ? newUniqueId() : null);
        if (id.length != NCCL_UNIQUE_ID_BYTES)
            throw new DistributedException("rank 0 sent an NCCL id of " + id.length + " bytes, expected " + NCCL_UNIQUE_ID_BYTES);
        ncclUniqueId uid = new ncclUniqueId();
        for (int i = 0; i < id.length; i++) uid.internal(i, id[i]);
        comm = new CudaStream();
        commHandle = new CUstream_st(new Address(comm.address()));
        check(JCudaDriver.cuEventCreate(queued, CUevent_flags.CU_EVENT_DISABLE_TIMING), "cuEventCreate");
        Watch init = new Watch("ncclCommInitRank (rank " + rv.rank() + " of " + rv.worldSize() + ")", null);
        watched.add(init);
        watchdog = new Thread(this::watch, "cmamba-nccl-watchdog");
        watchdog.setDaemon(true);
        watchdog.start();
        rv.onFailure(m -> abort());
        nccl(ncclCommInitRank(handle, rv.worldSize(), uid, rv.rank()), "ncclCommInitRank");
        initialised = true;
    }

    /** Loads libnccl.so.2 (bytedeco's JNI bridge needs the library itself on the loader path). */
    public static void load() {
        try {
            Loader.load(org.bytedeco.cuda.global.nccl.class);
        } catch (Throwable e) {
            throw new DistributedException("NCCL could not be loaded (" + e + "); put the directory of libnccl.so.2 on"
                    + " LD_LIBRARY_PATH (PyTorch's wheels ship one under site-packages/nvidia/nccl/lib)", e);
        }
    }

    /** NCCL's version, e.g. "2.28.9" (loads the library). */
    public static String version() {
        load();
        int[] v = new int[1];
        int r = ncclGetVersion(v);
        if (r != ncclSuccess) return "unknown (" + ncclGetErrorString(r).getString() + ")";
        int code = v[0];
        return code >= 10000 ? (code / 10000) + "." + (code / 100 % 100) + "." + (code % 100)
                : (code / 1000) + "." + (code / 100 % 10) + "." + (code % 100);
    }

    private static byte[] newUniqueId() {
        ncclUniqueId uid = new ncclUniqueId();
        int r = ncclGetUniqueId(uid);
        if (r != ncclSuccess) throw new DistributedException("ncclGetUniqueId failed: " + ncclGetErrorString(r).getString());
        byte[] id = new byte[NCCL_UNIQUE_ID_BYTES];
        for (int i = 0; i < id.length; i++) id[i] = uid.internal(i);
        return id;
    }

    @Override
    public Rendezvous rendezvous() {
        return rv;
    }

    @Override
    public synchronized Pending allReduceSumAsync(List<Tensor> tensors) {
        return launch("all-reduce #" + (++sequence) + " (" + describe(tensors) + ")", tensors, false);
    }

    @Override
    public synchronized void broadcast(List<Tensor> tensors) {
        launch("broadcast #" + (++sequence) + " (" + describe(tensors) + ")", tensors, true).await();
        backend.synchronize();
    }

    private Pending launch(String what, List<Tensor> tensors, boolean broadcast) {
        rv.check();
        backend.context().makeCurrent();
        // the communication stream starts after everything the backend has queued so far
        check(JCudaDriver.cuEventRecord(queued, backend.stream().handle()), "cuEventRecord");
        check(JCudaDriver.cuStreamWaitEvent(comm.handle(), queued, 0), "cuStreamWaitEvent");
        nccl(ncclGroupStart(), "ncclGroupStart");
        for (Tensor t : tensors) {
            if (t.backend() != backend) throw new IllegalArgumentException(what + ": a tensor of " + t.backend().name() + ", expected " + backend.name());
            Address p = new Address(CudaBackend.address(t));
            int type = ncclType(t.dtype());
            int r = broadcast ? ncclBroadcast(p, p, t.size(), type, 0, handle, commHandle)
                    : ncclAllReduce(p, p, t.size(), type, ncclSum, handle, commHandle);
            if (r != ncclSuccess) {
                ncclGroupEnd();
                nccl(r, broadcast ? "ncclBroadcast" : "ncclAllReduce");
            }
        }
        nccl(ncclGroupEnd(), "ncclGroupEnd");
        CUevent done = new CUevent();
        check(JCudaDriver.cuEventCreate(done, CUevent_flags.CU_EVENT_DISABLE_TIMING), "cuEventCreate");
        check(JCudaDriver.cuEventRecord(done, comm.handle()), "cuEventRecord");
        Watch w = new Watch(what, done);
        watched.add(w);
        return w;
    }

    private void watch() {
        backend.context().makeCurrent();
        int[] async = new int[1];
        while (!closed) {
            try {
                long now = System.nanoTime();
                for (Watch w : watched) if (w.poll(now)) watched.remove(w);
                if (initialised && !aborted) {
                    int r = ncclCommGetAsyncError(handle, async);
                    if (r == ncclSuccess && async[0] != ncclSuccess && async[0] != ncclInProgress)
                        throw new DistributedException("NCCL reported " + ncclGetErrorString(async[0]).getString()
                                + lastError());
                }
            } catch (DistributedException e) {
                rv.fail(e.getMessage());
                abort();
                return;
            }
            try {
                Thread.sleep(watched.isEmpty() ? 50 : 2);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    private String lastError() {
        try {
            String s = ncclGetLastError(handle).getString();
            return s == null || s.isBlank() ? "" : ": " + s;
        } catch (RuntimeException e) {
            return "";
        }
    }

    /** Ends every NCCL kernel of the communicator: the job is going down and nobody will answer them. */
    private synchronized void abort() {
        if (aborted || !initialised) return;
        aborted = true;
        ncclCommAbort(handle);
    }

    private static int ncclType(DType d) {
        return switch (d) {
            case F32 -> ncclFloat32;
            case F64 -> ncclFloat64;
            case I32 -> throw new IllegalArgumentException("collectives take F32 or F64 tensors, got I32");
        };
    }

    private static String describe(List<Tensor> tensors) {
        long n = 0;
        for (Tensor t : tensors) n += t.size();
        return n + " values in " + tensors.size() + " tensor" + (tensors.size() == 1 ? "" : "s");
    }

    private void nccl(int result, String call) {
        if (result == ncclSuccess) return;
        String msg = call + " failed on rank " + rv.rank() + ": " + ncclGetErrorString(result).getString() + lastError();
        if (result == ncclRemoteError || result == ncclSystemError) msg += " (a peer exited, or the network failed)";
        rv.fail(msg);
        throw new DistributedException(msg);
    }

    private static void check(int result, String call) {
        if (result != CUresult.CUDA_SUCCESS)
            throw new DistributedException(call + " failed: " + CUresult.stringFor(result));
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        watchdog.interrupt();
        try {
            watchdog.join(1000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        backend.context().makeCurrent();
        if (initialised) {
            if (rv.failure() == null && !aborted) {
                comm.synchronize();
                ncclCommDestroy(handle);
            } else {
                abort();
            }
        }
        for (Watch w : watched) if (w.done != null) JCudaDriver.cuEventDestroy(w.done);
        JCudaDriver.cuEventDestroy(queued);
        comm.close();
    }
}
