package io.cmamba.dist;

import io.cmamba.nn.Parameter;
import io.cmamba.tensor.Tensor;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Gradient all-reduce in buckets, overlapped with the backward (as PyTorch's DDP does). The model
 * names its parameter groups in the order the backward finishes them (head, last layer, ..., input
 * stages); consecutive groups are packed into buckets of about {@code capBytes}. During the backward
 * the model reports each group as final ({@link #ready}); a bucket whose parameters are all final is
 * started at once, in bucket order, on the collective's own stream, while the backward goes on with
 * the earlier layers. {@link #finish} starts whatever is left, then makes the optimizer wait for all.
 *
 * <p>Buckets are fixed from the group order, not from the order of the calls, so every rank starts
 * the same collectives in the same order even if one of them reports all its gradients at once (a rank
 * with an empty shard).
 */
public final class GradientBuckets {
    private final Collective collective;
    private final List<List<Parameter>> buckets = new ArrayList<>();
    private final Map<Parameter, Integer> bucketOf = new IdentityHashMap<>();
    private final int[] remaining;
    private final boolean[] seen;
    private final Map<Parameter, Integer> position = new IdentityHashMap<>();
    private final List<Collective.Pending> pending = new ArrayList<>();
    private int next;

    /** @param groups parameter groups in the order the backward finishes them; together every parameter once */
    public GradientBuckets(Collective collective, List<List<Parameter>> groups, long capBytes) {
        this.collective = collective;
        List<Parameter> current = new ArrayList<>();
        long bytes = 0;
        int count = 0;
        for (List<Parameter> g : groups) {
            for (Parameter p : g) {
                if (position.put(p, count++) != null)
                    throw new IllegalArgumentException("parameter " + p.name() + " is in two gradient groups");
                current.add(p);
                bytes += p.grad().size() * p.grad().dtype().bytes;
            }
            if (bytes >= capBytes) {
                buckets.add(current);
                current = new ArrayList<>();
                bytes = 0;
            }
        }
        if (!current.isEmpty()) buckets.add(current);
        remaining = new int[buckets.size()];
        seen = new boolean[count];
        for (int b = 0; b < buckets.size(); b++) for (Parameter p : buckets.get(b)) bucketOf.put(p, b);
        reset();
    }

    public int buckets() {
        return buckets.size();
    }

    /** The parameters of bucket b, in order. */
    public List<Parameter> bucket(int b) {
        return List.copyOf(buckets.get(b));
    }

    /** These parameters' gradients are final for this step: start every bucket that is now complete. */
    public void ready(List<Parameter> parameters) {
        for (Parameter p : parameters) {
            Integer b = bucketOf.get(p), i = position.get(p);
            if (b == null) throw new IllegalArgumentException("parameter " + p.name() + " is not in any gradient bucket");
            if (seen[i]) throw new IllegalStateException("parameter " + p.name() + " was reported ready twice in one step");
            seen[i] = true;
            remaining[b]--;
        }
        while (next < buckets.size() && remaining[next] == 0) {
            List<Tensor> grads = new ArrayList<>();
            for (Parameter p : buckets.get(next)) grads.add(p.grad());
            pending.add(collective.allReduceSumAsync(grads));
            next++;
        }
    }

    /**
     * Ends the step's exchange: reduces {@code extra} too (the loss, after every bucket), then makes
     * what this rank does next wait for every bucket. Every parameter must have been reported.
     */
    public void finish(List<Tensor> extra) {
        if (next < buckets.size()) {
            for (Parameter p : buckets.get(next))
                if (!seen[position.get(p)])
                    throw new IllegalStateException("the backward never reported the gradient of " + p.name() + " as final");
        }
        if (!extra.isEmpty()) pending.add(collective.allReduceSumAsync(extra));
        for (Collective.Pending p : pending) p.await();
        reset();
    }

    private void reset() {
        pending.clear();
        next = 0;
        java.util.Arrays.fill(seen, false);
        for (int b = 0; b < buckets.size(); b++) remaining[b] = buckets.get(b).size();
    }
}
