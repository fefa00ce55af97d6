package io.cmamba.train;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.*;

class ProgressTest {
    long now;

    String run(boolean terminal) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        Progress p = new Progress(new PrintStream(bytes, true, StandardCharsets.UTF_8), terminal, 10, () -> now);
        now = 0;
        p.startEpoch(2, 5, 100);
        for (int s = 1; s <= 100; s++) {
            now += 500_000_000L;   // half a second per update, 32 samples each
            p.step(s, 1.0 / s, 32L * s);
        }
        p.endEpoch("epoch 2/5 done");
        return bytes.toString(StandardCharsets.UTF_8);
    }

    @Test
    void plainOutputIsPeriodicLinesWithRateAndEta() {
        String s = run(false);
        assertFalse(s.contains("\r"));
        String[] lines = s.split("\n");
        // 50 s of updates, a line every 10 s, then the summary
        assertEquals(6, lines.length, s);
        assertEquals("epoch 2/5 step 20/100  loss 0.0500  64 samples/s  ETA 0:40", lines[0]);
        assertEquals("epoch 2/5 done", lines[5]);
    }

    @Test
    void terminalOutputRedrawsOneLine() {
        String s = run(true);
        assertEquals(1, s.chars().filter(c -> c == '\n').count(), "only the summary ends a line");
        assertTrue(s.contains("\repoch 2/5 [####################] step 100/100  loss 0.0100  64 samples/s  ETA 0:00"), s);
        // the summary overwrites the bar and blanks what is left of it
        assertTrue(s.matches("(?s).*\\repoch 2/5 done {20,}\n"), s);
    }

    @Test
    void clockFormats() {
        assertEquals("0:00", Progress.clock(0));
        assertEquals("1:05", Progress.clock(65));
        assertEquals("1:01:01", Progress.clock(3661));
        assertEquals("[##........]", Progress.bar(1, 4, 10));
    }
}
