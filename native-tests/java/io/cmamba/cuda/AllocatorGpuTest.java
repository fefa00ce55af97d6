package io.cmamba.cuda;

import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import static io.cmamba.cuda.GpuTestSupport.gpu;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The caching allocator on the device: reuse, counters, trim, and out of memory handled cleanly. */
@Tag("gpu")
class AllocatorGpuTest {
    @Test
    void freedBlocksAreReusedAndCounted() {
        CachingAllocator a = gpu().allocator();
        gpu().synchronize();
        CachingAllocator.Stats before = a.stats();
        long address;
        try (DeviceBuffer b = a.allocate(3_000_000)) {
            address = b.address();
            assertEquals(CachingAllocator.sizeClass(3_000_000), b.blockBytes());
            CachingAllocator.Stats during = a.stats();
            assertEquals(before.inUseBytes() + b.blockBytes(), during.inUseBytes());
            assertTrue(during.peakInUseBytes() >= during.inUseBytes());
        }
        try (DeviceBuffer again = a.allocate(2_900_000)) {  // the same size class
            assertEquals(address, again.address(), "the cached block is handed out again");
        }
        CachingAllocator.Stats after = a.stats();
        assertEquals(before.inUseBytes(), after.inUseBytes());
        assertTrue(after.cacheHits() >= before.cacheHits() + 1);
        long freed = a.trim();
        assertTrue(freed >= CachingAllocator.sizeClass(3_000_000));
        assertEquals(0, a.stats().cachedBytes());
    }

    @Test
    void tensorsReturnTheirMemory() {
        CachingAllocator a = gpu().allocator();
        long inUse = a.stats().inUseBytes();
        Tensor t = gpu().empty(DType.F32, 1000, 1000);
        assertEquals(inUse + CachingAllocator.sizeClass(4_000_000), a.stats().inUseBytes());
        t.close();
        assertEquals(inUse, a.stats().inUseBytes());
        assertThrows(IllegalStateException.class, t::toFloats);
    }

    @Test
    void outOfMemoryNamesTheRequestAndRecovers() {
        CachingAllocator a = gpu().allocator();
        long tooMuch = gpu().device().totalMemory() * 2;
        DeviceOutOfMemoryException e = assertThrows(DeviceOutOfMemoryException.class, () -> a.allocate(tooMuch));
        assertTrue(e.getMessage().contains(CachingAllocator.human(tooMuch)) && e.getMessage().contains("in use"), e.getMessage());
        System.out.println("out of memory message: " + e.getMessage());
        // the failed request left the backend usable
        try (Tensor t = gpu().fromFloats(new float[]{1, 2, 3}, 3)) {
            assertEquals(2f, t.toFloats()[1]);
        }
    }
}
