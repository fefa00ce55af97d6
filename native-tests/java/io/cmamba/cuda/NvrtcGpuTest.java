package io.cmamba.cuda;

import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static io.cmamba.cuda.GpuTestSupport.gpu;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Run-time compilation: the chosen NVRTC, its error messages, the disk cache, launches and their checks. */
@Tag("gpu")
class NvrtcGpuTest {
    private static final String HEADER = "#pragma once\n__device__ inline float twice(float x) { return 2.f * x; }\n";
    private static final String SOURCE = "#include \"twice.cuh\"\n"
            + "extern \"C\" __global__ void scale2(float* out, const float* in, int n) {\n"
            + "    int i = blockIdx.x * blockDim.x + threadIdx.x;\n"
            + "    if (i < n) out[i] = twice(in[i]);\n"
            + "}\n";

    @Test
    void providerReportsNameAndVersion() {
        NvrtcProvider p = gpu().compiler().nvrtc();
        assertTrue(p.name().equals("jcuda") || p.name().equals("bytedeco"), p.name());
        assertTrue(p.version()[0] >= 12, p.describe());
        assertTrue(p.describe().contains("NVRTC " + p.version()[0] + "."), p.describe());
        System.out.println("nvrtc: " + p.describe() + ", archs " + java.util.Arrays.toString(p.supportedArchs()));
        for (String line : gpu().describeRuntime()) System.out.println(line);
    }

    @Test
    void compileErrorNamesFileAndLine() {
        KernelSource bad = KernelSource.of("kernels/broken.cu",
                "extern \"C\" __global__ void k(float* x) {\n    x[0] = 1.f;\n    undefined_thing(x);\n}\n", Map.of());
        KernelCompiler c = new KernelCompiler(gpu().compiler().nvrtc(), new KernelCache(null), gpu().device().arch());
        KernelCompileException e = assertThrows(KernelCompileException.class, () -> c.cubin(bad));
        assertTrue(e.getMessage().contains("kernels/broken.cu(3)"), e.getMessage());
        assertTrue(e.getMessage().contains("undefined_thing"), e.getMessage());
        assertTrue(e.getMessage().contains(gpu().device().arch()), e.getMessage());
    }

    @Test
    void errorInAHeaderNamesTheHeader() {
        KernelSource bad = KernelSource.of("kernels/uses_header.cu", "#include \"bad.cuh\"\nextern \"C\" __global__ void k() {}\n",
                Map.of("bad.cuh", "#pragma once\n\nint broken = ;\n"));
        KernelCompiler c = new KernelCompiler(gpu().compiler().nvrtc(), new KernelCache(null), gpu().device().arch());
        KernelCompileException e = assertThrows(KernelCompileException.class, () -> c.cubin(bad));
        assertTrue(e.getMessage().contains("bad.cuh(3)"), e.getMessage());
    }

    @Test
    void secondCompileIsACacheHit(@TempDir Path dir) throws Exception {
        KernelSource src = KernelSource.of("kernels/scale2.cu", SOURCE, Map.of("twice.cuh", HEADER));
        KernelCompiler first = new KernelCompiler(gpu().compiler().nvrtc(), new KernelCache(dir), gpu().device().arch());
        byte[] a = first.cubin(src);
        assertEquals(1, first.compiles());
        assertEquals(0, first.cacheHits());
        try (var files = Files.list(dir)) {
            assertEquals(1, files.filter(f -> f.toString().endsWith(".cubin")).count(), "one cache entry, no temp files");
        }
        // a new compiler (a second start) on the same folder compiles nothing
        KernelCompiler second = new KernelCompiler(gpu().compiler().nvrtc(), new KernelCache(dir), gpu().device().arch());
        byte[] b = second.cubin(src);
        assertEquals(0, second.compiles());
        assertEquals(1, second.cacheHits());
        assertArrayEquals(a, b);
        // a changed header is a new key
        second.cubin(KernelSource.of("kernels/scale2.cu", SOURCE, Map.of("twice.cuh", HEADER + "\n// changed\n")));
        assertEquals(1, second.compiles());
    }

    @Test
    void compiledModuleRunsWithHeaders(@TempDir Path dir) {
        CudaBackend g = gpu();
        KernelSource src = KernelSource.of("kernels/scale2.cu", SOURCE, Map.of("twice.cuh", HEADER));
        KernelCompiler c = new KernelCompiler(g.compiler().nvrtc(), new KernelCache(dir), g.device().arch());
        try (CudaModule m = new CudaModule(g.context(), src.fileName(), c.cubin(src));
             Tensor in = g.fromFloats(new float[]{1, 2, 3, 4, 5}, 5);
             Tensor out = g.empty(DType.F32, 5)) {
            g.fill(out, Float.NaN);
            g.launch(m.function("scale2"), Dim3.of(1), Dim3.of(32), 0, out, in, 5);
            assertArrayEquals(new float[]{2, 4, 6, 8, 10}, out.toFloats());
        }
    }

    @Test
    void everyProjectKernelCompiles() {
        for (String f : new String[]{"elementwise.cu", "norm.cu", "conv1d.cu", "pooling.cu", "loss.cu", "optim.cu", "gemm.cu"})
            assertTrue(gpu().module(f).fileName().endsWith(f));
    }

    @Test
    void badLaunchShapeNamesKernelAndShape() {
        CudaFunction f = gpu().kernel("elementwise.cu", "fill_u32");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> gpu().launch(f, Dim3.of(1), Dim3.of(4096), 0, null, 0L, 0));
        assertTrue(e.getMessage().contains("fill_u32") && e.getMessage().contains("block [4096, 1, 1]"), e.getMessage());
        IllegalArgumentException s = assertThrows(IllegalArgumentException.class,
                () -> gpu().launch(f, Dim3.of(1), Dim3.of(32), 1 << 30, null, 0L, 0));
        assertTrue(s.getMessage().contains("shared"), s.getMessage());
        IllegalArgumentException t = assertThrows(IllegalArgumentException.class,
                () -> gpu().launch(f, Dim3.of(1), Dim3.of(32), 0, "not an argument", 0L, 0));
        assertTrue(t.getMessage().contains("argument 0"), t.getMessage());
    }

    @Test
    void missingKernelIsNamed() {
        CudaBackend be = gpu(); // outside the lambdas: without a GPU the test must skip
        CudaException e = assertThrows(CudaException.class, () -> be.kernel("elementwise.cu", "no_such_kernel"));
        assertTrue(e.getMessage().contains("no_such_kernel") && e.getMessage().contains("cuModuleGetFunction"), e.getMessage());
        IllegalArgumentException m = assertThrows(IllegalArgumentException.class, () -> be.module("no_such_file.cu"));
        assertTrue(m.getMessage().contains("kernels/no_such_file.cu"), m.getMessage());
    }

    @Test
    void deviceProperties() {
        CudaDevice d = gpu().device();
        assertTrue(d.smCount() > 0 && d.totalMemory() > 0 && d.major() >= 7, d.describe());
        assertEquals("sm_" + d.major() + d.minor(), d.arch());
        System.out.println("device: " + d.describe() + ", memory clock " + d.memoryClockKHz() + " kHz, bus "
                + d.memoryBusWidth() + " bit, peak " + String.format("%.0f GB/s", d.peakBandwidth() / 1e9));
    }
}
