package io.cmamba.bench;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class ScanReportTest {
    private static final ScanBenchmark.Setting PAPER = ScanBenchmark.SETTINGS.get(0), LONG = ScanBenchmark.SETTINGS.get(1);

    /** ScanBenchmark's own result lines, among the other lines of its output. */
    private static List<String> benchOutput() {
        return List.of("device NVIDIA H200: 132 SMs, clock 1.98 GHz; copy bandwidth 4.16 TB/s (measured)",
                ScanBenchmark.resultLine(PAPER, 1.382, new double[]{0.000621, 0.000170, 0.000621, 0.000426},
                        6.540, new double[]{0.000978, 0.000303, 0.000621, 0.000978}),
                ScanBenchmark.resultLine(LONG, 0.4, new double[]{0.000325, 0.000292, 0.000325, 0.000205},
                        1.0, new double[]{0.000512, 0.000512, 0.000325, 0.000469}),
                "",
                "setting       forward ms   floor  bound  ratio |  backward ms   floor  bound  ratio",
                "paper              1.382   0.621    exp   2.23 |        6.540   0.978   fp32   6.69");
    }

    /** Lines in the form bench/peers/coupled_scan_torch.py prints, with a compile note, a failure and the table. */
    private static List<String> peerOutput() {
        return List.of("NVIDIA H200 torch 2.11.0+cu130",
                "torch paper        M=3 B=1024 L=50 D=256 N=64 (chunks of 10): forward 67.240 ms, backward 267.774 ms (forward+backward 335.014 ms)",
                "torch long2k-n16   M=3 B=8 L=2048 D=1536 N=16 (chunks of 64): forward 50.446 ms, backward 487.736 ms (forward+backward 538.182 ms)",
                "torch.compile paper        M=3 B=1024 L=50 D=256 N=64 (chunks of 10): forward 8.423 ms, backward 60.027 ms "
                        + "(forward+backward 68.450 ms), first calls 7.7 s and 15.8 s (compiling)",
                "torch.compile long2k-n16: not timed: TimeoutError: compiling took 130 s, over the 120 s deadline",
                "torch.compile  paper             8.423       60.027");
    }

    @Test
    void readsTheBenchmarksOwnLines() {
        List<ScanReport.Bench> b = ScanReport.readBench(benchOutput(), "bench.txt");
        assertEquals(2, b.size());
        assertEquals(new ScanReport.Bench("paper", 1.382, 0.621, 6.540, 0.978), b.get(0));
        assertEquals(new ScanReport.Bench("long2k-n16", 0.4, 0.325, 1.0, 0.512), b.get(1));
    }

    @Test
    void readsThePeersTimedLinesOnly() {
        List<ScanReport.Peer> p = ScanReport.readPeer(peerOutput(), "peer.txt");
        assertEquals(List.of(new ScanReport.Peer("torch", "paper", 67.240, 267.774),
                new ScanReport.Peer("torch", "long2k-n16", 50.446, 487.736),
                new ScanReport.Peer("torch.compile", "paper", 8.423, 60.027)), p);
    }

    @Test
    void summaryGivesRatiosTargetsAndSpeedUps() {
        List<String> s = ScanReport.summary(ScanReport.readBench(benchOutput(), "b"), ScanReport.readPeer(peerOutput(), "p"));
        assertEquals(2, s.size());
        assertTrue(s.get(0).contains("forward 1.382 ms = 2.23x floor (target 1.5x: not met)"), s.get(0));
        assertTrue(s.get(0).contains("backward 6.540 ms = 6.69x floor (target 2.5x: not met)"), s.get(0));
        assertTrue(s.get(0).contains("torch 48.7x / 40.9x slower"), s.get(0));
        assertTrue(s.get(0).contains("torch.compile 6.1x / 9.2x slower"), s.get(0));
        // 0.4 / 0.325 = 1.23 and 1.0 / 0.512 = 1.95: both within their targets; no compiled time there
        assertTrue(s.get(1).contains("= 1.23x floor (target 1.5x: met)"), s.get(1));
        assertTrue(s.get(1).contains("= 1.95x floor (target 2.5x: met)"), s.get(1));
        assertFalse(s.get(1).contains("torch.compile"), s.get(1));
    }

    @Test
    void drawsAPngWithAGapWhereAPeerHasNoTime(@TempDir Path dir) throws Exception {
        Path png = dir.resolve("sub/scan.png");
        ScanReport.chart(png, "test", ScanReport.readBench(benchOutput(), "b"), ScanReport.readPeer(peerOutput(), "p"));
        byte[] head = Files.readAllBytes(png);
        assertTrue(head.length > 1000);
        assertEquals((byte) 0x89, head[0]);
        assertEquals('P', head[1]);
        assertEquals('N', head[2]);
        assertEquals('G', head[3]);
        try (var files = Files.list(png.getParent())) {
            assertEquals(1, files.count(), "no temporary file left beside the chart");
        }
    }

    @Test
    void filesWithoutResultsAreRefusedByName() {
        var e = assertThrows(IllegalArgumentException.class, () -> ScanReport.readBench(List.of("hello", "device X"), "run/scan-bench.txt"));
        assertTrue(e.getMessage().startsWith("run/scan-bench.txt: no ScanBenchmark result lines"), e.getMessage());
        var f = assertThrows(IllegalArgumentException.class, () -> ScanReport.readPeer(peerOutput().subList(4, 6), "peer.txt"));
        assertTrue(f.getMessage().startsWith("peer.txt: no peer result lines"), f.getMessage());
    }

    @Test
    void peerFilesJoinAndARepeatedSettingIsRefused(@TempDir Path dir) throws Exception {
        List<String> peer = peerOutput();
        Path bench = dir.resolve("bench.txt"), first = dir.resolve("a.txt"), second = dir.resolve("b.txt"), png = dir.resolve("scan.png");
        Files.write(bench, benchOutput());
        Files.write(first, peer.subList(0, 3));           // eager at both settings
        Files.write(second, peer.subList(3, peer.size()));  // compiled at the paper setting
        List<ScanReport.Peer> joined = ScanReport.joinPeers(ScanReport.readPeer(peer.subList(0, 3), "a"),
                ScanReport.readPeer(peer.subList(3, peer.size()), "b"), "b");
        assertEquals(ScanReport.readPeer(peer, "all"), joined);
        ScanReport.run(new String[]{"--bench", bench.toString(), "--peer", first.toString(), "--peer", second.toString(), "--out", png.toString()});
        assertTrue(Files.size(png) > 1000);
        var twice = assertThrows(IllegalArgumentException.class, () -> ScanReport.run(new String[]{"--bench", bench.toString(),
                "--peer", first.toString(), "--peer", first.toString(), "--out", png.toString()}));
        assertEquals(first + ": torch at paper was already read from an earlier --peer file; give each setting once", twice.getMessage());
    }

    @Test
    void commandLineRefusesMissingFilesAndArguments(@TempDir Path dir) {
        var missing = assertThrows(IllegalArgumentException.class,
                () -> ScanReport.run(new String[]{"--bench", dir.resolve("none.txt").toString(), "--out", dir.resolve("x.png").toString()}));
        assertTrue(missing.getMessage().endsWith("none.txt: no such file"), missing.getMessage());
        var noOut = assertThrows(IllegalArgumentException.class, () -> ScanReport.run(new String[]{"--bench", "b.txt"}));
        assertTrue(noOut.getMessage().startsWith("--bench and --out are required"), noOut.getMessage());
        var unknown = assertThrows(IllegalArgumentException.class, () -> ScanReport.run(new String[]{"--plot"}));
        assertTrue(unknown.getMessage().startsWith("unknown argument '--plot'"), unknown.getMessage());
    }
}
