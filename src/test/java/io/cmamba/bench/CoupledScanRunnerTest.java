package io.cmamba.bench;

import io.cmamba.cpu.CpuBackend;
import io.cmamba.files.SafeTensors;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Saved;
import io.cmamba.tensor.ScanGrads;
import io.cmamba.tensor.ScanInputs;
import io.cmamba.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** `cmamba kernel coupled-scan` on the CPU: the file round trip equals the backend, bad input exits 2 with one line. */
class CoupledScanRunnerTest {
    @TempDir
    Path dir;

    private static final int M = 2, B = 3, L = 5, D = 3, N = 4;

    private static float[] randn(Random rnd, int n, double mean) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (mean + rnd.nextGaussian());
        return v;
    }

    private SafeTensors inputs(Random rnd) {
        float[] a = new float[M * D * N];
        for (int i = 0; i < a.length; i++) a[i] = (float) -Math.exp(rnd.nextDouble());
        return new SafeTensors()
                .putFloats("u", new int[]{M, B, L, D}, randn(rnd, M * B * L * D, 0))
                .putFloats("delta", new int[]{M, B, L, D}, randn(rnd, M * B * L * D, -1))
                .putFloats("z", new int[]{M, B, L, D}, randn(rnd, M * B * L * D, 0))
                .putFloats("A", new int[]{M, D, N}, a)
                .putFloats("B", new int[]{M, B, L, N}, randn(rnd, M * B * L * N, 0))
                .putFloats("C", new int[]{M, B, L, N}, randn(rnd, M * B * L * N, 0))
                .putFloats("Dskip", new int[]{M, D}, randn(rnd, M * D, 1))
                .putInts("lengths", new int[]{B}, new int[]{L, 2, 0})
                .putFloats("dout", new int[]{M, B, L, D}, randn(rnd, M * B * L * D, 0));
    }

    /** Runs the runner with stderr captured; returns {exit code, stderr}. */
    private static Object[] runCapturing(String... args) {
        PrintStream old = System.err;
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        System.setErr(new PrintStream(err, true));
        try {
            return new Object[]{CoupledScanRunner.run(args), err.toString()};
        } finally {
            System.setErr(old);
        }
    }

    @Test
    void roundTripEqualsTheBackend() throws Exception {
        Random rnd = new Random(System.nanoTime());
        SafeTensors in = inputs(rnd);
        Path fin = dir.resolve("in.safetensors"), fout = dir.resolve("out.safetensors");
        in.write(fin);
        assertEquals(0, CoupledScanRunner.run(new String[]{"--in", fin.toString(), "--out", fout.toString(), "--backward",
                "--device", "cpu", "--repeat", "2"}));
        SafeTensors out = SafeTensors.read(fout);

        CpuBackend cpu = new CpuBackend();
        ScanInputs x = new ScanInputs(t(cpu, in, "u"), t(cpu, in, "delta"), t(cpu, in, "z"), t(cpu, in, "A"), t(cpu, in, "B"),
                t(cpu, in, "C"), t(cpu, in, "Dskip"), cpu.fromInts(in.get("lengths").ints(), B), null);
        Tensor o = cpu.empty(DType.F32, M, B, L, D);
        Saved s = cpu.coupledScanForward(x, o, null);
        ScanGrads g = new ScanGrads(cpu.empty(DType.F32, M, B, L, D), cpu.empty(DType.F32, M, B, L, D), cpu.empty(DType.F32, M, B, L, D),
                cpu.empty(DType.F32, M, D, N), cpu.empty(DType.F32, M, B, L, N), cpu.empty(DType.F32, M, B, L, N),
                cpu.empty(DType.F32, M, D), null);
        cpu.coupledScanBackward(x, s, t(cpu, in, "dout"), null, g);
        assertArrayEquals(o.toFloats(), out.get("out").floats());
        assertArrayEquals(g.du().toFloats(), out.get("du").floats());
        assertArrayEquals(g.dDeltaPre().toFloats(), out.get("ddelta").floats());
        assertArrayEquals(g.dz().toFloats(), out.get("dz").floats());
        assertArrayEquals(g.dA().toFloats(), out.get("dA").floats());
        assertArrayEquals(g.dB().toFloats(), out.get("dB").floats());
        assertArrayEquals(g.dC().toFloats(), out.get("dC").floats());
        assertArrayEquals(g.dDskip().toFloats(), out.get("dDskip").floats());
    }

    private static Tensor t(CpuBackend cpu, SafeTensors f, String name) {
        SafeTensors.Entry e = f.get(name);
        return cpu.fromFloats(e.floats(), e.shape());
    }

    private void assertBad(String fragment, String... args) {
        Object[] r = runCapturing(args);
        assertEquals(2, r[0], "exit code for " + String.join(" ", args));
        String err = ((String) r[1]).strip();
        assertTrue(err.contains(fragment), "stderr '" + err + "' does not name '" + fragment + "'");
        assertEquals(1, err.lines().count(), "one line expected, got: " + err);
    }

    @Test
    void badInputIsOneLineAndExitCode2() throws Exception {
        Random rnd = new Random(3);
        Path out = dir.resolve("o.safetensors");
        assertBad("no such file", "--in", dir.resolve("missing.safetensors").toString(), "--out", out.toString(), "--device", "cpu");
        assertBad("--in and --out are required", "--device", "cpu");
        assertBad("unknown argument", "--in", "a", "--out", "b", "--bogus");
        assertBad("--device must be", "--in", "a", "--out", "b", "--device", "tpu");

        Path corrupt = dir.resolve("corrupt.safetensors");
        Files.write(corrupt, new byte[]{1, 2, 3});
        assertBad("cannot read", "--in", corrupt.toString(), "--out", out.toString(), "--device", "cpu");

        SafeTensors noC = inputs(rnd);
        noC.entries().remove("C");
        Path f1 = dir.resolve("noC.safetensors");
        noC.write(f1);
        assertBad("no tensor 'C'", "--in", f1.toString(), "--out", out.toString(), "--device", "cpu");

        SafeTensors wrong = inputs(rnd);
        wrong.putFloats("z", new int[]{M, B, D, L}, new float[M * B * L * D]);
        Path f2 = dir.resolve("wrong.safetensors");
        wrong.write(f2);
        assertBad("expected z [2, 3, 5, 3], got [2, 3, 3, 5]", "--in", f2.toString(), "--out", out.toString(), "--device", "cpu");

        SafeTensors noDout = inputs(rnd);
        noDout.entries().remove("dout");
        Path f3 = dir.resolve("nodout.safetensors");
        noDout.write(f3);
        assertBad("no tensor 'dout'", "--in", f3.toString(), "--out", out.toString(), "--device", "cpu", "--backward");

        SafeTensors badLen = inputs(rnd);
        badLen.putInts("lengths", new int[]{B}, new int[]{L, L + 1, 0});
        Path f4 = dir.resolve("badlen.safetensors");
        badLen.write(f4);
        assertBad("lengths[1] is 6, outside [0, 5]", "--in", f4.toString(), "--out", out.toString(), "--device", "cpu");
        assertTrue(!Files.exists(out), "no output is written for bad input");
    }
}
