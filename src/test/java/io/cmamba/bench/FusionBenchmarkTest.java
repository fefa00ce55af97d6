package io.cmamba.bench;

import io.cmamba.cuda.DeviceOutOfMemoryException;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class FusionBenchmarkTest {
    /** A size that runs out of device memory becomes an "oom" row; anything else still fails the sweep. */
    @Test
    void outOfMemoryIsRecognisedWhereverItIsInTheCauseChain() {
        DeviceOutOfMemoryException device = new DeviceOutOfMemoryException(
                "out of GPU memory on cuda:0: a request of 32.00 GiB failed after freeing 0 B of cached blocks");
        assertTrue(FusionBenchmark.isOutOfMemory(device));
        assertTrue(FusionBenchmark.isOutOfMemory(new IllegalStateException("forward failed", device)));
        assertTrue(FusionBenchmark.isOutOfMemory(new OutOfMemoryError("Java heap space")));
        assertFalse(FusionBenchmark.isOutOfMemory(new IllegalArgumentException("shape [2, 3] does not match [3, 2]")));
    }
}
