package io.cmamba.data;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Feeds the loader corrupted feature directories: truncated and bit-flipped files, wrong dtypes,
 * non-finite and out-of-range values, inconsistent shapes, missing and extra tensors and files, bad
 * dataset.json. Every one must fail with an IOException or IllegalArgumentException whose message
 * names the offending file; none may load silently with other data than was written.
 */
class FeatureDirectoryFuzzTest {
    @TempDir
    Path tmp;
    Path dir;
    Dataset original;

    /** A small valid directory: 3 modalities, 3 classes, 8 / 4 / 4 samples. */
    @BeforeEach
    void writeValidDirectory() throws IOException {
        original = SyntheticDataset.create(21, 8, 4, 4, 3);
        dir = tmp.resolve("valid");
        FeatureDirectoryWriter.write(original, dir);
        FeatureDirectoryTest.assertSameDataset(original, FeatureDirectoryLoader.load(dir));
    }

    /** The load fails with a clear exception type and a message naming {@code file} and every fragment. */
    static Exception assertRejected(Path dir, String file, String... fragments) {
        Exception e;
        try {
            FeatureDirectoryLoader.load(dir);
            throw new AssertionError("loaded a corrupt directory (expected an error naming " + file + ")");
        } catch (IOException | IllegalArgumentException ex) {
            e = ex;
        } catch (RuntimeException | Error ex) {
            throw new AssertionError("wrong exception type " + ex + " (expected IOException or IllegalArgumentException naming " + file + ")", ex);
        }
        String msg = String.valueOf(e.getMessage());
        assertTrue(msg.contains(file), "the message should name " + file + ": " + msg);
        for (String f : fragments) assertTrue(msg.contains(f), "the message should say '" + f + "': " + msg);
        return e;
    }

    /** Either the load fails cleanly (naming a file of the directory) or it gives exactly the original data. */
    void assertRejectedOrUnchanged(Path d, String what) {
        assertRejectedOrUnchanged(d, what, true);
    }

    void assertRejectedOrUnchanged(Path d, String what, boolean description) {
        try {
            Dataset loaded = FeatureDirectoryLoader.load(d);
            if (!description) loaded = new Dataset(original.name(), loaded.modalityNames(), loaded.train(), loaded.valid(),
                    loaded.test(), original.classes(), loaded.labelRange());
            FeatureDirectoryTest.assertSameDataset(original, loaded);
        } catch (IOException | IllegalArgumentException ex) {
            String msg = String.valueOf(ex.getMessage());
            assertTrue(msg.contains(d.toString()), what + ": the message should name a file of " + d + ": " + msg);
        } catch (RuntimeException | Error ex) {
            throw new AssertionError(what + ": wrong exception type " + ex, ex);
        }
    }

    // ---------------------------------------------------------------- raw safetensors, any dtype

    record Raw(String name, String dtype, int[] shape, byte[] data) {
    }

    static byte[] f32(float... v) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float x : v) b.putFloat(x);
        return b.array();
    }

    static byte[] i32(int... v) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        for (int x : v) b.putInt(x);
        return b.array();
    }

    static byte[] f64(float... v) {
        ByteBuffer b = ByteBuffer.allocate(8 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float x : v) b.putDouble(x);
        return b.array();
    }

    static byte[] safetensors(List<Raw> tensors) {
        JsonObject header = new JsonObject();
        long off = 0;
        for (Raw r : tensors) {
            JsonObject o = new JsonObject();
            o.addProperty("dtype", r.dtype());
            JsonArray shape = new JsonArray();
            for (int d : r.shape()) shape.add(d);
            o.add("shape", shape);
            JsonArray range = new JsonArray();
            range.add(off);
            range.add(off + r.data().length);
            o.add("data_offsets", range);
            header.add(r.name(), o);
            off += r.data().length;
        }
        byte[] json = header.toString().getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(json.length).array());
        out.writeBytes(json);
        for (Raw r : tensors) out.writeBytes(r.data());
        return out.toByteArray();
    }

    /** The original split's tensors as raw entries, in the writer's order. */
    List<Raw> rawSplit(Split s) {
        List<Raw> list = new ArrayList<>();
        int n = s.size();
        for (int m = 0; m < 3; m++) {
            String name = original.modalityNames()[m];
            list.add(new Raw(name + ".features", "F32", new int[]{n, s.maxLengths()[m], s.featureSizes()[m]}, f32(s.features(m))));
            list.add(new Raw(name + ".lengths", "I32", new int[]{n}, i32(s.lengths(m))));
        }
        list.add(new Raw("labels.regression", "F32", new int[]{n}, f32(s.regression())));
        list.add(new Raw("labels.class", "I32", new int[]{n}, i32(s.classes())));
        return list;
    }

    /** Replaces train.safetensors by the original's tensors after {@code edit}, and drops the recorded checksum. */
    void rewriteTrain(Consumer<List<Raw>> edit) throws IOException {
        List<Raw> list = rawSplit(original.train());
        edit.accept(list);
        Files.write(dir.resolve("train.safetensors"), safetensors(list));
        editJson(o -> o.getAsJsonObject("splits").getAsJsonObject("train").remove("sha256"));
    }

    void editJson(Consumer<JsonObject> edit) throws IOException {
        Path p = dir.resolve("dataset.json");
        JsonObject o = JsonParser.parseString(Files.readString(p)).getAsJsonObject();
        edit.accept(o);
        Files.writeString(p, o.toString());
    }

    static void replace(List<Raw> list, String name, Raw with) {
        for (int i = 0; i < list.size(); i++)
            if (list.get(i).name().equals(name)) {
                list.set(i, with);
                return;
            }
        throw new AssertionError("no tensor " + name);
    }

    static Raw get(List<Raw> list, String name) {
        return list.stream().filter(r -> r.name().equals(name)).findFirst().orElseThrow();
    }

    // ---------------------------------------------------------------- the cases

    @Test
    void missingFilesAndDirectory() throws IOException {
        assertRejected(tmp.resolve("absent"), "absent", "no such directory");
        for (String f : new String[]{"train.safetensors", "valid.safetensors", "test.safetensors", "dataset.json"}) {
            Path copy = tmp.resolve("copy-" + f);
            Files.createDirectories(copy);
            try (var list = Files.list(dir)) {
                for (Path p : list.toList()) if (!p.getFileName().toString().equals(f)) Files.copy(p, copy.resolve(p.getFileName()));
            }
            assertRejected(copy, f, "no such file");
        }
    }

    @Test
    void truncatedSplitFiles() throws IOException {
        byte[] whole = Files.readAllBytes(dir.resolve("test.safetensors"));
        SplittableRandom r = new SplittableRandom(1);
        List<Integer> cuts = new ArrayList<>(List.of(0, 1, 7, 8, 9, 20, whole.length - 1, whole.length - 4));
        for (int i = 0; i < 30; i++) cuts.add(r.nextInt(whole.length));
        for (int cut : cuts) {
            Files.write(dir.resolve("test.safetensors"), Arrays.copyOf(whole, cut));
            assertRejected(dir, "test.safetensors"); // by the checksum
        }
        editJson(o -> o.getAsJsonObject("splits").getAsJsonObject("test").remove("sha256"));
        for (int cut : cuts) {
            Files.write(dir.resolve("test.safetensors"), Arrays.copyOf(whole, cut));
            assertRejected(dir, "test.safetensors"); // by the structure alone
        }
        // bytes appended after the last tensor
        Files.write(dir.resolve("test.safetensors"), Arrays.copyOf(whole, whole.length + 4));
        assertRejected(dir, "test.safetensors", "trailing");
    }

    @Test
    void flippedBytesNeverLoadOtherData() throws IOException {
        Path file = dir.resolve("valid.safetensors");
        byte[] whole = Files.readAllBytes(file);
        SplittableRandom r = new SplittableRandom(2);
        for (int trial = 0; trial < 150; trial++) {
            byte[] b = whole.clone();
            int flips = 1 + r.nextInt(3);
            for (int k = 0; k < flips; k++) b[r.nextInt(b.length)] ^= (byte) (1 << r.nextInt(8));
            Files.write(file, b);
            if (!Arrays.equals(b, whole)) assertRejected(dir, "valid.safetensors", "SHA-256");
        }
        // without a recorded checksum, flips in the header are still caught or harmless
        editJson(o -> o.getAsJsonObject("splits").getAsJsonObject("valid").remove("sha256"));
        long headerEnd = 8 + ByteBuffer.wrap(whole, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        for (int trial = 0; trial < 300; trial++) {
            byte[] b = whole.clone();
            b[r.nextInt((int) headerEnd)] ^= (byte) (1 << r.nextInt(8));
            Files.write(file, b);
            assertRejectedOrUnchanged(dir, "header flip " + trial);
        }
        // random bytes in place of the header
        for (int trial = 0; trial < 50; trial++) {
            byte[] b = whole.clone();
            int from = r.nextInt(8, (int) headerEnd), len = r.nextInt(1, 16);
            for (int k = from; k < Math.min(from + len, headerEnd); k++) b[k] = (byte) r.nextInt(256);
            Files.write(file, b);
            assertRejectedOrUnchanged(dir, "header garbage " + trial);
        }
    }

    @Test
    void wrongDtypes() throws IOException {
        int n = original.train().size();
        rewriteTrain(l -> replace(l, "labels.regression", new Raw("labels.regression", "F64", new int[]{n}, f64(original.train().regression()))));
        assertRejected(dir, "train.safetensors", "labels.regression", "F64", "expected F32");
        rewriteTrain(l -> replace(l, "audio.lengths", new Raw("audio.lengths", "F32", new int[]{n}, f32(new float[n]))));
        assertRejected(dir, "train.safetensors", "audio.lengths", "F32", "expected I32");
        rewriteTrain(l -> {
            Raw f = get(l, "text.features");
            replace(l, "text.features", new Raw("text.features", "F16", f.shape(), Arrays.copyOf(f.data(), f.data().length / 2)));
        });
        assertRejected(dir, "train.safetensors", "text.features", "F16");
        rewriteTrain(l -> replace(l, "labels.class", new Raw("labels.class", "I64", new int[]{n}, new byte[8 * n])));
        assertRejected(dir, "train.safetensors", "labels.class", "I64");
        rewriteTrain(l -> replace(l, "labels.class", new Raw("labels.class", "Q7", new int[]{n}, new byte[4 * n])));
        assertRejected(dir, "train.safetensors", "unknown dtype");
    }

    @Test
    void nonFiniteAndOutOfRangeValues() throws IOException {
        Split s = original.train();
        for (float bad : new float[]{Float.NaN, Float.POSITIVE_INFINITY, 3.01f, -3.5f}) {
            float[] y = s.regression().clone();
            y[5] = bad;
            rewriteTrain(l -> replace(l, "labels.regression", new Raw("labels.regression", "F32", new int[]{y.length}, f32(y))));
            assertRejected(dir, "train.safetensors", "regression label of sample 5 is " + bad);
        }
        // NaN in a valid step of a sample; the same NaN in the padding is zeroed instead
        int lv = s.maxLengths()[2], fv = s.featureSizes()[2], len3 = s.lengths(2)[3];
        float[] x = s.features(2).clone();
        x[(3 * lv + len3 - 1) * fv + 1] = Float.NaN;
        rewriteTrain(l -> replace(l, "vision.features", new Raw("vision.features", "F32", new int[]{s.size(), lv, fv}, f32(x))));
        assertRejected(dir, "train.safetensors", "vision.features' at [3, " + (len3 - 1) + ", 1] is NaN");
        assertTrue(len3 < lv, "sample 3 should have padding");
        float[] padded = s.features(2).clone();
        padded[(3 * lv + len3) * fv] = Float.NaN;
        rewriteTrain(l -> replace(l, "vision.features", new Raw("vision.features", "F32", new int[]{s.size(), lv, fv}, f32(padded))));
        assertArrayEquals(s.features(2), FeatureDirectoryLoader.load(dir).train().features(2));
        for (int bad : new int[]{-1, s.maxLengths()[1] + 1}) {
            int[] len = s.lengths(1).clone();
            len[2] = bad;
            rewriteTrain(l -> replace(l, "audio.lengths", new Raw("audio.lengths", "I32", new int[]{len.length}, i32(len))));
            assertRejected(dir, "train.safetensors", "sample 2 of 'audio' has length " + bad);
        }
        for (int bad : new int[]{-1, 3}) {
            int[] c = s.classes().clone();
            c[0] = bad;
            rewriteTrain(l -> replace(l, "labels.class", new Raw("labels.class", "I32", new int[]{c.length}, i32(c))));
            assertRejected(dir, "train.safetensors", "class label of sample 0 is " + bad);
        }
    }

    @Test
    void inconsistentShapesAndTensorSets() throws IOException {
        Split s = original.train();
        int n = s.size();
        // features with a wrong F, wrong L, wrong n (sizes consistent with the bytes, so only the shape check can catch them)
        rewriteTrain(l -> replace(l, "text.features", new Raw("text.features", "F32", new int[]{n, 24 * 20 / 12, 12}, get(l, "text.features").data())));
        assertRejected(dir, "train.safetensors", "text.features", "expected [" + n + ", 20, 24]");
        rewriteTrain(l -> replace(l, "audio.features", new Raw("audio.features", "F32", new int[]{n * 2, 16, 12}, get(l, "audio.features").data())));
        assertRejected(dir, "train.safetensors", "audio.features");
        rewriteTrain(l -> replace(l, "vision.features", new Raw("vision.features", "F32", new int[]{n * 24 * 8}, get(l, "vision.features").data())));
        assertRejected(dir, "train.safetensors", "vision.features");
        rewriteTrain(l -> replace(l, "vision.lengths", new Raw("vision.lengths", "I32", new int[]{n - 1}, i32(Arrays.copyOf(s.lengths(2), n - 1)))));
        assertRejected(dir, "train.safetensors", "vision.lengths", "expected [" + n + "]");
        rewriteTrain(l -> replace(l, "labels.class", new Raw("labels.class", "I32", new int[]{n, 1}, i32(s.classes()))));
        assertRejected(dir, "train.safetensors", "labels.class");
        // the regression labels fix n: every other tensor then disagrees
        rewriteTrain(l -> replace(l, "labels.regression", new Raw("labels.regression", "F32", new int[]{n + 1}, f32(Arrays.copyOf(s.regression(), n + 1)))));
        assertRejected(dir, "train.safetensors", (n + 1) + " samples, but dataset.json says " + n);
        editJson(o -> o.getAsJsonObject("splits").getAsJsonObject("train").remove("samples"));
        assertRejected(dir, "train.safetensors", "expected [" + (n + 1));
        rewriteTrain(l -> l.removeIf(r -> r.name().equals("audio.lengths")));
        assertRejected(dir, "train.safetensors", "'audio.lengths' is missing");
        rewriteTrain(l -> l.removeIf(r -> r.name().equals("labels.regression")));
        assertRejected(dir, "train.safetensors", "'labels.regression' is missing");
        rewriteTrain(l -> l.removeIf(r -> r.name().equals("labels.class")));
        assertRejected(dir, "train.safetensors", "'labels.class' is missing");
        rewriteTrain(l -> l.add(new Raw("text.feature", "F32", new int[]{1}, f32(0))));
        assertRejected(dir, "train.safetensors", "unexpected tensor 'text.feature'");
        // a byte range that does not match the shape, overlapping ranges
        byte[] ok = safetensors(rawSplit(s));
        String header = new String(ok, 8, (int) ByteBuffer.wrap(ok, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong(), StandardCharsets.UTF_8);
        JsonObject h = JsonParser.parseString(header).getAsJsonObject();
        JsonArray off = h.getAsJsonObject("labels.class").getAsJsonArray("data_offsets");
        JsonArray moved = new JsonArray();
        moved.add(off.get(0).getAsLong() - 4);
        moved.add(off.get(1).getAsLong() - 4);
        h.getAsJsonObject("labels.class").add("data_offsets", moved);
        writeWithHeader(ok, header.length(), h.toString());
        assertRejected(dir, "train.safetensors", "overlap");
        h.getAsJsonObject("labels.class").add("data_offsets", off);
        h.getAsJsonObject("labels.class").add("shape", JsonParser.parseString("[-3]"));
        writeWithHeader(ok, header.length(), h.toString());
        assertRejected(dir, "train.safetensors", "dimension -3");
        h.getAsJsonObject("labels.class").add("shape", JsonParser.parseString("[1e30]"));
        writeWithHeader(ok, header.length(), h.toString());
        assertRejected(dir, "train.safetensors", "labels.class");
        h.getAsJsonObject("labels.class").add("shape", JsonParser.parseString("[2147483647, 2147483647, 2147483647]"));
        writeWithHeader(ok, header.length(), h.toString());
        assertRejected(dir, "train.safetensors", "larger than");
        h.getAsJsonObject("labels.class").add("shape", JsonParser.parseString("[\"8\"]"));
        writeWithHeader(ok, header.length(), h.toString());
        assertRejected(dir, "train.safetensors", "not a whole number");
        // a header length that is absurd, negative, or points past the end
        for (long len : new long[]{-1, 0, 1L << 40, ok.length}) {
            byte[] b = ok.clone();
            ByteBuffer.wrap(b, 0, 8).order(ByteOrder.LITTLE_ENDIAN).putLong(len);
            Files.write(dir.resolve("train.safetensors"), b);
            assertRejected(dir, "train.safetensors", "header length");
        }
        // a header that is JSON but not an object, or not JSON
        for (String bad : new String[]{"[1, 2]", "{\"a\": ", "{\"a\": 1}", "{\"labels.class\": {\"dtype\": 5}}", "{\"__metadata__\": [1]}"}) {
            byte[] json = bad.getBytes(StandardCharsets.UTF_8);
            ByteBuffer b = ByteBuffer.allocate(8 + json.length).order(ByteOrder.LITTLE_ENDIAN).putLong(json.length).put(json);
            Files.write(dir.resolve("train.safetensors"), b.array());
            assertRejected(dir, "train.safetensors");
        }
    }

    /** train.safetensors with its header replaced (data bytes kept), checksum dropped. */
    private void writeWithHeader(byte[] ok, int oldHeaderLength, String header) throws IOException {
        byte[] json = header.getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(json.length).array());
        out.writeBytes(json);
        out.write(ok, 8 + oldHeaderLength, ok.length - 8 - oldHeaderLength);
        Files.write(dir.resolve("train.safetensors"), out.toByteArray());
        editJson(o -> o.getAsJsonObject("splits").getAsJsonObject("train").remove("sha256"));
    }

    @Test
    void badDatasetJson() throws IOException {
        Path p = dir.resolve("dataset.json");
        String good = Files.readString(p);
        Map<String, Consumer<JsonObject>> edits = new LinkedHashMap<>();
        edits.put("'format' is missing", o -> o.remove("format"));
        edits.put("format is 'other'", o -> o.addProperty("format", "other"));
        edits.put("version 2", o -> o.addProperty("version", 2));
        edits.put("'version' is \"1\"", o -> o.addProperty("version", "1"));
        edits.put("'name' is missing", o -> o.remove("name"));
        edits.put("name is empty", o -> o.addProperty("name", " "));
        edits.put("unknown key 'label_rnage'", o -> o.add("label_rnage", o.get("label_range")));
        edits.put("label_range is 2.0", o -> o.addProperty("label_range", 2));
        edits.put("'label_range' is \"3\"", o -> o.addProperty("label_range", "3"));
        edits.put("classes is 1", o -> o.addProperty("classes", 1));
        edits.put("'classes' is 2.5", o -> o.addProperty("classes", 2.5));
        edits.put("'modalities' is \"text\"", o -> o.addProperty("modalities", "text"));
        edits.put("modalities has 0 entries", o -> o.add("modalities", new JsonArray()));
        edits.put("modality 'text' is listed twice", o -> o.getAsJsonArray("modalities").set(1, o.getAsJsonArray("modalities").get(0)));
        edits.put("modality name 'a.b'", o -> o.getAsJsonArray("modalities").set(0, new com.google.gson.JsonPrimitive("a.b")));
        edits.put("modalities[2] is 3", o -> o.getAsJsonArray("modalities").set(2, new com.google.gson.JsonPrimitive(3)));
        edits.put("'feature_sizes' has 2 entries for 3 modalities", o -> o.getAsJsonArray("feature_sizes").remove(2));
        edits.put("'max_lengths[1]' is 0", o -> o.getAsJsonArray("max_lengths").set(1, new com.google.gson.JsonPrimitive(0)));
        edits.put("'feature_sizes[0]' is -24", o -> o.getAsJsonArray("feature_sizes").set(0, new com.google.gson.JsonPrimitive(-24)));
        edits.put("unknown split 'dev'", o -> o.getAsJsonObject("splits").add("dev", new JsonObject()));
        edits.put("splits.train.samples is 0", o -> o.getAsJsonObject("splits").getAsJsonObject("train").addProperty("samples", 0));
        edits.put("not 64 lower-case hex digits", o -> o.getAsJsonObject("splits").getAsJsonObject("test").addProperty("sha256", "abc"));
        edits.put("'source' is 5", o -> o.addProperty("source", 5));
        for (Map.Entry<String, Consumer<JsonObject>> e : edits.entrySet()) {
            Files.writeString(p, good);
            editJson(e.getValue());
            assertRejected(dir, "dataset.json", e.getKey());
        }
        // the description and the files disagree: the split file is named
        Files.writeString(p, good);
        editJson(o -> o.getAsJsonArray("feature_sizes").set(1, new com.google.gson.JsonPrimitive(13)));
        assertRejected(dir, "train.safetensors", "audio.features", "expected [8, 32, 13]");
        Files.writeString(p, good);
        editJson(o -> o.addProperty("classes", 0));
        assertRejected(dir, "train.safetensors", "labels.class", "classes 0");
        Files.writeString(p, good);
        editJson(o -> o.addProperty("label_range", 1));
        assertRejected(dir, "train.safetensors", "outside [-1, 1]");
        Files.writeString(p, good);
        editJson(o -> o.getAsJsonObject("splits").getAsJsonObject("valid").addProperty("samples", 5));
        assertRejected(dir, "valid.safetensors", "4 samples", "says 5");
        Files.writeString(p, good);
        editJson(o -> o.getAsJsonObject("splits").getAsJsonObject("test").addProperty("sha256", "0".repeat(64)));
        assertRejected(dir, "test.safetensors", "SHA-256");
        Files.writeString(p, good);
        editJson(o -> o.getAsJsonArray("modalities").set(0, new com.google.gson.JsonPrimitive("words")));
        assertRejected(dir, "train.safetensors", "'words.features' is missing");
        // not JSON, not an object, not UTF-8, empty
        for (byte[] bad : new byte[][]{"{".getBytes(), "[]".getBytes(), "\"x\"".getBytes(), new byte[0],
                {(byte) 0xff, (byte) 0xfe, '{', '}'}, "{\"format\": \"cmamba-features\",}".getBytes(), "{} {}".getBytes()}) {
            Files.write(p, bad);
            assertRejected(dir, "dataset.json");
        }
        // random edits of the text: rejected, or the same data (an edit in whitespace is harmless; one in
        // the name or the class count cannot be told from the files, so those two may differ)
        SplittableRandom r = new SplittableRandom(3);
        String chars = "{}[]\",:0123456789.-eE abtx";
        for (int trial = 0; trial < 300; trial++) {
            StringBuilder sb = new StringBuilder(good);
            int at = r.nextInt(sb.length());
            switch (r.nextInt(3)) {
                case 0 -> sb.deleteCharAt(at);
                case 1 -> sb.insert(at, chars.charAt(r.nextInt(chars.length())));
                default -> sb.setCharAt(at, chars.charAt(r.nextInt(chars.length())));
            }
            String edited = sb.toString();
            Files.writeString(p, edited);
            assertRejectedOrUnchanged(dir, "dataset.json edit " + trial, false);
        }
    }
}
