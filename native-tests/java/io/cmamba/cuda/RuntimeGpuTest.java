package io.cmamba.cuda;

import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static io.cmamba.cuda.GpuSupport.gpu;
import static org.junit.jupiter.api.Assertions.*;

/** NVRTC errors, the kernel cache, and the caching allocator's reuse, counters and out-of-memory message. */
@Tag("gpu")
class RuntimeGpuTest {
    @Test
    void compileErrorsNameTheFileAndLine() {
        CudaBackend be = gpu();
        CudaException e = assertThrows(CudaException.class, () -> be.kernels().nvrtc().compileToCubin("broken.cu",
                "extern \"C\" __global__ void k(float* x) {\n  x[0] = undefined_name;\n}\n", Map.of(),
                List.of("--gpu-architecture=" + be.device().arch())));
        assertTrue(e.getMessage().contains("broken.cu(2)"), e.getMessage());
    }

    @Test
    void theSecondCompileOfASourceComesFromTheCache() {
        CudaBackend be = gpu();
        be.kernels().cubin("optim.cu");
        long hits = be.kernels().stats()[1];
        be.kernels().cubin("optim.cu");
        assertEquals(hits + 1, be.kernels().stats()[1], "the second request should be a cache hit");
    }

    @Test
    void freedBlocksAreReusedAndCounted() {
        CudaBackend be = gpu();
        DeviceAllocator a = be.allocator();
        long before = a.bytesInUse();
        Tensor t = be.empty(DType.F32, 1000, 1000);
        assertEquals(before + DeviceAllocator.sizeClass(4_000_000), a.bytesInUse());
        long driver = a.driverBytes();
        t.close();
        assertEquals(before, a.bytesInUse());
        Tensor again = be.empty(DType.F32, 1000, 1000);
        assertEquals(driver, a.driverBytes(), "a freed block of the same size class should be reused");
        assertTrue(a.peakBytes() >= before + 4_000_000);
        again.close();
    }

    @Test
    void outOfMemoryNamesTheRequestAndThePool() {
        CudaBackend be = gpu();
        CudaException e = assertThrows(CudaException.class, () -> be.empty(DType.F32, 1 << 30, 1 << 8));
        assertTrue(e.getMessage().contains("out of device memory") && e.getMessage().contains("requested 1099511627776"), e.getMessage());
    }
}
