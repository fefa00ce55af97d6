package io.cmamba.bench;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * bench/dev/scan_ablations.py's patches still match the scan kernels: each ablation's copy differs from
 * kernels/ in the file it names and nowhere else, so that a kernel change cannot silently turn an
 * ablation into a copy of the unchanged code (the script refuses a patch that no longer matches).
 * Needs python3 only (no GPU); skipped where it is missing.
 */
class ScanAblationsTest {
    private static final Path SCRIPT = Path.of("bench", "dev", "scan_ablations.py");
    private static final Path KERNELS = Path.of("kernels");

    @TempDir
    Path tmp;

    @Test
    void everyAblationPatchesOnlyItsKernel() throws IOException, InterruptedException {
        assumeTrue(Files.isRegularFile(SCRIPT), "run from the project root");
        Process p;
        try {
            p = new ProcessBuilder("python3", SCRIPT.toString(), "make", tmp.toString()).redirectErrorStream(true).start();
        } catch (IOException e) {
            assumeTrue(false, "python3 is not available");
            return;
        }
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("scan_ablations.py make timed out");
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.startsWith("CS_DEV_SOURCES="), out);

        // NAME=DIR,NAME=DIR,..
        String sources = out.strip().lines().findFirst().orElseThrow().substring("CS_DEV_SOURCES=".length());
        List<String> names = Arrays.stream(sources.split(",")).map(e -> e.substring(0, e.indexOf('='))).toList();
        assertTrue(names.size() >= 10, "ablations: " + names);
        for (String name : names) {
            // b-... patches the backward, f-... the forward
            String patched = name.startsWith("b-") ? "coupled_scan_bwd.cu" : "coupled_scan_fwd.cu";
            String other = name.startsWith("b-") ? "coupled_scan_fwd.cu" : "coupled_scan_bwd.cu";
            Path dir = tmp.resolve(name);
            assertNotEquals(Files.readString(KERNELS.resolve(patched)), Files.readString(dir.resolve(patched)), name);
            assertEquals(Files.readString(KERNELS.resolve(other)), Files.readString(dir.resolve(other)), name);
            assertEquals(Files.readString(KERNELS.resolve("coupled_scan_common.cuh")),
                    Files.readString(dir.resolve("coupled_scan_common.cuh")), name);
        }
    }
}
