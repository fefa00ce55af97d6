package io.cmamba.dist;

import io.cmamba.tensor.Tensor;

import java.util.List;

/**
 * Collective operations over the ranks of a job, on tensors of the rank's own backend: NCCL on
 * device memory for the CUDA backend ({@link NcclCollective}), TCP through rank 0 for the CPU backend
 * ({@link TcpCollective}, the way PyTorch uses gloo for CPU tensors). Every rank must issue the same
 * collectives in the same order with tensors of the same shapes.
 */
public interface Collective extends AutoCloseable {

    /** The control channel: rendezvous, heartbeat, aborts. */
    Rendezvous rendezvous();

    default int rank() {
        return rendezvous().rank();
    }

    default int worldSize() {
        return rendezvous().worldSize();
    }

    /** A collective in flight. */
    interface Pending {
        /**
         * Makes its result visible to what this rank does next: on a GPU the compute stream waits for it
         * (the host does not); on the CPU the values are written back.
         */
        void await();
    }

    /**
     * Starts replacing every tensor by its sum over all ranks, in place. On a GPU it runs on a stream of
     * its own after the work queued so far, so it overlaps with what the caller queues next; the
     * tensors must not be written until {@link Pending#await} has been called.
     */
    Pending allReduceSumAsync(List<Tensor> tensors);

    default void allReduceSum(List<Tensor> tensors) {
        allReduceSumAsync(tensors).await();
    }

    /** Rank 0's values of the tensors on every rank (initial parameters). */
    void broadcast(List<Tensor> tensors);

    /** Returns when every rank has called it. */
    default void barrier() {
        rendezvous().barrier();
    }

    /** Frees what the collective holds (not the rendezvous, which its owner closes). */
    @Override
    void close();
}
