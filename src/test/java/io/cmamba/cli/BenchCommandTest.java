package io.cmamba.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** {@code cmamba bench} on the CPU: a tiny sweep writes its table, JSON and chart; bad arguments exit 2. */
class BenchCommandTest {
    @Test
    void aShortCpuSweepWritesEveryOutput(@TempDir Path dir) throws Exception {
        MainTest.Run r = MainTest.run("bench", "--device", "cpu", "--lengths", "4,8", "--batch", "1", "--d-model", "8",
                "--layers", "1", "--heads", "2", "--d-state", "4", "--repeats", "1", "--out", dir.toString());
        assertEquals(0, r.code(), r.err());
        List<String> csv = Files.readAllLines(dir.resolve("fusion-bench.csv"));
        assertEquals(1 + 2 * 3, csv.size(), "a header and one row per model and length: " + csv);
        for (String row : csv.subList(1, csv.size())) {
            double inferMs = Double.parseDouble(row.split(",")[3]);
            assertTrue(inferMs > 0, "a measured time: " + row);
        }
        assertTrue(Files.size(dir.resolve("speed.png")) > 1000);
        assertTrue(Files.readString(dir.resolve("fusion-bench.json")).contains("\"coupled-mamba\""));
        assertTrue(r.out().contains("vs attn-plain"), r.out());
    }

    @Test
    void badLengthsAreOneLineAndExit2() {
        MainTest.Run r = MainTest.run("bench", "--device", "cpu", "--lengths", "0");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--lengths"), r.err());
    }
}
