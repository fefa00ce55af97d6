package io.cmamba.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code cmamba bench} on the CPU: a tiny sweep writes its table, JSON and chart; a peer's table joins
 * in; --join-only re-draws without measuring; --throughput times steps with Adam; bad arguments exit 2.
 */
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

    static final String[] TINY = {"--device", "cpu", "--batch", "1", "--d-model", "8", "--layers", "1", "--heads", "2",
            "--d-state", "4", "--repeats", "1"};

    /** cmamba bench at a tiny CPU size, then {@code more}. */
    static String[] bench(String... more) {
        List<String> a = new java.util.ArrayList<>(List.of("bench"));
        a.addAll(List.of(TINY));
        a.addAll(List.of(more));
        return a.toArray(String[]::new);
    }

    static Path peer(Path dir) throws Exception {
        Path p = dir.resolve("peer.csv");
        Files.writeString(p, "model,length,batch,infer_ms,train_ms,infer_peak_mib,train_peak_mib,oom\n"
                + "torch-cross-attention-sdpa,4,1,1000.0,2000.0,NaN,NaN,false\n"
                + "torch-cross-attention-sdpa,8,1,NaN,NaN,NaN,NaN,true\n");
        return p;
    }

    @Test
    void aPeersTableJoinsTheSweepAndJoinOnlyRedrawsItWithoutMeasuring(@TempDir Path dir) throws Exception {
        Path run = dir.resolve("run"), again = dir.resolve("again");
        MainTest.Run r = MainTest.run(bench("--lengths", "4,8", "--models", "coupled-mamba",
                "--out", run.toString(), "--join", peer(dir).toString()));
        assertEquals(0, r.code(), r.err());
        List<String> csv = Files.readAllLines(run.resolve("fusion-bench.csv"));
        assertEquals(1 + 2 + 2, csv.size(), "ours at two lengths, then the peer's two rows: " + csv);
        assertTrue(csv.get(3).startsWith("torch-cross-attention-sdpa,4,1,1000.0000,2000.0000,NaN,NaN,false"), csv.get(3));
        assertTrue(r.out().contains("vs torch-attn-sdpa: time "), r.out());
        assertTrue(r.out().contains("vs torch-attn-sdpa: out of memory"), r.out());
        assertTrue(r.out().contains("target 3  L      4 B    1  PASS"), "a millisecond sweep beats 1000 ms: " + r.out());
        assertTrue(r.out().contains("target 3  L      8 B    1  PASS"), "theirs ran out of memory: " + r.out());
        assertTrue(r.out().contains("targets: 2 PASS, 0 FAIL, 2 n/a"), r.out());

        MainTest.Run j = MainTest.run("bench", "--join-only", "--in", run.toString(), "--out", again.toString());
        assertEquals(0, j.code(), j.err());
        assertEquals(Files.readString(run.resolve("fusion-bench.csv")), Files.readString(again.resolve("fusion-bench.csv")),
                "the joined table is kept as it was");
        assertTrue(Files.readString(again.resolve("fusion-bench.json")).contains("\"device\": \"cpu\""), "the measuring run's device");
        assertTrue(Files.size(again.resolve("speed.png")) > 1000);
        assertTrue(j.out().contains("targets: 2 PASS, 0 FAIL, 2 n/a"), j.out());
    }

    @Test
    void throughputTimesTrainingStepsWithAdam(@TempDir Path dir) throws Exception {
        Path peer = dir.resolve("tp.csv");
        Files.writeString(peer, "model,length,batch,train_step_ms,samples_per_s\ntorch-coupled-mamba,4,2,1000.0,2.0\n");
        MainTest.Run r = MainTest.run(bench("--throughput", "2x4", "--models", "coupled-mamba",
                "--out", dir.toString(), "--join", peer.toString()));
        assertEquals(0, r.code(), r.err());
        List<String> csv = Files.readAllLines(dir.resolve("throughput.csv"));
        assertEquals("model,length,batch,train_step_ms,samples_per_s", csv.get(0));
        String[] ours = csv.get(1).split(",");
        assertEquals(List.of("coupled-mamba", "4", "2"), List.of(ours[0], ours[1], ours[2]));
        double expected = 2 / (Double.parseDouble(ours[3]) / 1e3);
        assertEquals(expected, Double.parseDouble(ours[4]), 1e-3 * expected + 0.1, "samples/s = batch / step, as rounded in the table");
        assertTrue(csv.get(2).startsWith("torch-coupled-mamba,4,2,"), csv.toString());
        assertTrue(r.out().contains("vs torch-coupled-mamba 2.0 samples/s: "), r.out());
    }

    @Test
    void aMalformedJoinedFileIsOneLineAndExit2(@TempDir Path dir) throws Exception {
        Path bad = dir.resolve("bad.csv");
        Files.writeString(bad, "model,length,batch,infer_ms,train_ms,infer_peak_mib,train_peak_mib,oom\nm,64,8,1,2,3\n");
        MainTest.usageError("bad.csv line 2: expected 8 fields", bench("--lengths", "4", "--join", bad.toString(),
                "--out", dir.toString()));
        MainTest.usageError("has neither fusion-bench.csv nor throughput.csv", "bench", "--join-only", "--in", dir.toString());
        Path tp = dir.resolve("tp.csv");
        Files.writeString(tp, "model,length,batch,train_step_ms,samples_per_s\n");
        MainTest.usageError("is a throughput table", bench("--lengths", "4", "--join", tp.toString(), "--out", dir.toString()));
        MainTest.usageError("--throughput: expected BATCHxLENGTH", bench("--throughput", "1024", "--out", dir.toString()));
        MainTest.usageError("--models: unknown model 'mamba'", bench("--models", "mamba", "--out", dir.toString()));
    }

    @Test
    void badLengthsAreOneLineAndExit2() {
        MainTest.Run r = MainTest.run("bench", "--device", "cpu", "--lengths", "0");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--lengths"), r.err());
    }
}
