package io.cmamba.bench;

import io.cmamba.cuda.Ceilings;
import io.cmamba.cuda.KernelProfile;
import io.cmamba.cuda.KernelWork;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class KernelReportTest {
    private static final Ceilings C = new Ceilings(1e12, 1e13, 1e12, "test");

    private static List<KernelReport.Row> sample() {
        KernelProfile inf = new KernelProfile();
        inf.add("coupled_scan_fwd", 3.0, new KernelWork(1e9, 0, 1.5e9));
        inf.add("cublasSgemm", 0.9, new KernelWork(0, 9e9, 0));
        inf.add("fill_u32", 0.01, new KernelWork(1e6, 0, 0));
        KernelProfile train = new KernelProfile();
        train.add("coupled_scan_bwd", 10.0, new KernelWork(2e9, 5e10, 1.5e9));
        List<KernelReport.Row> rows = new ArrayList<>(KernelReport.rows("coupled-mamba", 2048, 8, "inference", inf));
        rows.addAll(KernelReport.rows("coupled-mamba", 2048, 8, "training", train));
        return rows;
    }

    @Test
    void csvHasOneLinePerKernelWithItsRoofline() {
        String[] lines = KernelReport.csv(sample(), C).split("\n");
        assertEquals(String.join(",", KernelReport.COLUMNS), lines[0]);
        assertEquals(5, lines.length);
        String[] scan = lines[1].split(",");
        assertEquals(KernelReport.COLUMNS.size(), scan.length);
        assertEquals("coupled_scan_fwd", scan[4]);
        assertEquals("inference", scan[3]);
        assertEquals(3.0 / 3.91, Double.parseDouble(scan[7]), 1e-4);     // share of the pass
        assertEquals(1.5, Double.parseDouble(scan[11]), 1e-9);           // floor: 1.5e9 exps at 1 T/s
        assertEquals("exp", scan[12]);
        assertEquals(0.5, Double.parseDouble(scan[13]), 1e-9);
        String[] bwd = lines[4].split(",");
        assertEquals("fp32", bwd[12]);
        assertEquals(0.5, Double.parseDouble(bwd[13]), 1e-9);           // 5e10 FMAs need 5 ms, took 10
    }

    @Test
    void textGroupsByPassAndFoldsSmallKernels(@TempDir Path dir) throws Exception {
        List<String> t = KernelReport.text(sample(), C, 0.02);
        assertTrue(t.get(0).startsWith("ceilings: copy 1.00 TB/s, FP32 20.0 TFLOP/s, exp 1.00 T/s"), t.get(0));
        assertTrue(t.contains("coupled-mamba L 2048 batch 8, inference: 3.910 ms of kernels"), String.join("\n", t));
        assertTrue(t.contains("  (1 more kernels, 0.010 ms)"), String.join("\n", t));
        assertTrue(t.stream().anyMatch(l -> l.startsWith("  coupled_scan_bwd") && l.contains("roofline  50.0% (fp32)")), String.join("\n", t));
        KernelReport.write(dir, sample(), C);
        assertEquals(5, Files.readAllLines(dir.resolve("kernels.csv")).size());
        assertTrue(Files.readString(dir.resolve("kernels.txt")).contains("cublasSgemm"));
    }
}
