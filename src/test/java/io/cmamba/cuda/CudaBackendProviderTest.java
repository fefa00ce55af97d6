package io.cmamba.cuda;

import io.cmamba.tensor.Backends;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Whether the CUDA backend is usable, and the one line that says why not, without a GPU. */
class CudaBackendProviderTest {
    /** A machine described by fields. */
    static class FakeProbe implements CudaBackendProvider.Probe {
        String driver, nvrtc;
        int devices = 1, cc = 90;
        int[] archs = {75, 80, 90};

        @Override
        public String driverProblem() {
            return driver;
        }

        @Override
        public int deviceCount() {
            return devices;
        }

        @Override
        public int computeCapability(int device) {
            return cc;
        }

        @Override
        public String deviceName(int device) {
            return "Fake GPU";
        }

        @Override
        public String nvrtcProblem() {
            return nvrtc;
        }

        @Override
        public String nvrtcName() {
            return "fake NVRTC 13.0";
        }

        @Override
        public int[] nvrtcArchs() {
            return archs;
        }
    }

    @Test
    void usableMachine() {
        assertNull(CudaBackendProvider.reason(new FakeProbe(), 0));
    }

    @Test
    void eachMissingPieceIsNamed() {
        FakeProbe p = new FakeProbe();
        p.driver = "no NVIDIA driver: libcuda.so.1\nnot found";
        String r = CudaBackendProvider.reason(p, 0);
        assertTrue(r.startsWith("no NVIDIA driver") && !r.contains("\n"), r);

        p = new FakeProbe();
        p.devices = 0;
        assertTrue(CudaBackendProvider.reason(p, 0).startsWith("no CUDA device"));
        p.devices = 1;
        assertTrue(CudaBackendProvider.reason(p, 2).contains("no CUDA device 2"));

        p = new FakeProbe();
        p.cc = 61;
        r = CudaBackendProvider.reason(p, 0);
        assertTrue(r.contains("unsupported GPU") && r.contains("sm_61"), r);

        p = new FakeProbe();
        p.nvrtc = "no NVRTC: jcuda needs libnvrtc.so.12: ...; bytedeco needs libnvrtc.so.13: ...";
        assertTrue(CudaBackendProvider.reason(p, 0).startsWith("no NVRTC"));

        p = new FakeProbe();
        p.cc = 100;
        r = CudaBackendProvider.reason(p, 0);
        assertTrue(r.contains("unsupported arch") && r.contains("sm_100") && r.contains("fake NVRTC 13.0"), r);
    }

    @Test
    void aFailingProbeIsAReasonNotACrash() {
        FakeProbe p = new FakeProbe() {
            @Override
            public int deviceCount() {
                throw new CudaException("cuDeviceGetCount", 999, "cuDeviceGetCount failed");
            }
        };
        String r = CudaBackendProvider.reason(p, 0);
        assertTrue(r.contains("cuDeviceGetCount"), r);
    }

    @Test
    void autoFallsBackToTheCpuWithTheReason() {
        String why = new CudaBackendProvider().unavailableReason();
        Assumptions.assumeTrue(why != null, "this machine has a usable GPU");
        assertFalse(why.contains("\n"), why);
        Backends.Choice c = Backends.open("auto");
        assertEquals("cpu", c.backend().name());
        assertTrue(c.reason().contains(why), c.reason());
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> Backends.open("cuda"));
        assertTrue(e.getMessage().contains(why), e.getMessage());
        System.out.println("auto chose the CPU: " + c.reason());
    }

    @Test
    void nvrtcSelection() {
        List<String> tried = new ArrayList<>();
        Nvrtc.Candidate old = new Nvrtc.Candidate("jcuda", "libnvrtc.so.12", () -> {
            tried.add("jcuda");
            throw new UnsatisfiedLinkError("libnvrtc.so.12: cannot open shared object file");
        });
        NvrtcProvider fake = new NvrtcProvider() {
            public String name() {
                return "bytedeco";
            }

            public int[] version() {
                return new int[]{13, 0};
            }

            public int[] supportedArchs() {
                return new int[]{90};
            }

            public byte[] compileToCubin(String f, String s, java.util.Map<String, String> h, List<String> o) {
                return new byte[0];
            }
        };
        Nvrtc.Candidate neu = new Nvrtc.Candidate("bytedeco", "libnvrtc.so.13", () -> {
            tried.add("bytedeco");
            return fake;
        });
        // a CUDA 12 driver tries jcuda first, falls back
        Nvrtc.Selection s = Nvrtc.select(null, false, List.of(old, neu));
        assertSame(fake, s.provider());
        assertEquals(List.of("jcuda", "bytedeco"), tried);
        // a CUDA 13 driver tries bytedeco first
        tried.clear();
        assertSame(fake, Nvrtc.select(null, true, List.of(old, neu)).provider());
        assertEquals(List.of("bytedeco"), tried);
        // forced to one that does not load: its reason, and no other is tried
        tried.clear();
        Nvrtc.Selection forced = Nvrtc.select("jcuda", true, List.of(old, neu));
        assertNull(forced.provider());
        assertTrue(forced.unavailableReason().contains("libnvrtc.so.12"), forced.unavailableReason());
        assertEquals(List.of("jcuda"), tried);
        // an unknown name
        Nvrtc.Selection unknown = Nvrtc.select("nvcc", false, List.of(old, neu));
        assertTrue(unknown.unavailableReason().contains("cmamba.nvrtc=nvcc"), unknown.unavailableReason());
        // none loads: both reasons
        Nvrtc.Selection none = Nvrtc.select(null, false, List.of(old));
        assertTrue(none.unavailableReason().startsWith("no NVRTC") && none.unavailableReason().contains("jcuda needs libnvrtc.so.12"),
                none.unavailableReason());
    }

    @Test
    void kernelSourcesFindTheirHeaders() {
        KernelSource s = KernelSource.load("elementwise.cu");
        assertEquals("kernels/elementwise.cu", s.fileName());
        assertTrue(s.headers().containsKey("common.cuh"));
        assertEquals(List.of("a.cuh", "b/c.cuh"), KernelSource.includes("#include \"a.cuh\"\n  #  include \"b/c.cuh\"\n#include <x.h>\n"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> KernelSource.load("missing.cu"));
        assertTrue(e.getMessage().contains("kernels/missing.cu"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> KernelSource.load("../pom.xml"));
    }

    @Test
    void splitKOnlyWhenTilesAreFewAndKIsLong() {
        assertEquals(1, CudaGemm.splitK(1600, 128, 132), "in_proj: 1600 tiles fill the GPU");
        assertEquals(1, CudaGemm.splitK(4, 512, 132), "short K is not split");
        assertEquals(64, CudaGemm.splitK(4, 51200, 132), "dW: 4 tiles, K = 51200");
        assertEquals(2, CudaGemm.splitK(1, 1031, 132));
        assertEquals(17, CudaGemm.splitK(2, 9000, 132));
    }

    @Test
    void columnSumPlans() {
        ColumnSums p = ColumnSums.plan(51200, 512, 132);
        assertEquals(16, p.strips());
        assertTrue(p.chunks() >= 1 && p.chunks() * p.rowsPerChunk() >= 51200 && (p.chunks() - 1) * p.rowsPerChunk() < 51200, p.toString());
        assertEquals(0, ColumnSums.plan(0, 7, 132).chunks());
        ColumnSums one = ColumnSums.plan(1, 1, 132);
        assertEquals(1, one.chunks());
        assertTrue(ColumnSums.plan(10_000_000, 1, 132).chunks() <= ColumnSums.MAX_CHUNKS);
    }

    /** On a machine without the driver (CI), opening the backend names the driver, not the compiler behind it. */
    @Test
    void openingWithoutADriverNamesTheDriver() {
        String why = Cuda.probeDriver();
        Assumptions.assumeTrue(why != null, "this machine has a CUDA driver");
        CudaException e = assertThrows(CudaException.class, () -> new CudaBackend(0));
        assertTrue(e.getMessage().contains("driver"), e.getMessage());
        assertFalse(e.getMessage().contains("NVRTC"), e.getMessage());
    }
}
