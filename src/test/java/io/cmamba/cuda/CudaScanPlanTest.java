package io.cmamba.cuda;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The coupled scan's launch plans (no GPU needed): the shapes the kernels are compiled for. */
class CudaScanPlanTest {
    private static final int SHARED = 227 * 1024;   // an H100's or H200's opt-in shared memory per block

    @Test
    void everyPlanLaunchesTheThreadsItsModuleIsCompiledFor() {
        for (int m = 1; m <= 8; m++)
            for (int n : new int[]{1, 2, 3, 7, 8, 16, 17, 31, 32, 64, 100, 256})
                for (int d : new int[]{1, 3, 5, 16, 17, 255, 256, 1536}) {
                    for (CudaScan.Plan p : new CudaScan.Plan[]{CudaScan.forwardPlan(m, n, d, SHARED),
                            CudaScan.backwardPlan(m, n, d, CudaScan.CHUNK_STEPS, SHARED)}) {
                        String where = "M " + m + " N " + n + " D " + d + ": " + p;
                        assertEquals(p.lanes() * p.tileChannels(), p.threads(), where);
                        assertTrue(p.lanes() * p.statesPerThread() >= n, where);
                        assertTrue(p.tileChannels() <= d && p.threads() <= CudaScan.THREADS, where);
                        assertTrue(p.sharedBytes() <= SHARED, where);
                        String prelude = p.prelude("fwd");
                        assertTrue(prelude.contains("#define CS_K " + p.lanes() + "\n")
                                && prelude.contains("#define CS_DT " + p.tileChannels() + "\n"), where);
                    }
                }
    }

    @Test
    void paperSettingRunsFourForwardBlocksPerMultiprocessor() {
        CudaScan.Plan p = CudaScan.forwardPlan(3, 64, 256, SHARED);
        assertEquals(8, p.statesPerThread());
        assertEquals(8, p.lanes());
        assertEquals(16, p.tileChannels());
        assertEquals(4, p.minBlocks());
        assertEquals(53984, p.sharedBytes());   // the development harness's fwd_config gives the same
        assertTrue(4L * (p.sharedBytes() + 1024) <= SHARED, "4 blocks' shared memory fits");
        // 5 modalities x 8 states need more than 128 registers: 3 blocks
        assertEquals(3, CudaScan.forwardPlan(5, 64, 256, SHARED).minBlocks());
    }

    @Test
    void backwardTakesAFourthBlockWhereTheSharedMemoryHoldsIt() {
        // the paper's setting: 4 blocks of 54 KiB with the prefetch buffer, so 128 registers
        CudaScan.Plan paper = CudaScan.backwardPlan(3, 64, 256, CudaScan.CHUNK_STEPS, SHARED);
        assertEquals(4, paper.minBlocks());
        assertTrue(paper.prefetch());
        assertEquals(55360, paper.sharedBytes());   // the development harness's bwd_config gives the same
        assertTrue(4L * (paper.sharedBytes() + 1024) <= SHARED, "4 blocks' shared memory fits");
        assertTrue(paper.prelude("bwd").contains("#define CS_BWD_MIN_BLOCKS 4\n"));
        // N = 16: 4 blocks only without the prefetch buffer; 3 with it were faster (NOTES-scan v9)
        CudaScan.Plan n16 = CudaScan.backwardPlan(3, 16, 1536, CudaScan.CHUNK_STEPS, SHARED);
        assertEquals(3, n16.minBlocks());
        assertTrue(n16.prefetch());
        assertTrue(3L * (n16.sharedBytes() + 1024) <= SHARED && 4L * (n16.sharedBytes() + 1024) > SHARED);
    }

    @Test
    void sharedMemoryBeyondTheDeviceIsRefused() {
        var e = assertThrows(IllegalArgumentException.class, () -> CudaScan.forwardPlan(8, 256, 256, 16 * 1024));
        assertTrue(e.getMessage().contains("shared memory"), e.getMessage());
    }
}
