package io.cmamba.cuda;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/** Size classes, reuse, counters, trim and out-of-memory handling, on a fake device. */
class CachingAllocatorTest {
    /** A device with a fixed capacity that records every call. */
    static final class FakeMemory implements RawMemory {
        final long capacity;
        long used, next = 1 << 20;
        int allocs, frees;
        final Set<Long> live = new HashSet<>();

        FakeMemory(long capacity) {
            this.capacity = capacity;
        }

        @Override
        public Block allocate(long bytes) {
            if (used + bytes > capacity) return null;
            used += bytes;
            allocs++;
            long a = next;
            next += bytes + 256;
            live.add(a);
            return new Block(a, bytes, "fake");
        }

        @Override
        public void free(Block block) {
            assertTrue(live.remove(block.address()), "double free of " + block.address());
            used -= block.bytes();
            frees++;
        }

        @Override
        public long[] deviceMemoryInfo() {
            return new long[]{capacity - used, capacity};
        }
    }

    @Test
    void sizeClasses() {
        assertEquals(512, CachingAllocator.sizeClass(0));
        assertEquals(512, CachingAllocator.sizeClass(1));
        assertEquals(512, CachingAllocator.sizeClass(512));
        assertEquals(640, CachingAllocator.sizeClass(513));
        assertEquals(768, CachingAllocator.sizeClass(700));
        assertEquals(896, CachingAllocator.sizeClass(800));
        assertEquals(1024, CachingAllocator.sizeClass(1000));
        assertEquals(1280, CachingAllocator.sizeClass(1025));
        assertEquals(1 << 20, CachingAllocator.sizeClass(1 << 20));
        assertEquals(2L << 20, CachingAllocator.sizeClass((1 << 20) + 1));
        assertEquals(4L << 20, CachingAllocator.sizeClass(3_000_000));
        assertEquals(1L << 30, CachingAllocator.sizeClass(1L << 30));
        assertThrows(IllegalArgumentException.class, () -> CachingAllocator.sizeClass(-1));
        // every class holds its request and wastes at most a quarter (small) or 2 MiB (large)
        for (long n = 1; n < (64L << 20); n = n * 3 / 2 + 7) {
            long c = CachingAllocator.sizeClass(n);
            assertTrue(c >= n, n + " -> " + c);
            if (n > 512 && n <= (1 << 20)) assertTrue(c <= n * 1.25 + 1, n + " -> " + c);
            if (n > (1 << 20)) assertTrue(c - n < (2L << 20), n + " -> " + c);
            assertEquals(c, CachingAllocator.sizeClass(c), "a class is its own class");
        }
    }

    @Test
    void reuseAndCounters() {
        FakeMemory dev = new FakeMemory(1L << 30);
        CachingAllocator a = new CachingAllocator(dev, "fake:0");
        DeviceBuffer x = a.allocate(1000);
        DeviceBuffer y = a.allocate(5000);
        assertEquals(2, dev.allocs);
        assertEquals(1024 + 5120, a.stats().inUseBytes());
        assertEquals(6000, a.stats().requestedBytes());
        long addr = x.address();
        x.close();
        x.close();  // closing twice is harmless
        assertEquals(5120, a.stats().inUseBytes());
        assertEquals(1024, a.stats().cachedBytes());
        DeviceBuffer z = a.allocate(900);  // same class as 1000
        assertEquals(addr, z.address());
        assertEquals(2, dev.allocs, "served from the cache");
        assertEquals(1, a.stats().cacheHits());
        assertEquals(1024 + 5120, a.stats().peakInUseBytes());
        assertThrows(IllegalStateException.class, x::address, "a closed buffer is unusable");
        y.close();
        z.close();
        CachingAllocator.Stats s = a.stats();
        assertEquals(0, s.inUseBytes());
        assertEquals(6144, s.cachedBytes());
        assertEquals(6144, s.reservedBytes());
        assertEquals(2, s.cachedBlocks());
        assertEquals(6144, a.trim());
        assertEquals(2, dev.frees);
        assertEquals(0, a.stats().reservedBytes());
        assertEquals(6144, a.stats().peakReservedBytes());
        a.resetPeak();
        assertEquals(0, a.stats().peakReservedBytes());
    }

    @Test
    void outOfMemoryFreesTheCacheAndRetries() {
        FakeMemory dev = new FakeMemory(10L << 20);
        CachingAllocator a = new CachingAllocator(dev, "fake:0");
        List<DeviceBuffer> small = new ArrayList<>();
        for (int i = 0; i < 3; i++) small.add(a.allocate(2L << 20));
        for (DeviceBuffer b : small) b.close();
        assertEquals(6L << 20, a.stats().cachedBytes());
        // 8 MiB does not fit beside the 6 MiB cached: the cache is freed and the request retried
        DeviceBuffer big = a.allocate(8L << 20);
        assertEquals(1, a.stats().oomRetries());
        assertEquals(0, a.stats().cachedBytes());
        assertEquals(3, dev.frees);
        // nothing left to free: a clear error naming the request and the pool
        DeviceOutOfMemoryException e = assertThrows(DeviceOutOfMemoryException.class, () -> a.allocate(4L << 20));
        assertTrue(e.getMessage().contains("fake:0"), e.getMessage());
        assertTrue(e.getMessage().contains("a request of 4.00 MiB"), e.getMessage());
        assertTrue(e.getMessage().contains("in use 8.00 MiB in 1 buffers"), e.getMessage());
        assertTrue(e.getMessage().contains("2.00 MiB free of 10.00 MiB"), e.getMessage());
        big.close();
        assertNotNull(a.allocate(4L << 20), "usable after the error");
    }

    @Test
    void closeFreesEverything() {
        FakeMemory dev = new FakeMemory(1L << 30);
        CachingAllocator a = new CachingAllocator(dev, "fake:0");
        DeviceBuffer live = a.allocate(100);
        a.allocate(200).close();
        a.close();
        assertEquals(0, dev.used);
        assertTrue(live.closed());
        assertThrows(IllegalStateException.class, () -> a.allocate(1));
    }

    @Test
    void humanSizes() {
        assertEquals("512 B", CachingAllocator.human(512));
        assertEquals("1.50 KiB", CachingAllocator.human(1536));
        assertEquals("2.00 GiB", CachingAllocator.human(2L << 30));
    }
}
