package io.cmamba.data;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import io.cmamba.files.AtomicFiles;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a dataset as a feature directory (docs/DATA.md) that {@link FeatureDirectoryLoader} reads
 * back bit for bit: the three split files first, each atomically, then dataset.json (also atomic)
 * recording every file's sample count and SHA-256, so that a reader never takes a half-written
 * directory for a whole one. Used to export the built-in dataset for outside tools.
 */
public final class FeatureDirectoryWriter {
    private FeatureDirectoryWriter() {
    }

    public static void write(Dataset d, Path dir) throws IOException {
        write(d, dir, null);
    }

    /** @param source free text recorded as dataset.json's "source" (may be null) */
    public static void write(Dataset d, Path dir, String source) throws IOException {
        for (String name : d.modalityNames())
            if (!FeatureDirectoryLoader.MODALITY_NAME.matcher(name).matches())
                throw new IllegalArgumentException("modality name '" + name + "' must be 1 to 64 of A-Z a-z 0-9 _ -");
        if (d.labelRange() != 1 && d.labelRange() != 3)
            throw new IllegalArgumentException("label range must be 1 or 3, got " + d.labelRange());
        Files.createDirectories(dir);
        Split[] splits = {d.train(), d.valid(), d.test()};
        JsonObject files = new JsonObject();
        for (int s = 0; s < splits.length; s++) {
            Path file = dir.resolve(FeatureDirectoryLoader.SPLITS[s] + ".safetensors");
            writeSplit(splits[s], d, file);
            JsonObject e = new JsonObject();
            e.addProperty("samples", splits[s].size());
            e.addProperty("sha256", TensorFile.sha256(file));
            files.add(FeatureDirectoryLoader.SPLITS[s], e);
        }
        JsonObject o = new JsonObject();
        o.addProperty("format", FeatureDirectoryLoader.FORMAT);
        o.addProperty("version", FeatureDirectoryLoader.VERSION);
        o.addProperty("name", d.name());
        JsonArray mods = new JsonArray(), fs = new JsonArray(), ml = new JsonArray();
        for (int m = 0; m < d.modalities(); m++) {
            mods.add(d.modalityNames()[m]);
            fs.add(d.train().featureSizes()[m]);
            ml.add(d.train().maxLengths()[m]);
        }
        o.add("modalities", mods);
        o.add("feature_sizes", fs);
        o.add("max_lengths", ml);
        o.addProperty("label_range", (int) d.labelRange());
        o.addProperty("classes", d.classes());
        o.add("splits", files);
        if (source != null) o.addProperty("source", source);
        AtomicFiles.writeString(dir.resolve(FeatureDirectoryLoader.DATASET_JSON),
                new GsonBuilder().setPrettyPrinting().create().toJson(o) + "\n");
    }

    private static void writeSplit(Split s, Dataset d, Path file) throws IOException {
        if (s.regression() == null) throw new IllegalArgumentException("split " + s.name() + " has no regression labels, which the layout requires");
        if (d.classes() > 0 && s.classes() == null) throw new IllegalArgumentException("split " + s.name() + " has no class labels but the dataset has " + d.classes() + " classes");
        int n = s.size();
        List<TensorFile.Out> out = new ArrayList<>();
        for (int m = 0; m < s.modalities(); m++) {
            String name = d.modalityNames()[m];
            out.add(new TensorFile.Out(name + ".features", new int[]{n, s.maxLengths()[m], s.featureSizes()[m]}, s.features(m), null));
            out.add(new TensorFile.Out(name + ".lengths", new int[]{n}, null, s.lengths(m)));
        }
        out.add(new TensorFile.Out("labels.regression", new int[]{n}, s.regression(), null));
        if (d.classes() > 0) out.add(new TensorFile.Out("labels.class", new int[]{n}, null, s.classes()));
        Map<String, String> meta = new LinkedHashMap<>(); // ordered, so equal datasets give equal bytes
        meta.put("format", FeatureDirectoryLoader.FORMAT);
        meta.put("split", s.name());
        AtomicFiles.write(file, os -> TensorFile.write(os, out, meta));
    }
}
