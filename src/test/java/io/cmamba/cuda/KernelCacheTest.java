package io.cmamba.cuda;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/** The CUBIN disk cache without a GPU: keys, round trips, corruption, atomic writes. */
class KernelCacheTest {
    private static final Map<String, String> HEADERS = Map.of("common.cuh", "#pragma once\n", "b.cuh", "int b;\n");
    private static final List<String> OPTIONS = List.of("--gpu-architecture=sm_90", "-lineinfo");

    private static String key(String src, Map<String, String> headers, List<String> options, String arch, String version) {
        return KernelCache.key("kernels/x.cu", src, headers, options, arch, version);
    }

    @Test
    void keyDependsOnEveryInput() {
        Set<String> keys = new HashSet<>();
        keys.add(key("a", HEADERS, OPTIONS, "sm_90", "13.0"));
        keys.add(key("b", HEADERS, OPTIONS, "sm_90", "13.0"));
        keys.add(key("a", Map.of("common.cuh", "#pragma once\n", "b.cuh", "int c;\n"), OPTIONS, "sm_90", "13.0"));
        keys.add(key("a", Map.of("common.cuh", "#pragma once\n", "c.cuh", "int b;\n"), OPTIONS, "sm_90", "13.0"));
        keys.add(key("a", HEADERS, List.of("--gpu-architecture=sm_90"), "sm_90", "13.0"));
        keys.add(key("a", HEADERS, OPTIONS, "sm_80", "13.0"));
        keys.add(key("a", HEADERS, OPTIONS, "sm_90", "12.6"));
        assertEquals(7, keys.size(), "every change of an input changes the key");
        // the same inputs (headers in any order) give the same key
        Map<String, String> reordered = new java.util.LinkedHashMap<>();
        reordered.put("b.cuh", "int b;\n");
        reordered.put("common.cuh", "#pragma once\n");
        assertEquals(key("a", HEADERS, OPTIONS, "sm_90", "13.0"), key("a", reordered, OPTIONS, "sm_90", "13.0"));
        // length prefixes: moving text between source and header is a different input
        assertNotEquals(key("ab", Map.of("h", "c"), OPTIONS, "sm_90", "13.0"), key("a", Map.of("h", "bc"), OPTIONS, "sm_90", "13.0"));
        assertTrue(key("a", HEADERS, OPTIONS, "sm_90", "13.0").startsWith("x.cu-sm_90-"));
    }

    @Test
    void roundTripAndMiss(@TempDir Path dir) {
        KernelCache c = new KernelCache(dir.resolve("nested"));
        String k = key("a", HEADERS, OPTIONS, "sm_90", "13.0");
        assertNull(c.get(k));
        byte[] cubin = {0x7f, 'E', 'L', 'F', 1, 2, 3, 0, 0, 9};
        assertNull(c.put(k, cubin));
        assertArrayEquals(cubin, c.get(k));
        assertNull(c.get(key("b", HEADERS, OPTIONS, "sm_90", "13.0")));
    }

    @Test
    void corruptedOrTruncatedEntryIsAMiss(@TempDir Path dir) throws Exception {
        KernelCache c = new KernelCache(dir);
        String k = key("a", HEADERS, OPTIONS, "sm_90", "13.0");
        byte[] cubin = new byte[1000];
        for (int i = 0; i < cubin.length; i++) cubin[i] = (byte) i;
        c.put(k, cubin);
        Path f = dir.resolve(k + ".cubin");
        byte[] raw = Files.readAllBytes(f);
        raw[raw.length - 1] ^= 1;
        Files.write(f, raw);
        assertNull(c.get(k), "a flipped bit is a miss");
        Files.write(f, java.util.Arrays.copyOf(raw, 20));
        assertNull(c.get(k), "a truncated file is a miss");
        Files.write(f, new byte[0]);
        assertNull(c.get(k));
        c.put(k, cubin);
        assertArrayEquals(cubin, c.get(k), "rewritten after corruption");
    }

    @Test
    void writesLeaveNoTemporaryFiles(@TempDir Path dir) throws Exception {
        KernelCache c = new KernelCache(dir);
        for (int i = 0; i < 5; i++) c.put(key("s" + i, HEADERS, OPTIONS, "sm_90", "13.0"), new byte[]{(byte) i, 1});
        try (var files = Files.list(dir)) {
            assertTrue(files.allMatch(p -> p.toString().endsWith(".cubin")));
        }
    }

    @Test
    void disabledCacheMissesAndSaysWhy() {
        KernelCache c = new KernelCache(null);
        assertNull(c.get("anything"));
        assertNotNull(c.put("anything", new byte[]{1}));
    }

    @Test
    void unwritableFolderIsReportedNotThrown(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("a-file");
        Files.writeString(file, "not a folder");
        KernelCache c = new KernelCache(file.resolve("sub"));
        String why = c.put("k", new byte[]{1, 2});
        assertNotNull(why);
        assertTrue(why.contains("cannot write"), why);
    }

    @Test
    void propertyChoosesTheFolder() {
        String old = System.getProperty(KernelCache.PROPERTY);
        try {
            System.setProperty(KernelCache.PROPERTY, "/tmp/some-cache");
            assertEquals(Path.of("/tmp/some-cache"), KernelCache.defaultDir());
            System.setProperty(KernelCache.PROPERTY, "off");
            assertNull(KernelCache.defaultDir());
            System.clearProperty(KernelCache.PROPERTY);
            assertTrue(KernelCache.defaultDir().endsWith(Path.of(".cache", "cmamba", "kernels")));
        } finally {
            if (old == null) System.clearProperty(KernelCache.PROPERTY);
            else System.setProperty(KernelCache.PROPERTY, old);
        }
    }
}
