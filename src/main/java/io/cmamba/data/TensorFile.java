package io.cmamba.data;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A safetensors file read tensor by tensor, straight into float[] / int[], for feature files too
 * large to hold twice (CMU-MOSEI's training split is gigabytes of float32; the general reader in
 * io.cmamba.files keeps every value as a double). Only the header is parsed on open; it is checked
 * against the file size, and the tensors must tile the data section exactly (the format allows no
 * holes), so a truncated, extended or corrupt file is reported before any data is read. Every
 * problem is an IOException whose message starts with the file's path.
 */
final class TensorFile {
    /** Headers above this size are taken as corruption rather than allocated. */
    static final long MAX_HEADER = 100L << 20;
    private static final int CHUNK = 1 << 20;

    /** One tensor's header entry: byte range relative to the start of the data section. */
    record Info(String name, String dtype, int[] shape, long begin, long end) {
        long elements() {
            long n = 1;
            for (int d : shape) n *= d;
            return n;
        }
    }

    private final Path path;
    private final long dataStart;
    private final Map<String, Info> tensors = new LinkedHashMap<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    private TensorFile(Path path, long dataStart) {
        this.path = path;
        this.dataStart = dataStart;
    }

    Path path() {
        return path;
    }

    Map<String, Info> tensors() {
        return tensors;
    }

    Map<String, String> metadata() {
        return metadata;
    }

    IOException error(String problem) {
        return new IOException(path + ": " + problem);
    }

    static TensorFile open(Path path) throws IOException {
        if (!Files.isRegularFile(path)) throw new IOException(path + ": no such file");
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) throw new IOException(path + ": " + size + " bytes, shorter than the 8-byte header length (truncated?)");
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, lenBuf, 0, path);
            long headerLen = lenBuf.flip().getLong();
            if (headerLen < 2 || headerLen > MAX_HEADER || headerLen > size - 8)
                throw new IOException(path + ": header length " + headerLen + " does not fit a file of " + size + " bytes (truncated or not safetensors?)");
            ByteBuffer hb = ByteBuffer.allocate((int) headerLen);
            readFully(ch, hb, 8, path);
            TensorFile f = new TensorFile(path, 8 + headerLen);
            f.parseHeader(new String(hb.array(), StandardCharsets.UTF_8), size - 8 - headerLen);
            return f;
        }
    }

    private void parseHeader(String json, long dataLen) throws IOException {
        if (!json.startsWith("{")) throw error("header does not start with '{' (not a safetensors file?)");
        JsonObject header;
        try {
            JsonElement parsed = JsonParser.parseString(json);
            if (!parsed.isJsonObject()) throw error("header is not a JSON object");
            header = parsed.getAsJsonObject();
        } catch (JsonParseException | IllegalStateException e) {
            throw error("header is not valid JSON (" + e.getMessage() + ")");
        }
        List<Info> byOffset = new ArrayList<>();
        for (Map.Entry<String, JsonElement> e : header.entrySet()) {
            String name = e.getKey();
            if (name.equals("__metadata__")) {
                if (!e.getValue().isJsonObject()) throw error("__metadata__ is not an object");
                for (Map.Entry<String, JsonElement> m : e.getValue().getAsJsonObject().entrySet()) {
                    if (!m.getValue().isJsonPrimitive() || !m.getValue().getAsJsonPrimitive().isString())
                        throw error("__metadata__ '" + m.getKey() + "' is not a string");
                    metadata.put(m.getKey(), m.getValue().getAsString());
                }
                continue;
            }
            if (!e.getValue().isJsonObject()) throw error("tensor '" + name + "' is not described by an object");
            JsonObject t = e.getValue().getAsJsonObject();
            JsonElement dt = t.get("dtype");
            if (dt == null || !dt.isJsonPrimitive() || !dt.getAsJsonPrimitive().isString())
                throw error("tensor '" + name + "' has no dtype string");
            String dtype = dt.getAsString();
            int width = switch (dtype) {
                case "F64", "I64", "U64" -> 8;
                case "F32", "I32", "U32" -> 4;
                case "F16", "BF16", "I16", "U16" -> 2;
                case "I8", "U8", "BOOL", "F8_E4M3", "F8_E5M2" -> 1;
                default -> throw error("tensor '" + name + "' has unknown dtype '" + dtype + "'");
            };
            JsonArray shapeJson = array(t, "shape", name);
            int[] shape = new int[shapeJson.size()];
            long n = 1;
            for (int i = 0; i < shape.length; i++) {
                long d = whole(shapeJson.get(i), "tensor '" + name + "' shape");
                if (d < 0 || d > Integer.MAX_VALUE) throw error("tensor '" + name + "' has dimension " + d);
                shape[i] = (int) d;
                if (d != 0 && n > dataLen / d + 1)
                    throw error("tensor '" + name + "' of shape " + shapeJson + " is larger than the " + dataLen + " data bytes");
                n *= d;
            }
            JsonArray off = array(t, "data_offsets", name);
            if (off.size() != 2) throw error("tensor '" + name + "': data_offsets must have 2 entries, got " + off.size());
            long begin = whole(off.get(0), "tensor '" + name + "' data_offsets");
            long end = whole(off.get(1), "tensor '" + name + "' data_offsets");
            if (begin < 0 || end < begin || end > dataLen)
                throw error("tensor '" + name + "': byte range [" + begin + ", " + end + ") outside the " + dataLen + " data bytes (truncated?)");
            if (end - begin != n * width)
                throw error("tensor '" + name + "': " + (end - begin) + " bytes for shape " + Arrays.toString(shape) + " of " + dtype
                        + " (expected " + n * width + ")");
            Info info = new Info(name, dtype, shape, begin, end);
            tensors.put(name, info);
            byOffset.add(info);
        }
        byOffset.sort((a, b) -> a.begin() != b.begin() ? Long.compare(a.begin(), b.begin()) : Long.compare(a.end(), b.end()));
        long at = 0;
        for (Info i : byOffset) {
            if (i.begin() < at) throw error("tensors '" + i.name() + "' and another overlap in the data section");
            if (i.begin() > at) throw error("a hole of " + (i.begin() - at) + " bytes before tensor '" + i.name() + "' in the data section");
            at = i.end();
        }
        if (at != dataLen)
            throw error("the tensors cover " + at + " of the " + dataLen + " data bytes (trailing bytes?)");
    }

    private JsonArray array(JsonObject o, String key, String name) throws IOException {
        JsonElement e = o.get(key);
        if (e == null || !e.isJsonArray()) throw error("tensor '" + name + "' has no " + key + " array");
        return e.getAsJsonArray();
    }

    private long whole(JsonElement e, String where) throws IOException {
        try {
            if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber()) throw new NumberFormatException();
            return e.getAsJsonPrimitive().getAsBigDecimal().longValueExact();
        } catch (NumberFormatException | ArithmeticException ex) {
            throw error(where + ": '" + e + "' is not a whole number");
        }
    }

    /** The tensor named, with the given dtype and shape (-1 in {@code shape} matches any size). */
    Info require(String name, String dtype, int... shape) throws IOException {
        Info i = tensors.get(name);
        if (i == null) throw error("tensor '" + name + "' is missing (the file has " + tensors.keySet() + ")");
        if (!i.dtype().equals(dtype)) throw error("tensor '" + name + "' is " + i.dtype() + ", expected " + dtype);
        boolean ok = i.shape().length == shape.length;
        for (int d = 0; ok && d < shape.length; d++) ok = shape[d] < 0 || shape[d] == i.shape()[d];
        if (!ok) throw error("tensor '" + name + "' has shape " + Arrays.toString(i.shape()) + ", expected "
                + Arrays.toString(shape).replace("-1", "n"));
        return i;
    }

    float[] readFloats(Info info) throws IOException {
        float[] out = new float[checkedSize(info)];
        read(info, (buf, at, count) -> buf.asFloatBuffer().get(out, at, count));
        return out;
    }

    int[] readInts(Info info) throws IOException {
        int[] out = new int[checkedSize(info)];
        read(info, (buf, at, count) -> buf.asIntBuffer().get(out, at, count));
        return out;
    }

    private int checkedSize(Info info) throws IOException {
        if (!info.dtype().equals("F32") && !info.dtype().equals("I32"))
            throw error("tensor '" + info.name() + "' is " + info.dtype() + ", expected a 4-byte type");
        long n = info.elements();
        if (n > Integer.MAX_VALUE - 8) throw error("tensor '" + info.name() + "' has " + n + " elements, more than a Java array holds");
        return (int) n;
    }

    private interface Sink {
        void take(ByteBuffer buf, int at, int count);
    }

    private void read(Info info, Sink sink) throws IOException {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long pos = dataStart + info.begin(), end = dataStart + info.end();
            ByteBuffer buf = ByteBuffer.allocate((int) Math.min(CHUNK, end - pos)).order(ByteOrder.LITTLE_ENDIAN);
            int at = 0;
            while (pos < end) {
                buf.clear().limit((int) Math.min(buf.capacity(), end - pos));
                readFully(ch, buf, pos, path);
                buf.flip();
                int count = buf.remaining() / 4;
                sink.take(buf, at, count);
                at += count;
                pos += buf.limit();
            }
        }
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long pos, Path path) throws IOException {
        while (buf.hasRemaining()) {
            int r = ch.read(buf, pos);
            if (r < 0) throw new IOException(path + ": ends early at byte " + pos + " (truncated while reading?)");
            pos += r;
        }
    }

    /** The SHA-256 of the whole file, lower-case hex. */
    static String sha256(Path path) throws IOException {
        MessageDigest md = digest();
        try (InputStream in = Files.newInputStream(path)) {
            byte[] b = new byte[(int) Math.min(CHUNK, Math.max(1, Files.size(path)))];
            for (int r; (r = in.read(b)) > 0; ) md.update(b, 0, r);
        }
        return HexFormat.of().formatHex(md.digest());
    }

    static MessageDigest digest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("this Java runtime has no SHA-256", e); // every Java SE has it
        }
    }

    /** One tensor to write: F32 from {@code floats} or I32 from {@code ints}. */
    record Out(String name, int[] shape, float[] floats, int[] ints) {
        String dtype() {
            return floats != null ? "F32" : "I32";
        }

        long bytes() {
            return 4L * (floats != null ? floats.length : ints.length);
        }
    }

    /** Writes the tensors in order, contiguously, with metadata; the caller makes it atomic. */
    static void write(OutputStream out, List<Out> list, Map<String, String> metadata) throws IOException {
        JsonObject header = new JsonObject();
        if (!metadata.isEmpty()) {
            JsonObject meta = new JsonObject();
            metadata.forEach(meta::addProperty);
            header.add("__metadata__", meta);
        }
        long offset = 0;
        for (Out t : list) {
            long n = 1;
            for (int d : t.shape()) n *= d;
            if (4 * n != t.bytes()) throw new IllegalArgumentException(t.name() + ": " + t.bytes() / 4 + " values for shape " + Arrays.toString(t.shape()));
            JsonObject o = new JsonObject();
            o.addProperty("dtype", t.dtype());
            JsonArray shape = new JsonArray();
            for (int d : t.shape()) shape.add(d);
            o.add("shape", shape);
            JsonArray range = new JsonArray();
            range.add(offset);
            range.add(offset + t.bytes());
            o.add("data_offsets", range);
            header.add(t.name(), o);
            offset += t.bytes();
        }
        byte[] json = header.toString().getBytes(StandardCharsets.UTF_8);
        int pad = (8 - json.length % 8) % 8; // the data start is aligned to 8 bytes with spaces
        byte[] padded = Arrays.copyOf(json, json.length + pad);
        Arrays.fill(padded, json.length, padded.length, (byte) ' ');
        out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded.length).array());
        out.write(padded);
        ByteBuffer buf = ByteBuffer.allocate(CHUNK).order(ByteOrder.LITTLE_ENDIAN);
        for (Out t : list) {
            int n = (int) (t.bytes() / 4);
            for (int i = 0; i < n; i++) {
                if (!buf.hasRemaining()) {
                    out.write(buf.array(), 0, buf.position());
                    buf.clear();
                }
                if (t.floats() != null) buf.putFloat(t.floats()[i]);
                else buf.putInt(t.ints()[i]);
            }
        }
        out.write(buf.array(), 0, buf.position());
    }
}
