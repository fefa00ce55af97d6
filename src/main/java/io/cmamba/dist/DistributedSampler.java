package io.cmamba.dist;

/**
 * Which samples each rank trains on. Every rank draws the same seeded permutation of the epoch as a
 * single process would; global batch b is the slice [b * G, (b + 1) * G) of it (G the global batch
 * size), and rank r takes its rows r, r + W, r + 2W, ... (W ranks). So N ranks together see exactly the
 * batches one process sees with batch size G, shard sizes differ by at most one (equal when W divides
 * the batch), and the shards of a batch are disjoint and cover it.
 */
public final class DistributedSampler {
    private final int rank, world;

    public DistributedSampler(int rank, int world) {
        if (world < 1 || rank < 0 || rank >= world)
            throw new IllegalArgumentException("rank " + rank + " outside a world of " + world);
        this.rank = rank;
        this.world = world;
    }

    public int rank() {
        return rank;
    }

    public int worldSize() {
        return world;
    }

    /** Rows of a global batch of {@code size} rows that this rank takes: rank, rank + W, ... */
    public int[] rows(int size) {
        int n = shardSize(size, rank, world);
        int[] rows = new int[n];
        for (int i = 0; i < n; i++) rows[i] = rank + i * world;
        return rows;
    }

    /** This rank's samples of the global batch {@code batch} (sample indices in global-batch order). */
    public int[] shard(int[] batch) {
        int[] rows = rows(batch.length);
        int[] out = new int[rows.length];
        for (int i = 0; i < rows.length; i++) out[i] = batch[rows[i]];
        return out;
    }

    /** Rows of a global batch of {@code size} that rank {@code r} of {@code w} takes. */
    public static int shardSize(int size, int r, int w) {
        return size > r ? (size - r + w - 1) / w : 0;
    }
}
