package io.cmamba.data;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * bench/peers/mmsa_to_safetensors.py on the tiny pickles of bench/peers/test_mmsa_to_safetensors.py,
 * read back by the Java loader. Every value follows the formula documented in that script. Skipped
 * where python3 with numpy is missing.
 */
class MmsaConversionTest {
    static final Path PEERS = Path.of("bench", "peers");
    @TempDir
    Path tmp;

    @BeforeAll
    static void needsPythonWithNumpy() {
        assumeTrue(Files.isRegularFile(PEERS.resolve("mmsa_to_safetensors.py")), "run from the project root");
        boolean ok;
        try {
            ok = python(List.of("-c", "import numpy")).exit == 0;
        } catch (IOException e) {
            ok = false;
        }
        assumeTrue(ok, "python3 with numpy is not available");
    }

    record Run(int exit, String output) {
    }

    static Run python(List<String> args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("python3"));
        cmd.addAll(args);
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        try {
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException("timed out: " + cmd);
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted: " + cmd, e);
        }
        return new Run(p.exitValue(), new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
    }

    static Run script(String name, String... args) throws IOException {
        List<String> a = new ArrayList<>(List.of(PEERS.resolve(name).toString()));
        a.addAll(List.of(args));
        return python(a);
    }

    static float value(int m, int s, int i, int t, int f) {
        return 1000 * m + 100 * s + 10 * i + t + f / 16f;
    }

    /** Checks every feature of every split against the formula, with the given true lengths. */
    interface Lengths {
        int of(String modality, int split, int sample);
    }

    static void checkFeatures(Dataset d, Lengths lengths, boolean mosi) {
        Split[] splits = {d.train(), d.valid(), d.test()};
        int[] sizes = {5, 3, 4};
        for (int s = 0; s < 3; s++) {
            Split sp = splits[s];
            assertEquals(sizes[s], sp.size());
            for (int m = 0; m < 3; m++) {
                int lm = sp.maxLengths()[m], fm = sp.featureSizes()[m];
                for (int i = 0; i < sp.size(); i++) {
                    int len = lengths.of(d.modalityNames()[m], s, i);
                    assertEquals(len, sp.lengths(m)[i], d.modalityNames()[m] + " length of sample " + i + " of split " + s);
                    for (int t = 0; t < lm; t++)
                        for (int f = 0; f < fm; f++) {
                            float want = t < len ? value(m, s, i, t, f) : 0;
                            if (mosi && m == 1 && i == 1 && t == 0 && f == 0) want = 0; // the -inf, set to 0
                            assertEquals(want, sp.features(m)[(i * lm + t) * fm + f], "split " + s + " modality " + m + " [" + i + ", " + t + ", " + f + "]");
                        }
                }
            }
        }
    }

    @Test
    void anAlignedStylePickleWithLengthsAndClasses() throws IOException {
        Path pkl = tmp.resolve("mosi.pkl"), out = tmp.resolve("mosi");
        Run made = script("test_mmsa_to_safetensors.py", "make", pkl.toString(), "--variant", "mosi");
        assertEquals(0, made.exit(), made.output());
        Run conv = script("mmsa_to_safetensors.py", pkl.toString(), out.toString(), "--name", "mosi-tiny");
        assertEquals(0, conv.exit(), conv.output());
        Dataset d = FeatureDirectoryLoader.load(out);
        assertEquals("mosi-tiny", d.name());
        assertArrayEquals(new String[]{"text", "audio", "vision"}, d.modalityNames());
        assertArrayEquals(new int[]{4, 3, 2}, d.train().featureSizes());
        assertArrayEquals(new int[]{6, 8, 7}, d.train().maxLengths());
        assertEquals(3.0, d.labelRange());
        assertEquals(3, d.classes());
        // text: attention-mask sums 2 + i % 4; audio: audio_lengths 3 + i % 5 (train sample 0: 9 clipped to 8); vision 7 - i % 3
        checkFeatures(d, (mod, s, i) -> switch (mod) {
            case "text" -> 2 + i % 4;
            case "audio" -> s == 0 && i == 0 ? 8 : 3 + i % 5;
            default -> 7 - i % 3;
        }, true);
        Split[] splits = {d.train(), d.valid(), d.test()};
        for (Split sp : splits)
            for (int i = 0; i < sp.size(); i++) {
                assertEquals((i - 2) * 0.75f, sp.regression()[i], 1e-6f);
                assertEquals(i % 3, sp.classes()[i]);
            }
    }

    @Test
    void aBertTokenPickleNeedsSeparateTextFeatures() throws IOException {
        Path pkl = tmp.resolve("sims.pkl"), text = tmp.resolve("bert"), out = tmp.resolve("sims");
        Run made = script("test_mmsa_to_safetensors.py", "make", pkl.toString(), "--variant", "sims-bert", "--text-features", text.toString());
        assertEquals(0, made.exit(), made.output());
        Run refused = script("mmsa_to_safetensors.py", pkl.toString(), out.toString());
        assertEquals(2, refused.exit(), refused.output());
        assertTrue(refused.output().contains("--text-features"), refused.output());
        assertFalse(Files.exists(out.resolve("dataset.json")));
        Run conv = script("mmsa_to_safetensors.py", pkl.toString(), out.toString(), "--text-features", text.toString());
        assertEquals(0, conv.exit(), conv.output());
        Dataset d = FeatureDirectoryLoader.load(out);
        assertEquals("sims", d.name());
        assertEquals(1.0, d.labelRange());
        assertEquals(0, d.classes());
        assertNull(d.test().classes());
        // text: mask sums 1 + i % 5; audio: trailing zero steps trimmed, 2 + i % 4; vision full (4)
        checkFeatures(d, (mod, s, i) -> switch (mod) {
            case "text" -> 1 + i % 5;
            case "audio" -> 2 + i % 4;
            default -> 4;
        }, false);
        for (int i = 0; i < 3; i++) assertEquals((i - 2) * 0.4f, d.valid().regression()[i], 1e-6f);
    }

    @Test
    void theConvertersOwnSelfTestPasses() throws IOException {
        Run r = script("test_mmsa_to_safetensors.py");
        assertEquals(0, r.exit(), r.output());
        assertTrue(r.output().contains("self-test passed"), r.output());
    }
}
