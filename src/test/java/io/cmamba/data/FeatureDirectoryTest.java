package io.cmamba.data;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class FeatureDirectoryTest {
    @TempDir
    Path tmp;

    static void assertSameDataset(Dataset a, Dataset b) {
        assertEquals(a.name(), b.name());
        assertArrayEquals(a.modalityNames(), b.modalityNames());
        assertEquals(a.classes(), b.classes());
        assertEquals(a.labelRange(), b.labelRange());
        Split[] x = {a.train(), a.valid(), a.test()}, y = {b.train(), b.valid(), b.test()};
        for (int s = 0; s < 3; s++) {
            assertEquals(x[s].name(), y[s].name());
            assertArrayEquals(x[s].featureSizes(), y[s].featureSizes());
            assertArrayEquals(x[s].maxLengths(), y[s].maxLengths());
            for (int m = 0; m < a.modalities(); m++) {
                assertArrayEquals(x[s].features(m), y[s].features(m), "split " + s + " modality " + m);
                assertArrayEquals(x[s].lengths(m), y[s].lengths(m));
            }
            assertArrayEquals(x[s].regression(), y[s].regression());
            assertArrayEquals(x[s].classes(), y[s].classes());
        }
    }

    @Test
    void theBuiltInDatasetRoundTripsExactly() throws IOException {
        Dataset d = SyntheticDataset.create(4, 30, 7, 5, 7);
        Path dir = tmp.resolve("synthetic");
        FeatureDirectoryWriter.write(d, dir, "built-in, seed 4");
        Dataset back = FeatureDirectoryLoader.load(dir);
        assertSameDataset(d, back);
        JsonObject json = JsonParser.parseString(Files.readString(dir.resolve("dataset.json"))).getAsJsonObject();
        assertEquals("cmamba-features", json.get("format").getAsString());
        assertEquals(30, json.getAsJsonObject("splits").getAsJsonObject("train").get("samples").getAsInt());
        assertEquals(TensorFile.sha256(dir.resolve("test.safetensors")),
                json.getAsJsonObject("splits").getAsJsonObject("test").get("sha256").getAsString());
        // writing the same data again gives the same bytes (deterministic header order)
        byte[] first = Files.readAllBytes(dir.resolve("valid.safetensors"));
        FeatureDirectoryWriter.write(d, dir);
        assertArrayEquals(first, Files.readAllBytes(dir.resolve("valid.safetensors")));
        // no temporary files are left behind
        try (var list = Files.list(dir)) {
            assertEquals(List.of("dataset.json", "test.safetensors", "train.safetensors", "valid.safetensors"),
                    list.map(p -> p.getFileName().toString()).sorted().toList());
        }
    }

    /** A hand-made directory without checksums, regression labels only, label range 1, padding not zero. */
    @Test
    void aMinimalDirectoryLoadsAndItsPaddingIsZeroed() throws IOException {
        Path dir = tmp.resolve("sims");
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("dataset.json"), """
                {"format": "cmamba-features", "version": 1, "name": "tiny", "modalities": ["a", "b"],
                 "feature_sizes": [2, 1], "max_lengths": [3, 2], "label_range": 1, "classes": 0}
                """);
        for (String split : FeatureDirectoryLoader.SPLITS) {
            List<TensorFile.Out> t = new ArrayList<>();
            // two samples; a: lengths 2 and 3, the padding step of sample 0 holds 9s
            t.add(new TensorFile.Out("a.features", new int[]{2, 3, 2}, new float[]{1, 2, 3, 4, 9, 9, 5, 6, 7, 8, -1, -2}, null));
            t.add(new TensorFile.Out("a.lengths", new int[]{2}, null, new int[]{2, 3}));
            t.add(new TensorFile.Out("b.features", new int[]{2, 2, 1}, new float[]{0.5f, 7, 0.25f, 0.75f}, null));
            t.add(new TensorFile.Out("b.lengths", new int[]{2}, null, new int[]{1, 0}));
            t.add(new TensorFile.Out("labels.regression", new int[]{2}, new float[]{-1f, 0.4f}, null));
            try (var out = Files.newOutputStream(dir.resolve(split + ".safetensors"))) {
                TensorFile.write(out, t, new LinkedHashMap<>());
            }
        }
        Dataset d = FeatureDirectoryLoader.load(dir);
        assertEquals(0, d.classes());
        assertEquals(1.0, d.labelRange());
        Split s = d.valid();
        assertNull(s.classes());
        assertArrayEquals(new float[]{1, 2, 3, 4, 0, 0, 5, 6, 7, 8, -1, -2}, s.features(0));
        assertArrayEquals(new float[]{0.5f, 0, 0, 0}, s.features(1));
        assertArrayEquals(new int[]{1, 0}, s.lengths(1));
        assertArrayEquals(new float[]{-1f, 0.4f}, s.regression());
    }
}
