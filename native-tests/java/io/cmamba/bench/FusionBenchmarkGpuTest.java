package io.cmamba.bench;

import io.cmamba.cuda.CudaBackend;
import io.cmamba.cuda.GpuSupport;
import io.cmamba.tensor.DType;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** The benchmark's memory figures on the device: the allocator's peak and the driver's count. */
@Tag("gpu")
class FusionBenchmarkGpuTest {
    @Test
    void aTimedRegionHoldingSixtyFourMiBShowsInBothFigures() {
        CudaBackend gpu = GpuSupport.gpu();
        gpu.synchronize();
        gpu.allocator().trim();
        long[] info = gpu.allocator().deviceMemoryInfo();
        assertTrue(info[1] > 0 && info[0] >= 0 && info[0] <= info[1], "free " + info[0] + " of " + info[1]);
        double usedBefore = (info[1] - info[0]) / 1048576.0;
        double[] r = FusionBenchmark.time(gpu, 1, 3, () -> gpu.empty(DType.F32, 16 << 20).close());   // 64 MiB
        assertTrue(r[0] >= 0, "median " + r[0]);
        assertTrue(r[1] >= 64, "allocator peak " + r[1] + " MiB");
        // the freed block stays cached, so the driver still counts it after each run
        assertTrue(r[2] >= usedBefore + 63, "driver " + r[2] + " MiB, " + usedBefore + " MiB before");
        gpu.allocator().trim();
    }
}
