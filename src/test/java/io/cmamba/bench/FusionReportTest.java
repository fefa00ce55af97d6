package io.cmamba.bench;

import io.cmamba.bench.FusionBenchmark.Row;
import io.cmamba.bench.FusionReport.Check;
import io.cmamba.bench.FusionReport.Status;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Reading and joining tables, the ratios of the summary line and the targets check, on hand-made rows. */
class FusionReportTest {
    static final double NaN = Double.NaN;

    static Row row(String model, int length, double inferMs, double trainMs, double inferMiB, double trainMiB) {
        return new Row(model, length, 8, inferMs, trainMs, inferMiB, trainMiB, false, "");
    }

    static Row oom(String model, int length) {
        return new Row(model, length, 8, NaN, NaN, NaN, NaN, true, "out of memory");
    }

    static Path file(Path dir, String name, String text) throws IOException {
        Path p = dir.resolve(name);
        Files.writeString(p, text);
        return p;
    }

    @Test
    void aPeerTableReadsBackAsWritten(@TempDir Path dir) throws IOException {
        List<Row> rows = List.of(row("torch-cross-attention-sdpa", 64, 1.25, 3.5, 10, 20), oom("torch-coupled-mamba", 128),
                new Row("torch-coupled-mamba-chunked", 128, 8, 2, NaN, 3, NaN, true, ""));
        FusionReport.Table t = FusionReport.read(file(dir, "p.csv", FusionReport.csv(rows)));
        assertTrue(t.sweep() && t.throughput().isEmpty());
        assertEquals(3, t.rows().size());
        Row a = t.rows().get(0), c = t.rows().get(2);
        assertEquals("torch-cross-attention-sdpa", a.model());
        assertEquals(64, a.length());
        assertEquals(8, a.batch());
        assertEquals(1.25, a.inferMs(), 1e-9);
        assertEquals(20, a.trainPeakMiB(), 1e-9);
        assertFalse(a.oom());
        assertTrue(t.rows().get(1).oom());
        assertTrue(Double.isNaN(t.rows().get(1).inferMs()));
        assertEquals(2, c.inferMs(), 1e-9);
        assertTrue(Double.isNaN(c.trainMs()) && c.oom(), "a phase that ran out of memory keeps the other's figures");
        // Python writes NaN as our CSV does; lower case and empty fields are read as NaN too
        Row d = FusionReport.read(file(dir, "q.csv", String.join(",", FusionReport.COLUMNS) + "\nm,16,2,nan,,1.5,NaN,false,nan,\n")).rows().get(0);
        assertTrue(Double.isNaN(d.inferMs()) && Double.isNaN(d.trainMs()) && Double.isNaN(d.trainPeakMiB()));
        assertEquals(1.5, d.inferPeakMiB(), 1e-9);
    }

    @Test
    void aMalformedTableIsOneMessageNamingFileLineAndField(@TempDir Path dir) {
        String header = String.join(",", FusionReport.COLUMNS_WITHOUT_DRIVER) + "\n";
        String full = String.join(",", FusionReport.COLUMNS) + "\n";
        Object[][] cases = {
                {"", "empty file"},
                {"model,length,batch,infer_ms\n", "header 'model,length,batch,infer_ms' is neither"},
                {header + "m,64,8,1,2,3,4\n", "line 2: expected 8 fields"},
                {header + "m,64,8,1,2,3,4,false\nm,x,8,1,2,3,4,false\n", "line 3: length must be an integer >= 1, got 'x'"},
                {header + "m,64,0,1,2,3,4,false\n", "batch must be an integer >= 1"},
                {header + "m,64,8,fast,2,3,4,false\n", "infer_ms must be a number >= 0 or NaN, got 'fast'"},
                {header + "m,64,8,1,2,3,-4,false\n", "train_peak_mib must be a number >= 0"},
                {header + "m,64,8,1,2,3,4,yes\n", "oom must be true or false, got 'yes'"},
                {header + ",64,8,1,2,3,4,false\n", "the model name is empty"},
                {full + "m,64,8,1,2,3,4,false\n", "line 2: expected 10 fields"},
                {full + "m,64,8,1,2,3,4,false,5,-6\n", "train_driver_mib must be a number >= 0"},
        };
        for (Object[] c : cases) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> FusionReport.read(file(dir, "bad.csv", (String) c[0])), (String) c[1]);
            assertTrue(e.getMessage().contains("bad.csv"), e.getMessage());
            assertTrue(e.getMessage().contains((String) c[1]), e.getMessage());
            assertFalse(e.getMessage().contains("\n"), e.getMessage());
        }
    }

    /** The driver's figures round trip; a table written before them reads with NaN there. */
    @Test
    void theDriverFiguresAreReadAndAnOlderTableStillReads(@TempDir Path dir) throws IOException {
        Row r = new Row("coupled-mamba", 64, 8, 1.5, 4, 20, 60, false, "", 530.25, 812.5);
        Row back = FusionReport.read(file(dir, "d.csv", FusionReport.csv(List.of(r)))).rows().get(0);
        assertEquals(530.25, back.inferDriverMiB(), 1e-9);
        assertEquals(812.5, back.trainDriverMiB(), 1e-9);
        assertEquals(60, back.trainPeakMiB(), 1e-9);
        String old = String.join(",", FusionReport.COLUMNS_WITHOUT_DRIVER) + "\ncoupled-mamba,64,8,1.5,4,20,60,false\n";
        Row before = FusionReport.read(file(dir, "old.csv", old)).rows().get(0);
        assertEquals(20, before.inferPeakMiB(), 1e-9);
        assertTrue(Double.isNaN(before.inferDriverMiB()) && Double.isNaN(before.trainDriverMiB()));
        assertTrue(FusionReport.csv(List.of(before)).startsWith(String.join(",", FusionReport.COLUMNS) + "\n"),
                "rewritten with the driver columns");
    }

    @Test
    void aThroughputTableIsKnownByItsHeader(@TempDir Path dir) throws IOException {
        Path p = file(dir, "t.csv", "model,length,batch,train_step_ms,samples_per_s\ntorch-coupled-mamba,50,1024,100.0,10240.0\n"
                + "torch-cross-attention-sdpa,50,1024,NaN,NaN\n");
        FusionReport.Table t = FusionReport.read(p);
        assertTrue(!t.sweep() && t.rows().isEmpty());
        assertEquals(2, t.throughput().size());
        assertEquals(10240, t.throughput().get(0).samplesPerS(), 1e-9);
        List<FusionReport.ThroughputRow> ours = List.of(new FusionReport.ThroughputRow("coupled-mamba", 50, 1024, 50, 20480));
        List<String> lines = FusionReport.throughputSummary(FusionReport.joinThroughput(ours, t.throughput()));
        assertEquals(1, lines.size());
        assertTrue(lines.get(0).contains("vs torch-coupled-mamba 10240.0 samples/s: 2.00x"), lines.get(0));
        assertTrue(lines.get(0).contains("vs torch-attn-sdpa NaN samples/s: n/a"), lines.get(0));
        assertEquals(FusionReport.throughputCsv(t.throughput()), Files.readString(p).replace("100.0,", "100.0000,").replace("NaN,NaN", "NaN,NaN"));
    }

    @Test
    void joiningAppendsNewRowsAndReplacesTheSameModelLengthAndBatch() {
        List<Row> ours = List.of(row("coupled-mamba", 64, 1, 2, 3, 4), row("cross-attention-flash", 64, 1, 2, 3, 4));
        List<Row> peers = List.of(row("torch-cross-attention-sdpa", 64, 5, 6, 7, 8), row("coupled-mamba", 64, 9, 9, 9, 9),
                new Row("coupled-mamba", 64, 16, 1, 1, 1, 1, false, ""));
        List<Row> joined = FusionReport.join(ours, peers);
        assertEquals(List.of("coupled-mamba", "cross-attention-flash", "torch-cross-attention-sdpa", "coupled-mamba"),
                joined.stream().map(Row::model).toList());
        assertEquals(9, joined.get(0).inferMs(), 0, "the later file's row replaces ours at the same size, in place");
        assertEquals(16, joined.get(3).batch(), "another batch is another row");
        assertEquals(List.of("coupled-mamba", "cross-attention-flash", "torch-cross-attention-sdpa"), FusionReport.models(joined));
    }

    @Test
    void theSummaryGivesOurTimeAndMemoryOverEveryOtherModelAtEachLength() {
        List<Row> rows = List.of(row("coupled-mamba", 64, 1, 4, 10, 30), row("cross-attention-plain", 64, 2, 5, 20, 60),
                row("torch-cross-attention-sdpa", 64, 4, 16, 40, 120), row("coupled-mamba", 128, 2, 8, 20, 60),
                oom("cross-attention-plain", 128), row("torch-coupled-mamba", 256, 1, 1, 1, 1));
        List<String> lines = FusionReport.summary(rows);
        assertEquals(2, lines.size(), "a line per length where coupled-mamba was measured: " + lines);
        assertEquals("L     64 B    8:  vs attn-plain: time 50.0% (train 80.0%), memory 50.0% (infer 50.0%)"
                + " | vs torch-attn-sdpa: time 25.0% (train 25.0%), memory 25.0% (infer 25.0%)", lines.get(0));
        assertEquals("L    128 B    8:  vs attn-plain: out of memory", lines.get(1));
        assertEquals("n/a", FusionReport.ratio(NaN, 2, false));
        assertEquals("n/a", FusionReport.ratio(1, 0, false));
        assertEquals("theirs out of memory", FusionReport.ratio(1, NaN, true));
        assertEquals("150.0%", FusionReport.ratio(3, 2, true), "a figure that was measured counts even in a row with oom");
    }

    static Check check(List<Check> checks, int target, int length) {
        return checks.stream().filter(c -> c.target() == target && c.length() == length).findFirst().orElseThrow();
    }

    @Test
    void targetOneAsksAtMost16Point3PercentOfPlainAttentionsMemoryFrom2048On() {
        List<Row> rows = List.of(
                row("coupled-mamba", 1024, 1, 1, 90, 90), row("cross-attention-plain", 1024, 1, 1, 100, 100),
                row("coupled-mamba", 2048, 1, 1, 16.3, 16), row("cross-attention-plain", 2048, 1, 1, 100, 100),
                row("coupled-mamba", 4096, 1, 1, 10, 17), row("cross-attention-plain", 4096, 1, 1, 100, 100),
                row("coupled-mamba", 8192, 1, 1, 10, 10), oom("cross-attention-plain", 8192),
                oom("coupled-mamba", 16384), oom("cross-attention-plain", 16384),
                row("coupled-mamba", 32768, 1, 1, 10, 10));
        List<Check> checks = FusionReport.targets(rows);
        assertTrue(checks.stream().noneMatch(c -> c.target() == 1 && c.length() < 2048), "not below L 2048");
        assertEquals(Status.PASS, check(checks, 1, 2048).status(), check(checks, 1, 2048).detail());
        assertEquals("infer 16.3% (16.3 / 100.0 MiB), train 16.0% (16.0 / 100.0 MiB)", check(checks, 1, 2048).detail());
        assertEquals(Status.FAIL, check(checks, 1, 4096).status(), "the training step's 17% fails: " + check(checks, 1, 4096).detail());
        assertEquals(Status.PASS, check(checks, 1, 8192).status(), "theirs ran out of memory, ours did not");
        assertEquals(Status.FAIL, check(checks, 1, 16384).status(), "ours ran out of memory");
        assertEquals(Status.NA, check(checks, 1, 32768).status(), "no plain row");
        assertEquals("no cross-attention-plain row", check(checks, 1, 32768).detail());
    }

    @Test
    void targetsTwoAndThreeCompareWithPyTorchSdpaAtEveryLength() {
        List<Row> rows = List.of(
                row("coupled-mamba", 50, 0.9, 5, 100, 200), row("torch-cross-attention-sdpa", 50, 1.0, 4, 100, 250),
                row("coupled-mamba", 64, 2, 5, 101, 200), row("torch-cross-attention-sdpa", 64, 1.5, 4, 100, 250),
                row("coupled-mamba", 128, 2, 5, NaN, NaN), row("torch-cross-attention-sdpa", 128, 2, 4, 1, 1),
                row("coupled-mamba", 256, 2, 5, 1, 1), new Row("torch-cross-attention-sdpa", 256, 8, NaN, NaN, NaN, NaN, false, "skipped"),
                row("coupled-mamba", 512, 2, 5, 1, 1), oom("torch-cross-attention-sdpa", 512),
                row("coupled-mamba", 1024, 2, 5, 1, 1));
        List<Check> checks = FusionReport.targets(rows);
        assertEquals(Status.PASS, check(checks, 2, 50).status(), "equal inference peak is not above theirs");
        assertEquals(Status.PASS, check(checks, 3, 50).status());
        assertEquals("0.900 vs 1.000 ms (theirs / ours 1.11x)", check(checks, 3, 50).detail());
        assertEquals(Status.FAIL, check(checks, 2, 64).status(), "the inference peak is above theirs");
        assertEquals(Status.FAIL, check(checks, 3, 64).status());
        assertEquals(Status.NA, check(checks, 2, 128).status(), "no memory figures (the CPU)");
        assertEquals(Status.FAIL, check(checks, 3, 128).status(), "equal time is not faster");
        assertEquals(Status.NA, check(checks, 2, 256).status(), "theirs skipped, not out of memory");
        assertEquals(Status.NA, check(checks, 3, 256).status());
        assertEquals(Status.PASS, check(checks, 2, 512).status());
        assertEquals(Status.PASS, check(checks, 3, 512).status());
        assertEquals(Status.NA, check(checks, 3, 1024).status());
        List<String> lines = FusionReport.targetLines(rows);
        assertEquals("targets: 4 PASS, 3 FAIL, 5 n/a", lines.get(lines.size() - 1));
        assertTrue(lines.contains("  target 3  L     64 B    8  FAIL  2.000 vs 1.500 ms (theirs / ours 0.75x)"), String.join("\n", lines));
    }

    @Test
    void theTablesAreWrittenAndPlottedWithASeriesPerModel(@TempDir Path dir) throws IOException {
        List<Row> rows = List.of(row("coupled-mamba", 64, 1, 4, 10, 30), row("torch-cross-attention-sdpa", 64, 2, 5, 20, 60),
                row("coupled-mamba", 128, 2, 8, 20, 60),
                new Row("torch-cross-attention-sdpa", 128, 8, 3, 6, 30, 90, false, "", 700, 760));
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        List<String> drawn = FusionReport.write(dir, "test device", null, List.of("peer.csv"), rows, new PrintStream(log));
        assertEquals(List.of("speed.png", "train-speed.png", "memory.png", "memory-inference.png", "memory-driver.png"), drawn,
                log.toString());
        assertEquals(FusionReport.csv(rows), Files.readString(dir.resolve("fusion-bench.csv")));
        String json = Files.readString(dir.resolve("fusion-bench.json"));
        assertTrue(json.contains("\"joined\"") && json.contains("peer.csv") && json.contains("\"targets\"") && json.contains("PASS"), json);
        for (String png : List.of("speed.png", "train-speed.png", "memory.png", "memory-inference.png", "memory-driver.png"))
            assertTrue(Files.size(dir.resolve(png)) > 1000, png);
        // tables without the driver's figures draw no driver plot
        assertEquals(List.of("speed.png", "train-speed.png", "memory.png", "memory-inference.png"),
                FusionReport.write(dir.resolve("old"), "test device", null, List.of(), rows.subList(0, 3), new PrintStream(log)));
        assertFalse(Files.exists(dir.resolve("old/memory-driver.png")));
    }
}
