package io.cmamba.data;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Reads a feature directory (docs/DATA.md): {@code dataset.json} and {@code train/valid/test.safetensors}
 * with, per modality m, {@code <m>.features} F32 [n, L_m, F_m] and {@code <m>.lengths} I32 [n], plus
 * {@code labels.regression} F32 [n] and, when dataset.json's classes is above 0, {@code labels.class}
 * I32 [n].
 *
 * <p>Everything is checked before a Dataset is returned: dataset.json's fields and types, that every
 * split file exists, its SHA-256 where dataset.json records one, the safetensors structure, the exact
 * set of tensors with their dtypes and shapes against dataset.json, one sample count per file, lengths
 * in [0, L_m], features finite, regression labels finite and in [-label_range, label_range], class
 * labels in [0, classes). The first problem found is thrown as one IOException whose message starts with
 * the offending file's path and says what is wrong with which values. Feature values past a sample's
 * true length are set to 0 (the model never reads them; this makes padded files from other tools equal).
 */
public final class FeatureDirectoryLoader {
    public static final String FORMAT = "cmamba-features";
    public static final int VERSION = 1;
    public static final String DATASET_JSON = "dataset.json";
    public static final String[] SPLITS = {"train", "valid", "test"};
    /** Modality names become tensor-name prefixes, so they are restricted to safe characters without '.'. */
    static final Pattern MODALITY_NAME = Pattern.compile("[A-Za-z0-9_-]{1,64}");
    private static final Set<String> KEYS = Set.of("format", "version", "name", "modalities", "feature_sizes",
            "max_lengths", "label_range", "classes", "splits", "source", "notes");

    private FeatureDirectoryLoader() {
    }

    /** What dataset.json says. */
    public record Description(String name, String[] modalities, int[] featureSizes, int[] maxLengths,
                              double labelRange, int classes, Map<String, SplitEntry> splits) {
    }

    /** dataset.json's optional record of one split file: its sample count and SHA-256 (either may be absent: -1 / null). */
    public record SplitEntry(long samples, String sha256) {
    }

    public static Dataset load(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) throw new IOException(dir + ": no such directory (expected a feature directory with " + DATASET_JSON + ")");
        Description d = readDescription(dir.resolve(DATASET_JSON));
        Split[] splits = new Split[SPLITS.length];
        for (int s = 0; s < SPLITS.length; s++) {
            Path file = dir.resolve(SPLITS[s] + ".safetensors");
            splits[s] = readSplit(file, SPLITS[s], d);
        }
        return new Dataset(d.name(), d.modalities().clone(), splits[0], splits[1], splits[2], d.classes(), d.labelRange());
    }

    /** Reads and checks dataset.json alone. */
    public static Description readDescription(Path json) throws IOException {
        if (!Files.isRegularFile(json)) throw new IOException(json + ": no such file (every feature directory has one)");
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(java.nio.ByteBuffer.wrap(Files.readAllBytes(json))).toString();
        } catch (CharacterCodingException e) {
            throw new IOException(json + ": not UTF-8 text", e);
        }
        JsonObject o;
        try {
            JsonElement e = JsonParser.parseString(text);
            if (!e.isJsonObject()) throw new IOException(json + ": not a JSON object");
            o = e.getAsJsonObject();
        } catch (JsonParseException | IllegalStateException e) {
            throw new IOException(json + ": not valid JSON (" + e.getMessage() + ")", e);
        }
        Fields f = new Fields(json, o);
        for (String k : o.keySet())
            if (!KEYS.contains(k)) throw new IOException(json + ": unknown key '" + k + "' (known: " + new java.util.TreeSet<>(KEYS) + ")");
        String format = f.string("format");
        if (!format.equals(FORMAT)) throw new IOException(json + ": format is '" + format + "', expected '" + FORMAT + "'");
        long version = f.whole("version");
        if (version != VERSION) throw new IOException(json + ": version " + version + " is not supported (this build reads " + VERSION + ")");
        String name = f.string("name");
        if (name.isBlank()) throw new IOException(json + ": name is empty");
        JsonArray mods = f.array("modalities");
        int m = mods.size();
        if (m < 1 || m > 8) throw new IOException(json + ": modalities has " + m + " entries, expected 1 to 8");
        String[] names = new String[m];
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < m; i++) {
            JsonElement e = mods.get(i);
            if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isString())
                throw new IOException(json + ": modalities[" + i + "] is " + e + ", expected a string");
            names[i] = e.getAsString();
            if (!MODALITY_NAME.matcher(names[i]).matches())
                throw new IOException(json + ": modality name '" + names[i] + "' must be 1 to 64 of A-Z a-z 0-9 _ -");
            if (!seen.add(names[i])) throw new IOException(json + ": modality '" + names[i] + "' is listed twice");
        }
        int[] fs = f.positiveInts("feature_sizes", m), ml = f.positiveInts("max_lengths", m);
        double range = f.number("label_range");
        if (range != 1 && range != 3)
            throw new IOException(json + ": label_range is " + range + ", expected 3 (labels in [-3, 3]) or 1 (labels in [-1, 1])");
        long classes = f.whole("classes");
        if (classes < 0 || classes == 1 || classes > 1000)
            throw new IOException(json + ": classes is " + classes + ", expected 0 (regression labels only) or 2 to 1000");
        Map<String, SplitEntry> entries = new java.util.LinkedHashMap<>();
        if (o.has("splits")) {
            JsonElement se = o.get("splits");
            if (!se.isJsonObject()) throw new IOException(json + ": splits is not an object");
            for (Map.Entry<String, JsonElement> e : se.getAsJsonObject().entrySet()) {
                if (!Arrays.asList(SPLITS).contains(e.getKey()))
                    throw new IOException(json + ": splits has unknown split '" + e.getKey() + "' (expected " + Arrays.toString(SPLITS) + ")");
                if (!e.getValue().isJsonObject()) throw new IOException(json + ": splits." + e.getKey() + " is not an object");
                JsonObject so = e.getValue().getAsJsonObject();
                Fields sf = new Fields(json, so, "splits." + e.getKey() + ".");
                for (String k : so.keySet())
                    if (!k.equals("samples") && !k.equals("sha256"))
                        throw new IOException(json + ": splits." + e.getKey() + " has unknown key '" + k + "' (known: samples, sha256)");
                long samples = so.has("samples") ? sf.whole("samples") : -1;
                if (so.has("samples") && samples < 1)
                    throw new IOException(json + ": splits." + e.getKey() + ".samples is " + samples + ", expected >= 1");
                String sha = so.has("sha256") ? sf.string("sha256") : null;
                if (sha != null && !sha.matches("[0-9a-f]{64}"))
                    throw new IOException(json + ": splits." + e.getKey() + ".sha256 is not 64 lower-case hex digits");
                entries.put(e.getKey(), new SplitEntry(samples, sha));
            }
        }
        for (String k : new String[]{"source", "notes"})
            if (o.has(k)) f.string(k);
        return new Description(name, names, fs, ml, range, (int) classes, entries);
    }

    /** Reads one split file against the description. */
    static Split readSplit(Path file, String split, Description d) throws IOException {
        if (!Files.isRegularFile(file)) throw new IOException(file + ": no such file (split '" + split + "' is missing)");
        SplitEntry entry = d.splits().get(split);
        if (entry != null && entry.sha256() != null) {
            String sha = TensorFile.sha256(file);
            if (!sha.equals(entry.sha256()))
                throw new IOException(file + ": SHA-256 " + sha + " differs from " + entry.sha256() + " in " + DATASET_JSON
                        + " (the file was changed or corrupted after it was written)");
        }
        TensorFile tf = TensorFile.open(file);
        int m = d.modalities().length;
        Set<String> expected = new LinkedHashSet<>();
        for (String name : d.modalities()) {
            expected.add(name + ".features");
            expected.add(name + ".lengths");
        }
        expected.add("labels.regression");
        if (d.classes() > 0) expected.add("labels.class");
        TensorFile.Info y = tf.require("labels.regression", "F32", -1);
        int n = y.shape()[0];
        if (n < 1) throw tf.error("has no samples");
        if (entry != null && entry.samples() >= 0 && entry.samples() != n)
            throw tf.error(n + " samples, but " + DATASET_JSON + " says " + entry.samples());
        for (String name : expected)
            if (!tf.tensors().containsKey(name)) throw tf.error("tensor '" + name + "' is missing (the file has " + tf.tensors().keySet() + ")");
        for (String name : tf.tensors().keySet())
            if (!expected.contains(name))
                throw tf.error(name.equals("labels.class")
                        ? "has tensor 'labels.class' but " + DATASET_JSON + " says classes 0"
                        : "unexpected tensor '" + name + "' (expected " + expected + ")");
        float[][] features = new float[m][];
        int[][] lengths = new int[m][];
        for (int i = 0; i < m; i++) {
            String name = d.modalities()[i];
            int lm = d.maxLengths()[i], fm = d.featureSizes()[i];
            TensorFile.Info fi = tf.require(name + ".features", "F32", n, lm, fm);
            TensorFile.Info li = tf.require(name + ".lengths", "I32", n);
            lengths[i] = tf.readInts(li);
            for (int s = 0; s < n; s++)
                if (lengths[i][s] < 0 || lengths[i][s] > lm)
                    throw tf.error("sample " + s + " of '" + name + "' has length " + lengths[i][s] + ", outside [0, " + lm + "]");
            features[i] = tf.readFloats(fi);
            float[] x = features[i];
            for (int s = 0; s < n; s++) {
                int row = lm * fm;
                for (int t = 0; t < lm; t++) {
                    int base = s * row + t * fm;
                    if (t >= lengths[i][s]) {
                        Arrays.fill(x, base, base + fm, 0f);
                        continue;
                    }
                    for (int j = 0; j < fm; j++)
                        if (!Float.isFinite(x[base + j]))
                            throw tf.error("'" + name + ".features' at [" + s + ", " + t + ", " + j + "] is " + x[base + j]);
                }
            }
        }
        float[] regression = tf.readFloats(y);
        for (int s = 0; s < n; s++)
            if (!(Math.abs(regression[s]) <= d.labelRange()))
                throw tf.error("regression label of sample " + s + " is " + regression[s] + ", outside [-" + fmt(d.labelRange()) + ", " + fmt(d.labelRange()) + "]");
        int[] classes = null;
        if (d.classes() > 0) {
            classes = tf.readInts(tf.require("labels.class", "I32", n));
            for (int s = 0; s < n; s++)
                if (classes[s] < 0 || classes[s] >= d.classes())
                    throw tf.error("class label of sample " + s + " is " + classes[s] + ", outside [0, " + d.classes() + ")");
        }
        return new Split(split, d.featureSizes(), d.maxLengths(), features, lengths, regression, classes);
    }

    private static String fmt(double v) {
        return v == Math.rint(v) ? Long.toString((long) v) : Double.toString(v);
    }

    /** Typed access to a JSON object's fields, with errors naming the file and the key. */
    private record Fields(Path file, JsonObject o, String prefix) {
        Fields(Path file, JsonObject o) {
            this(file, o, "");
        }

        private JsonElement get(String key) throws IOException {
            JsonElement e = o.get(key);
            if (e == null || e.isJsonNull()) throw new IOException(file + ": '" + prefix + key + "' is missing");
            return e;
        }

        String string(String key) throws IOException {
            JsonElement e = get(key);
            if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isString())
                throw new IOException(file + ": '" + prefix + key + "' is " + e + ", expected a string");
            return e.getAsString();
        }

        double number(String key) throws IOException {
            JsonElement e = get(key);
            if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber())
                throw new IOException(file + ": '" + prefix + key + "' is " + e + ", expected a number");
            double v = e.getAsDouble();
            if (!Double.isFinite(v)) throw new IOException(file + ": '" + prefix + key + "' is " + e);
            return v;
        }

        long whole(String key) throws IOException {
            JsonElement e = get(key);
            return wholeValue(e, prefix + key);
        }

        private long wholeValue(JsonElement e, String where) throws IOException {
            try {
                if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber()) throw new NumberFormatException();
                return e.getAsJsonPrimitive().getAsBigDecimal().longValueExact();
            } catch (NumberFormatException | ArithmeticException ex) {
                throw new IOException(file + ": '" + where + "' is " + e + ", expected a whole number");
            }
        }

        JsonArray array(String key) throws IOException {
            JsonElement e = get(key);
            if (!e.isJsonArray()) throw new IOException(file + ": '" + prefix + key + "' is " + e + ", expected an array");
            return e.getAsJsonArray();
        }

        int[] positiveInts(String key, int count) throws IOException {
            JsonArray a = array(key);
            if (a.size() != count)
                throw new IOException(file + ": '" + prefix + key + "' has " + a.size() + " entries for " + count + " modalities");
            int[] r = new int[count];
            for (int i = 0; i < count; i++) {
                long v = wholeValue(a.get(i), prefix + key + "[" + i + "]");
                if (v < 1 || v > 1 << 20) throw new IOException(file + ": '" + prefix + key + "[" + i + "]' is " + v + ", expected 1 to " + (1 << 20));
                r[i] = (int) v;
            }
            return r;
        }
    }
}
