package io.cmamba.cuda;

import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;

import static io.cmamba.cuda.GpuTestSupport.gpu;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The kernel profiler counts every launch with its work, and the measured ceilings are plausible. */
@Tag("gpu")
class KernelProfilerGpuTest {
    private static Map<String, KernelProfile.Entry> byName(KernelProfile p) {
        return p.entries().stream().collect(Collectors.toMap(KernelProfile.Entry::kernel, Function.identity()));
    }

    @Test
    void everyLaunchIsTimedWithItsWork() {
        CudaBackend g = gpu();
        int n = 1 << 20;
        try (Tensor a = g.empty(DType.F32, n); Tensor b = g.empty(DType.F32, n);
             Tensor x = g.empty(DType.F32, 300, 200); Tensor y = g.empty(DType.F32, 200, 100); Tensor z = g.empty(DType.F32, 300, 100)) {
            g.fill(x, 0.5);
            g.fill(y, 0.25);
            KernelProfile p;
            try (KernelProfiler prof = g.profile()) {
                assertThrows(IllegalStateException.class, g::profile, "a second profiler on the same backend");
                for (int i = 0; i < 3; i++) g.fill(a, i);
                g.copy(b, a);
                g.gemm(false, false, 1.0, x, y, 0.0, z);
                p = prof.finish();
            }
            Map<String, KernelProfile.Entry> es = byName(p);
            KernelProfile.Entry fill = es.get("fill_u32");
            assertEquals(3, fill.launches(), es.keySet().toString());
            assertEquals(3.0 * n * 4, fill.work().bytes());
            KernelProfile.Entry gemm = es.get(g.gemmEngine().path() == CudaGemm.Path.CUBLAS ? "cublasSgemm" : "sgemm_nn");
            assertEquals(1, gemm.launches(), es.keySet().toString());
            assertEquals(300.0 * 100 * 200, gemm.work().fmas());
            for (KernelProfile.Entry e : p.entries()) assertTrue(e.millis() > 0 && e.millis() < 1000, e.toString());
            // finished: launches are no longer timed and a new profile can start
            g.fill(a, 7);
            try (KernelProfiler prof = g.profile()) {
                g.fill(a, 8);
                assertEquals(1, prof.finish().launches());
            }
            assertEquals(8.0, g.toDoubles(a)[n - 1]);
        }
    }

    @Test
    void kernelTimesFitInsideTheRegion() {
        CudaBackend g = gpu();
        // 1 GiB copies (about 0.5 ms each on an H200) keep the GPU busy, so the launch gaps are small
        // beside the kernels (with 64 MiB copies the H200 run gave 0.20 ms of copies in a 0.43 ms region)
        int n = 1 << 28;
        try (Tensor a = g.empty(DType.F32, n); Tensor b = g.empty(DType.F32, n)) {
            Runnable body = () -> {
                for (int i = 0; i < 5; i++) g.copy(b, a);
            };
            body.run();
            g.synchronize();
            KernelProfile p;
            double region;
            try (KernelProfiler prof = g.profile(); CudaEvent start = new CudaEvent(); CudaEvent end = new CudaEvent()) {
                start.record(g.stream());
                body.run();
                end.record(g.stream());
                region = end.millisSince(start);
                p = prof.finish();
            }
            assertEquals(5, p.launches());
            assertTrue(p.totalMillis() <= region * 1.001 + 1e-3, p.totalMillis() + " ms of kernels in a region of " + region + " ms");
            assertTrue(p.totalMillis() > 0.5 * region, p.totalMillis() + " ms of kernels in a region of " + region + " ms");
        }
    }

    @Test
    void measuredCeilingsAreNearTheSpecSheet() {
        CudaBackend g = gpu();
        Ceilings m = Ceilings.measure(g), spec = Ceilings.spec(g.device());
        System.out.println("ceilings: " + m.describe() + (spec != null ? "; " + spec.describe() : ""));
        assertTrue(m.bytesPerSecond() > 1e11, m.describe());
        if (spec == null) return;
        // boost clocks vary with power and temperature; the probes must land near the clock's figure
        assertTrue(m.bytesPerSecond() > 0.4 * spec.bytesPerSecond() && m.bytesPerSecond() < 1.05 * spec.bytesPerSecond(),
                m.describe() + " vs " + spec.describe());
        assertTrue(m.fmasPerSecond() > 0.6 * spec.fmasPerSecond() && m.fmasPerSecond() < 1.1 * spec.fmasPerSecond(),
                m.describe() + " vs " + spec.describe());
        assertTrue(m.expsPerSecond() > 0.4 * spec.expsPerSecond() && m.expsPerSecond() < 1.1 * spec.expsPerSecond(),
                m.describe() + " vs " + spec.describe());
    }

    @Test
    void theScanDeclaresItsWork() {
        CudaBackend g = gpu();
        int m = 2, b = 3, l = 40, d = 24, n = 8;
        try (Tensor u = g.empty(DType.F32, m, b, l, d); Tensor dp = g.empty(DType.F32, m, b, l, d); Tensor z = g.empty(DType.F32, m, b, l, d);
             Tensor aT = g.empty(DType.F32, m, d, n); Tensor bT = g.empty(DType.F32, m, b, l, n); Tensor cT = g.empty(DType.F32, m, b, l, n);
             Tensor ds = g.empty(DType.F32, m, d); Tensor out = g.empty(DType.F32, m, b, l, d)) {
            for (Tensor t : List.of(u, dp, z, bT, cT, ds)) g.fill(t, 0.1);
            g.fill(aT, -1);
            KernelProfile p;
            try (KernelProfiler prof = g.profile()) {
                g.coupledScanForward(new io.cmamba.tensor.ScanInputs(u, dp, z, aT, bT, cT, ds, null, null), out, null).close();
                p = prof.finish();
            }
            KernelProfile.Entry e = byName(p).get("coupled_scan_fwd");
            assertEquals(1, e.launches(), p.entries().toString());
            assertEquals(CudaScan.forwardWork(m, b, l, d, n), e.work());
        }
    }
}
