package io.cmamba.dist;

import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DistributedSamplerTest {
    static int[] batch(int n, long seed) {
        int[] b = new int[n];
        java.util.SplittableRandom r = new java.util.SplittableRandom(seed);
        for (int i = 0; i < n; i++) b[i] = r.nextInt(100000);
        return b;
    }

    @Test
    void shardsOfABatchAreDisjointAndCoverItInOrder() {
        for (int world : new int[]{1, 2, 3, 4, 8})
            for (int size : new int[]{1, 2, 3, 7, 16, 33, 1024}) {
                int[] b = batch(size, size * 31L + world);
                boolean[] taken = new boolean[size];
                int total = 0, min = Integer.MAX_VALUE, max = 0;
                for (int r = 0; r < world; r++) {
                    DistributedSampler s = new DistributedSampler(r, world);
                    int[] rows = s.rows(size), shard = s.shard(b);
                    assertEquals(rows.length, shard.length);
                    for (int i = 0; i < rows.length; i++) {
                        assertTrue(!taken[rows[i]], "row " + rows[i] + " taken twice (world " + world + ", size " + size + ")");
                        taken[rows[i]] = true;
                        assertEquals(b[rows[i]], shard[i]);
                        if (i > 0) assertTrue(rows[i] > rows[i - 1], "rows in batch order");
                    }
                    total += rows.length;
                    min = Math.min(min, rows.length);
                    max = Math.max(max, rows.length);
                    assertEquals(DistributedSampler.shardSize(size, r, world), rows.length);
                }
                assertEquals(size, total, "world " + world + ", size " + size);
                assertTrue(max - min <= 1, "shard sizes differ by at most one");
                if (size % world == 0) assertEquals(min, max, "equal shards when the world divides the batch");
            }
    }

    @Test
    void oneRankIsTheWholeBatch() {
        int[] b = batch(10, 3);
        assertArrayEquals(b, new DistributedSampler(0, 1).shard(b));
    }

    @Test
    void aBatchSmallerThanTheWorldLeavesSomeShardsEmpty() {
        assertEquals(1, new DistributedSampler(1, 4).rows(2).length);
        assertEquals(0, new DistributedSampler(2, 4).rows(2).length);
        assertEquals(0, new DistributedSampler(3, 4).rows(2).length);
    }

    @Test
    void globalBatchIsPerRankBatchTimesWorld() {
        int world = 4, perRank = 256;
        for (int r = 0; r < world; r++) assertEquals(perRank, new DistributedSampler(r, world).rows(perRank * world).length);
        assertTrue(Arrays.equals(new int[]{1, 5, 9}, new DistributedSampler(1, 4).rows(12)));
    }

    @Test
    void badRanksAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new DistributedSampler(2, 2));
        assertThrows(IllegalArgumentException.class, () -> new DistributedSampler(-1, 2));
    }
}
