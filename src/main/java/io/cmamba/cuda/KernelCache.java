package io.cmamba.cuda;

import io.cmamba.files.AtomicFiles;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * CUBINs on disk, so that a second start compiles nothing. The key hashes everything that changes
 * the binary: the compiler and its version, the target arch, the options, the source and every header.
 * Default folder ~/.cache/cmamba/kernels; property cmamba.kernelCache overrides it ("off" disables).
 */
final class KernelCache {
    private final Path dir;

    KernelCache() {
        String p = System.getProperty("cmamba.kernelCache");
        if ("off".equals(p)) dir = null;
        else dir = p != null ? Path.of(p) : Path.of(System.getProperty("user.home"), ".cache", "cmamba", "kernels");
    }

    static String key(String compiler, String arch, List<String> options, String file, String source, Map<String, String> headers) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            for (String s : new String[]{compiler, arch, String.join(" ", options), file, source}) {
                md.update(s.getBytes(StandardCharsets.UTF_8));
                md.update((byte) 0);
            }
            for (Map.Entry<String, String> h : new TreeMap<>(headers).entrySet()) {
                md.update(h.getKey().getBytes(StandardCharsets.UTF_8));
                md.update((byte) 0);
                md.update(h.getValue().getBytes(StandardCharsets.UTF_8));
                md.update((byte) 0);
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    byte[] get(String key) {
        if (dir == null) return null;
        Path f = dir.resolve(key + ".cubin");
        try {
            return Files.isRegularFile(f) ? Files.readAllBytes(f) : null;
        } catch (IOException e) {
            return null; // an unreadable entry is a miss; the compile result replaces it
        }
    }

    void put(String key, byte[] cubin) {
        if (dir == null) return;
        try {
            AtomicFiles.write(dir.resolve(key + ".cubin"), cubin);
        } catch (IOException e) {
            System.err.println("warning: cannot write the kernel cache in " + dir + ": " + e.getMessage());
        }
    }
}
