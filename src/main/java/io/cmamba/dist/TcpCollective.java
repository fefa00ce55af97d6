package io.cmamba.dist;

import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * The CPU backend's transport (what gloo is to PyTorch's CPU tensors): rank 0 receives every rank's
 * values over the {@link Rendezvous} connections, sums them in rank order, and sends the sum back, so
 * every rank gets the same bits. Not meant to be fast; it lets the distributed training logic, the
 * sampler and the gradient buckets run (and be tested) without a GPU.
 *
 * <p>The network part runs on one thread of its own, in submission order, so an all-reduce started
 * during the backward overlaps with the rest of it; the tensors are read when it starts and written
 * back by {@link Pending#await} on the caller's thread (the backend is never used from two threads).
 */
public final class TcpCollective implements Collective {
    private final Rendezvous rv;
    private final ExecutorService comm = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "cmamba-tcp-collective");
        t.setDaemon(true);
        return t;
    });

    public TcpCollective(Rendezvous rv) {
        this.rv = rv;
    }

    @Override
    public Rendezvous rendezvous() {
        return rv;
    }

    @Override
    public Pending allReduceSumAsync(List<Tensor> tensors) {
        boolean f64 = dtypeOf(tensors) == DType.F64;
        byte[] mine = pack(tensors, f64);
        Future<byte[]> sum = comm.submit(() -> sumOverRanks(mine, f64));
        return () -> unpack(tensors, get(sum), f64);
    }

    @Override
    public void broadcast(List<Tensor> tensors) {
        boolean f64 = dtypeOf(tensors) == DType.F64;
        byte[] mine = rank() == 0 ? pack(tensors, f64) : null;
        byte[] r = get(comm.submit(() -> rv.broadcast(mine)));
        if (rank() != 0) unpack(tensors, r, f64);
    }

    @Override
    public void barrier() {
        get(comm.submit(() -> {
            rv.barrier();
            return null;
        }));
    }

    private byte[] sumOverRanks(byte[] mine, boolean f64) {
        int world = rv.worldSize();
        if (world == 1) return mine;
        if (rv.rank() != 0) {
            rv.send(0, mine);
            return rv.receive(0);
        }
        ByteBuffer acc = ByteBuffer.wrap(mine.clone()).order(ByteOrder.LITTLE_ENDIAN);
        for (int r = 1; r < world; r++) {
            byte[] part = rv.receive(r);
            if (part.length != mine.length)
                rv.fail("rank " + r + " sent " + part.length + " bytes to an all-reduce of " + mine.length
                        + " (the ranks disagree on the tensors)");
            rv.check();
            ByteBuffer b = ByteBuffer.wrap(part).order(ByteOrder.LITTLE_ENDIAN);
            if (f64) for (int i = 0; i < mine.length; i += 8) acc.putDouble(i, acc.getDouble(i) + b.getDouble(i));
            else for (int i = 0; i < mine.length; i += 4) acc.putFloat(i, acc.getFloat(i) + b.getFloat(i));
        }
        byte[] sum = acc.array();
        for (int r = 1; r < world; r++) rv.send(r, sum);
        return sum;
    }

    private static DType dtypeOf(List<Tensor> tensors) {
        if (tensors.isEmpty()) return DType.F32;
        DType d = tensors.get(0).dtype();
        for (Tensor t : tensors)
            if (t.dtype() != d || t.dtype() == DType.I32)
                throw new IllegalArgumentException("collectives take F32 or F64 tensors of one dtype, got " + d + " and " + t.dtype());
        return d;
    }

    private static byte[] pack(List<Tensor> tensors, boolean f64) {
        long n = 0;
        for (Tensor t : tensors) n += t.size();
        ByteBuffer b = ByteBuffer.allocate(Math.toIntExact(n * (f64 ? 8 : 4))).order(ByteOrder.LITTLE_ENDIAN);
        for (Tensor t : tensors) {
            if (f64) for (double v : t.toDoubles()) b.putDouble(v);
            else for (float v : t.toFloats()) b.putFloat(v);
        }
        return b.array();
    }

    private static void unpack(List<Tensor> tensors, byte[] bytes, boolean f64) {
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        for (Tensor t : tensors) {
            int n = Math.toIntExact(t.size());
            Tensor tmp;
            if (f64) {
                double[] v = new double[n];
                for (int i = 0; i < n; i++) v[i] = b.getDouble();
                tmp = t.backend().fromDoubles(DType.F64, v, t.shape().dims());
            } else {
                float[] v = new float[n];
                for (int i = 0; i < n; i++) v[i] = b.getFloat();
                tmp = t.backend().fromFloats(v, t.shape().dims());
            }
            try (tmp) {
                t.backend().copy(t, tmp);
            }
        }
    }

    private <T> T get(Future<T> f) {
        try {
            return f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new DistributedException("rank " + rank() + " was interrupted in a collective");
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException r) throw r;
            throw new DistributedException("rank " + rank() + ": collective failed: " + e.getCause(), e.getCause());
        }
    }

    @Override
    public void close() {
        comm.shutdownNow();
    }
}
