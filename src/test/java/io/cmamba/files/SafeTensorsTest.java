package io.cmamba.files;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class SafeTensorsTest {
    @TempDir
    Path dir;

    @Test
    void roundTripKeepsValuesShapesAndMetadata() throws IOException {
        Random rnd = new Random(7);
        float[] f = new float[3 * 5];
        for (int i = 0; i < f.length; i++) f[i] = (float) rnd.nextGaussian();
        double[] d = {Math.PI, -1e-300, 1e300};
        int[] ints = {0, -3, Integer.MAX_VALUE, Integer.MIN_VALUE};
        SafeTensors st = new SafeTensors().putFloats("a", new int[]{3, 5}, f).put("b", "F64", new int[]{3}, d)
                .putInts("len", new int[]{4}, ints);
        st.metadata().put("config", "{\"x\":1}");
        Path p = dir.resolve("t.safetensors");
        st.write(p);
        SafeTensors r = SafeTensors.read(p);
        assertArrayEquals(f, r.get("a").floats());
        assertArrayEquals(new int[]{3, 5}, r.get("a").shape());
        assertArrayEquals(d, r.get("b").values());
        assertArrayEquals(ints, r.get("len").ints());
        assertEquals("{\"x\":1}", r.metadata().get("config"));
        // data starts 8-byte aligned, as other readers expect
        long headerLen = ByteBuffer.wrap(Files.readAllBytes(p), 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(0, headerLen % 8);
    }

    @Test
    void readsAFileWrittenByHandInTheStandardLayout() {
        String json = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
        byte[] h = json.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + 8).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h).putFloat(1.5f).putFloat(-2f);
        SafeTensors st = SafeTensors.parse(b.array());
        assertArrayEquals(new float[]{1.5f, -2f}, st.get("x").floats());
    }

    @Test
    void corruptFilesGiveAClearError() throws IOException {
        Path p = dir.resolve("ok.safetensors");
        new SafeTensors().putFloats("w", new int[]{4, 4}, new float[16]).write(p);
        byte[] good = Files.readAllBytes(p);

        byte[] truncated = java.util.Arrays.copyOf(good, good.length - 5);
        assertTrue(message(truncated).contains("outside"), message(truncated));
        byte[] hugeHeader = good.clone();
        hugeHeader[7] = 0x7f;
        assertTrue(message(hugeHeader).contains("header length"), message(hugeHeader));
        byte[] badJson = good.clone();
        badJson[8] = '[';
        assertFalse(message(badJson).isEmpty());
        assertTrue(message(new byte[3]).contains("shorter"));
        // random corruption never escapes as anything but IllegalArgumentException
        Random rnd = new Random(11);
        for (int i = 0; i < 500; i++) {
            byte[] c = good.clone();
            for (int k = 0; k < 1 + rnd.nextInt(4); k++) c[rnd.nextInt(Math.min(c.length, 120))] = (byte) rnd.nextInt(256);
            try {
                SafeTensors.parse(c);
            } catch (IllegalArgumentException expected) {
                assertNotNull(expected.getMessage());
            }
        }
        Path bad = dir.resolve("bad.safetensors");
        Files.write(bad, truncated);
        IOException e = assertThrows(IOException.class, () -> SafeTensors.read(bad));
        assertTrue(e.getMessage().contains("bad.safetensors"), e.getMessage());
    }

    @Test
    void missingTensorNamesWhatTheFileHas() {
        SafeTensors st = new SafeTensors().putFloats("a", new int[]{1}, new float[]{1});
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> st.get("b"));
        assertTrue(e.getMessage().contains("[a]"), e.getMessage());
    }

    private static String message(byte[] bytes) {
        return assertThrows(IllegalArgumentException.class, () -> SafeTensors.parse(bytes)).getMessage();
    }
}
