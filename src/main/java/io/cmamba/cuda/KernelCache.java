package io.cmamba.cuda;

import io.cmamba.files.AtomicFiles;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

/**
 * Compiled CUBINs on disk, so that a second start compiles nothing. The key hashes everything the
 * output depends on (source, every header, options, target arch, compiler version); a file is
 * written atomically and carries a hash of its payload, so a torn or corrupted entry is a miss,
 * never a bad module. Folder: -Dcmamba.kernelCache=DIR, default ~/.cache/cmamba/kernels;
 * -Dcmamba.kernelCache=off disables it.
 */
public final class KernelCache {
    public static final String PROPERTY = "cmamba.kernelCache";
    private static final byte[] MAGIC = "CMKC1".getBytes(StandardCharsets.US_ASCII);

    private final Path dir;

    /** A cache in {@code dir}; null disables it (every lookup misses, nothing is written). */
    public KernelCache(Path dir) {
        this.dir = dir;
    }

    /** The folder chosen by the property, the default, or null when disabled. */
    public static Path defaultDir() {
        String p = System.getProperty(PROPERTY);
        if (p != null && (p.isBlank() || p.equalsIgnoreCase("off") || p.equalsIgnoreCase("none"))) return null;
        if (p != null) return Path.of(p);
        return Path.of(System.getProperty("user.home"), ".cache", "cmamba", "kernels");
    }

    public Path dir() {
        return dir;
    }

    /**
     * The entry's file name: "elementwise.cu-sm_90-" followed by the SHA-256 of every input
     * (each length-prefixed, so no two different inputs hash the same byte stream).
     */
    public static String key(String fileName, String source, Map<String, String> headers, List<String> options,
                             String arch, String compilerVersion) {
        MessageDigest md = sha256();
        feed(md, "cmamba kernel cache 1");
        feed(md, fileName);
        feed(md, source);
        feed(md, Integer.toString(headers.size()));
        headers.entrySet().stream().sorted(Map.Entry.comparingByKey()).forEach(e -> {
            feed(md, e.getKey());
            feed(md, e.getValue());
        });
        feed(md, Integer.toString(options.size()));
        for (String o : options) feed(md, o);
        feed(md, arch);
        feed(md, compilerVersion);
        String base = fileName.substring(fileName.lastIndexOf('/') + 1).replaceAll("[^A-Za-z0-9_.-]", "_");
        return base + "-" + arch + "-" + HexFormat.of().formatHex(md.digest());
    }

    private static void feed(MessageDigest md, String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        md.update(Long.toString(b.length).getBytes(StandardCharsets.US_ASCII));
        md.update((byte) ':');
        md.update(b);
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 missing from this JVM", e);
        }
    }

    private Path file(String key) {
        return dir.resolve(key + ".cubin");
    }

    /** The cached CUBIN, or null when absent, unreadable or corrupted. */
    public byte[] get(String key) {
        if (dir == null) return null;
        Path f = file(key);
        byte[] all;
        try {
            if (!Files.isRegularFile(f)) return null;
            all = Files.readAllBytes(f);
        } catch (IOException e) {
            return null;
        }
        int head = MAGIC.length + 32;
        if (all.length <= head || !Arrays.equals(Arrays.copyOf(all, MAGIC.length), MAGIC)) return null;
        byte[] payload = Arrays.copyOfRange(all, head, all.length);
        byte[] want = Arrays.copyOfRange(all, MAGIC.length, head);
        return MessageDigest.isEqual(sha256().digest(payload), want) ? payload : null;
    }

    /**
     * Stores a CUBIN (atomically: temp file and rename). A cache that cannot be written costs a
     * recompilation next time, not a failure now, so I/O errors are returned, not thrown.
     *
     * @return null on success, else why the entry was not written
     */
    public String put(String key, byte[] cubin) {
        if (dir == null) return "the kernel cache is disabled";
        byte[] digest = sha256().digest(cubin);
        try {
            AtomicFiles.write(file(key), out -> {
                out.write(MAGIC);
                out.write(digest);
                out.write(cubin);
            });
            return null;
        } catch (IOException | RuntimeException e) {
            return "cannot write " + file(key) + ": " + e;
        }
    }
}
