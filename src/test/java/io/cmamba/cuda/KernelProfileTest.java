package io.cmamba.cuda;

import io.cmamba.cpu.CpuBackend;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class KernelProfileTest {
    // 1 TB/s, 10 T FMA/s, 1 T exp/s: a floor of 1 ms is 1 GB, 10 G FMAs or 1 G exponentials
    private static final Ceilings C = new Ceilings(1e12, 1e13, 1e12, "test");

    @Test
    void argumentBytesCountEachTensorOnceAndIgnoreScalars() {
        CpuBackend cpu = new CpuBackend();
        try (Tensor a = cpu.empty(DType.F32, 3, 5); Tensor b = cpu.empty(DType.I32, 7); Tensor c = cpu.empty(DType.F64, 2)) {
            KernelWork w = KernelWork.ofArguments(a, 4, 2.5f, null, b, 9L, c, new byte[64]);
            assertEquals(15 * 4 + 7 * 4 + 2 * 8, w.bytes());
            assertEquals(0, w.fmas());
            assertEquals(0, w.exps());
        }
    }

    @Test
    void floorIsTheLargestPartAndNamesIt() {
        assertEquals(2.0, new KernelWork(2e9, 1e10, 0.5e9).floorMillis(C), 1e-12);
        assertEquals("bytes", new KernelWork(2e9, 1e10, 0.5e9).bound(C));
        assertEquals(3.0, new KernelWork(1e9, 3e10, 0).floorMillis(C), 1e-12);
        assertEquals("fp32", new KernelWork(1e9, 3e10, 0).bound(C));
        assertEquals(4.0, new KernelWork(1e9, 0, 4e9).floorMillis(C), 1e-12);
        assertEquals("exp", new KernelWork(1e9, 0, 4e9).bound(C));
        assertEquals("none", KernelWork.NONE.bound(C));
    }

    @Test
    void badWorkAndCeilingsAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> new KernelWork(-1, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> new KernelWork(0, Double.NaN, 0));
        assertThrows(IllegalArgumentException.class, () -> new Ceilings(0, 1, 1, "x"));
        assertThrows(IllegalArgumentException.class, () -> new KernelProfile().add("k", -1, KernelWork.NONE));
    }

    @Test
    void launchesAreSummedByNameAndSortedByTime() {
        KernelProfile p = new KernelProfile();
        p.add("scan", 2.0, new KernelWork(0.5e9, 0, 1e9));
        p.add("gemm", 1.0, new KernelWork(0, 1e10, 0));
        p.add("scan", 2.0, new KernelWork(0.5e9, 0, 1e9));
        p.add("fill", 0.5, new KernelWork(1e8, 0, 0));
        List<KernelProfile.Entry> es = p.entries();
        assertEquals(List.of("scan", "gemm", "fill"), es.stream().map(KernelProfile.Entry::kernel).toList());
        KernelProfile.Entry scan = es.get(0);
        assertEquals(2, scan.launches());
        assertEquals(4.0, scan.millis(), 1e-12);
        assertEquals(2e9, scan.work().exps());
        // 2e9 exps need 2 ms at 1 T/s; they took 4 ms
        assertEquals(0.5, scan.roofline(C), 1e-12);
        assertEquals(1.0, es.get(1).roofline(C), 1e-12);
        assertEquals(0.2, es.get(2).roofline(C), 1e-12);
        assertEquals(5.5, p.totalMillis(), 1e-12);
        assertEquals(4, p.launches());
        String line = KernelProfile.line(scan, p.totalMillis(), C);
        assertTrue(line.startsWith("scan") && line.contains("x2") && line.contains("72.7%") && line.contains("roofline  50.0% (exp)"), line);
    }
}
