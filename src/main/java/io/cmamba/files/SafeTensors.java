package io.cmamba.files;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.JsonSyntaxException;

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

/**
 * The safetensors format (an 8-byte little-endian header length, a JSON header naming each tensor's
 * dtype, shape and byte range, then the raw little-endian data), read and written on the host.
 * Supported dtypes: F32, F64, I32 (F16/BF16/I64 are rejected with a clear message). Reading checks
 * every offset, so a truncated or corrupt file gives an error naming the file and what is wrong.
 */
public final class SafeTensors {
    /** Headers above this size are taken as corruption rather than allocated. */
    static final long MAX_HEADER = 100L << 20;

    private final Map<String, Entry> entries = new LinkedHashMap<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    /** One named array: values as doubles (exact for F32 and I32), its dtype and shape. */
    public record Entry(String dtype, int[] shape, double[] values) {
        public long size() {
            long n = 1;
            for (int d : shape) n *= d;
            return n;
        }

        public float[] floats() {
            float[] f = new float[values.length];
            for (int i = 0; i < f.length; i++) f[i] = (float) values[i];
            return f;
        }

        public int[] ints() {
            int[] r = new int[values.length];
            for (int i = 0; i < r.length; i++) r[i] = (int) values[i];
            return r;
        }
    }

    public Map<String, Entry> entries() {
        return entries;
    }

    public Map<String, String> metadata() {
        return metadata;
    }

    public boolean has(String name) {
        return entries.containsKey(name);
    }

    /** The entry, or an error listing what the file has. */
    public Entry get(String name) {
        Entry e = entries.get(name);
        if (e == null) throw new IllegalArgumentException("no tensor '" + name + "' (the file has " + entries.keySet() + ")");
        return e;
    }

    public SafeTensors put(String name, String dtype, int[] shape, double[] values) {
        if (!dtype.equals("F32") && !dtype.equals("F64") && !dtype.equals("I32"))
            throw new IllegalArgumentException("unsupported dtype " + dtype + " for " + name);
        long n = 1;
        for (int d : shape) n *= d;
        if (n != values.length)
            throw new IllegalArgumentException(name + ": " + values.length + " values for shape " + Arrays.toString(shape));
        entries.put(name, new Entry(dtype, shape.clone(), values));
        return this;
    }

    public SafeTensors putFloats(String name, int[] shape, float[] values) {
        double[] d = new double[values.length];
        for (int i = 0; i < d.length; i++) d[i] = values[i];
        return put(name, "F32", shape, d);
    }

    public SafeTensors putInts(String name, int[] shape, int[] values) {
        double[] d = new double[values.length];
        for (int i = 0; i < d.length; i++) d[i] = values[i];
        return put(name, "I32", shape, d);
    }

    private static int bytesOf(String dtype) {
        return dtype.equals("F64") ? 8 : 4;
    }

    /** Writes the file atomically. */
    public void write(Path path) throws IOException {
        JsonObject header = new JsonObject();
        if (!metadata.isEmpty()) {
            JsonObject meta = new JsonObject();
            metadata.forEach(meta::addProperty);
            header.add("__metadata__", meta);
        }
        long offset = 0;
        for (Map.Entry<String, Entry> e : entries.entrySet()) {
            JsonObject t = new JsonObject();
            t.addProperty("dtype", e.getValue().dtype());
            JsonArray shape = new JsonArray();
            for (int d : e.getValue().shape()) shape.add(d);
            t.add("shape", shape);
            long bytes = e.getValue().size() * bytesOf(e.getValue().dtype());
            JsonArray range = new JsonArray();
            range.add(offset);
            range.add(offset + bytes);
            t.add("data_offsets", range);
            header.add(e.getKey(), t);
            offset += bytes;
        }
        byte[] json = header.toString().getBytes(StandardCharsets.UTF_8);
        int pad = (8 - json.length % 8) % 8; // the format aligns the data start to 8 bytes with spaces
        byte[] padded = Arrays.copyOf(json, json.length + pad);
        Arrays.fill(padded, json.length, padded.length, (byte) ' ');
        final long dataBytes = offset;
        AtomicFiles.write(path, out -> {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded.length);
            out.write(len.array());
            out.write(padded);
            ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
            long written = 0;
            for (Entry e : entries.values()) {
                for (double v : e.values()) {
                    if (buf.remaining() < 8) {
                        out.write(buf.array(), 0, buf.position());
                        written += buf.position();
                        buf.clear();
                    }
                    switch (e.dtype()) {
                        case "F32" -> buf.putFloat((float) v);
                        case "F64" -> buf.putDouble(v);
                        default -> buf.putInt((int) v);
                    }
                }
            }
            out.write(buf.array(), 0, buf.position());
            written += buf.position();
            if (written != dataBytes) throw new IOException("internal: wrote " + written + " data bytes, expected " + dataBytes);
        });
    }

    /** Reads and validates a whole file. */
    public static SafeTensors read(Path path) throws IOException {
        if (!Files.isRegularFile(path)) throw new IOException(path + ": no such file");
        byte[] all = Files.readAllBytes(path);
        try {
            return parse(all);
        } catch (IllegalArgumentException e) {
            throw new IOException(path + ": not a valid safetensors file: " + e.getMessage(), e);
        }
    }

    /** Parses the bytes of a safetensors file; throws IllegalArgumentException saying what is wrong. */
    public static SafeTensors parse(byte[] all) {
        if (all.length < 8) throw new IllegalArgumentException("file of " + all.length + " bytes is shorter than the 8-byte header length");
        long headerLen = ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        if (headerLen < 2 || headerLen > MAX_HEADER || 8 + headerLen > all.length)
            throw new IllegalArgumentException("header length " + headerLen + " does not fit a file of " + all.length + " bytes");
        String json = new String(all, 8, (int) headerLen, StandardCharsets.UTF_8);
        JsonObject header;
        try {
            JsonElement parsed = JsonParser.parseString(json);
            if (!parsed.isJsonObject()) throw new IllegalArgumentException("header is not a JSON object");
            header = parsed.getAsJsonObject();
        } catch (JsonSyntaxException | IllegalStateException e) {
            throw new IllegalArgumentException("header is not valid JSON (" + e.getMessage() + ")");
        }
        int dataStart = 8 + (int) headerLen;
        long dataLen = all.length - dataStart;
        SafeTensors st = new SafeTensors();
        List<long[]> ranges = new ArrayList<>();
        for (Map.Entry<String, JsonElement> e : header.entrySet()) {
            String name = e.getKey();
            if (name.equals("__metadata__")) {
                if (!e.getValue().isJsonObject()) throw new IllegalArgumentException("__metadata__ is not an object");
                for (Map.Entry<String, JsonElement> m : e.getValue().getAsJsonObject().entrySet()) {
                    if (!m.getValue().isJsonPrimitive()) throw new IllegalArgumentException("__metadata__." + m.getKey() + " is not a string");
                    st.metadata.put(m.getKey(), m.getValue().getAsString());
                }
                continue;
            }
            if (!e.getValue().isJsonObject()) throw new IllegalArgumentException("entry '" + name + "' is not an object");
            JsonObject t = e.getValue().getAsJsonObject();
            String dtype = string(t, "dtype", name);
            if (!dtype.equals("F32") && !dtype.equals("F64") && !dtype.equals("I32"))
                throw new IllegalArgumentException("tensor '" + name + "' has dtype " + dtype + "; supported: F32, F64, I32");
            JsonArray shapeJson = array(t, "shape", name);
            int[] shape = new int[shapeJson.size()];
            long n = 1;
            for (int i = 0; i < shape.length; i++) {
                long d = number(shapeJson.get(i), name + ".shape");
                if (d < 0 || d > Integer.MAX_VALUE) throw new IllegalArgumentException("tensor '" + name + "' has dimension " + d);
                shape[i] = (int) d;
                if (d != 0 && n > dataLen / d) throw new IllegalArgumentException("tensor '" + name + "' has shape "
                        + shapeJson + ", larger than the " + dataLen + " data bytes");
                n *= d;
            }
            JsonArray off = array(t, "data_offsets", name);
            if (off.size() != 2) throw new IllegalArgumentException("tensor '" + name + "': data_offsets must have 2 entries");
            long begin = number(off.get(0), name + ".data_offsets"), end = number(off.get(1), name + ".data_offsets");
            int bytes = bytesOf(dtype);
            if (begin < 0 || end < begin || end > dataLen)
                throw new IllegalArgumentException("tensor '" + name + "': byte range [" + begin + ", " + end + ") outside the " + dataLen + " data bytes (truncated file?)");
            if (end - begin != n * bytes)
                throw new IllegalArgumentException("tensor '" + name + "': " + (end - begin) + " bytes for shape " + Arrays.toString(shape) + " of " + dtype);
            ranges.add(new long[]{begin, end});
            ByteBuffer b = ByteBuffer.wrap(all, dataStart + (int) begin, (int) (end - begin)).order(ByteOrder.LITTLE_ENDIAN);
            double[] values = new double[(int) n];
            for (int i = 0; i < n; i++)
                values[i] = switch (dtype) {
                    case "F32" -> b.getFloat();
                    case "F64" -> b.getDouble();
                    default -> b.getInt();
                };
            st.entries.put(name, new Entry(dtype, shape, values));
        }
        ranges.sort((a, b) -> Long.compare(a[0], b[0]));
        for (int i = 1; i < ranges.size(); i++)
            if (ranges.get(i)[0] < ranges.get(i - 1)[1]) throw new IllegalArgumentException("tensors overlap in the data section");
        return st;
    }

    private static String string(JsonObject o, String key, String name) {
        JsonElement e = o.get(key);
        if (e == null || !e.isJsonPrimitive()) throw new IllegalArgumentException("tensor '" + name + "' has no " + key);
        return e.getAsString();
    }

    private static JsonArray array(JsonObject o, String key, String name) {
        JsonElement e = o.get(key);
        if (e == null || !e.isJsonArray()) throw new IllegalArgumentException("tensor '" + name + "' has no " + key + " array");
        return e.getAsJsonArray();
    }

    private static long number(JsonElement e, String where) {
        try {
            if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber()) throw new NumberFormatException();
            return e.getAsJsonPrimitive().getAsBigDecimal().longValueExact();
        } catch (NumberFormatException | ArithmeticException ex) {
            throw new IllegalArgumentException(where + ": '" + e + "' is not a whole number");
        }
    }
}
