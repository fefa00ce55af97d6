package io.cmamba.bench;

import io.cmamba.cpu.CpuBackend;
import io.cmamba.files.SafeTensors;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The kernel runner on the CPU: outputs equal the backend's ops; bad input is one line and exit 2. */
class GlobalConvRunnerTest {
    @TempDir
    Path dir;

    static final int M = 2, B = 2, L = 7, D = 3, N = 4;

    private SafeTensors input(Random rnd, boolean withDy) {
        SafeTensors s = new SafeTensors();
        s.put("u", "F32", new int[]{M, B, L, D}, gaussian(rnd, M * B * L * D));
        double[] a = new double[M * D * N];
        for (int i = 0; i < a.length; i++) a[i] = -Math.exp(rnd.nextGaussian());
        s.put("A", "F32", new int[]{M, D, N}, f32(a));
        double[] delta = new double[M * D];
        for (int i = 0; i < delta.length; i++) delta[i] = 0.01 + 0.1 * rnd.nextDouble();
        s.put("delta", "F32", new int[]{M, D}, f32(delta));
        s.put("B", "F32", new int[]{M, N}, gaussian(rnd, M * N));
        s.put("C", "F32", new int[]{M, N}, gaussian(rnd, M * N));
        s.put("Dskip", "F32", new int[]{M, D}, gaussian(rnd, M * D));
        if (withDy) s.put("dy", "F32", new int[]{M, B, L, D}, gaussian(rnd, M * B * L * D));
        return s;
    }

    private static double[] gaussian(Random rnd, int n) {
        double[] v = new double[n];
        for (int i = 0; i < n; i++) v[i] = rnd.nextGaussian();
        return f32(v);
    }

    private static double[] f32(double[] v) {
        for (int i = 0; i < v.length; i++) v[i] = (float) v[i];
        return v;
    }

    private record Run(int code, String out, String err) {
    }

    private static Run run(String... args) {
        ByteArrayOutputStream o = new ByteArrayOutputStream(), e = new ByteArrayOutputStream();
        int code = GlobalConvRunner.run(args, new PrintStream(o, true, StandardCharsets.UTF_8), new PrintStream(e, true, StandardCharsets.UTF_8));
        return new Run(code, o.toString(StandardCharsets.UTF_8), e.toString(StandardCharsets.UTF_8));
    }

    @Test
    void writesTheKernelTheOutputAndEveryGradient() throws IOException {
        Random rnd = new Random(System.nanoTime());
        SafeTensors in = input(rnd, true);
        Path inFile = dir.resolve("in.safetensors"), outFile = dir.resolve("out.safetensors");
        in.write(inFile);
        Run r = run("--in", inFile.toString(), "--out", outFile.toString(), "--backward", "--device", "cpu", "--repeat", "2");
        assertEquals(0, r.code, r.err);
        assertTrue(r.out.contains("median"), r.out);
        SafeTensors out = SafeTensors.read(outFile);

        CpuBackend cpu = new CpuBackend();
        Tensor u = t(cpu, in, "u"), a = t(cpu, in, "A"), delta = t(cpu, in, "delta"), bm = t(cpu, in, "B"), cm = t(cpu, in, "C");
        Tensor dskip = t(cpu, in, "Dskip"), dy = t(cpu, in, "dy");
        Tensor k = cpu.empty(DType.F64, M, M, D, L), y = cpu.empty(DType.F64, M, B, L, D);
        cpu.globalConvKernel(k, a, delta, bm, cm);
        cpu.globalConvForward(y, u, k, dskip);
        Tensor du = cpu.empty(DType.F64, M, B, L, D), dk = cpu.empty(DType.F64, M, M, D, L), dds = cpu.empty(DType.F64, M, D);
        Tensor dA = cpu.empty(DType.F64, M, D, N), dDelta = cpu.empty(DType.F64, M, D), dB = cpu.empty(DType.F64, M, N), dC = cpu.empty(DType.F64, M, N);
        cpu.globalConvBackward(du, dk, dds, dy, u, k, dskip);
        cpu.globalConvKernelBackward(dA, dDelta, dB, dC, dk, a, delta, bm, cm);
        Object[][] expected = {{"K", k}, {"y", y}, {"dK", dk}, {"du", du}, {"dA", dA}, {"ddelta", dDelta}, {"dB", dB}, {"dC", dC}, {"dDskip", dds}};
        for (Object[] e : expected) {
            Tensor x = (Tensor) e[1];
            SafeTensors.Entry got = out.get((String) e[0]);
            assertEquals("F64", got.dtype(), (String) e[0]);
            assertArrayEquals(x.shape().dims(), got.shape(), (String) e[0]);
            assertArrayEquals(x.toDoubles(), got.values(), 0.0, (String) e[0]);
        }
    }

    private static Tensor t(CpuBackend cpu, SafeTensors s, String name) {
        SafeTensors.Entry e = s.get(name);
        return cpu.fromDoubles(DType.F64, e.values(), e.shape());
    }

    private void assertBad(SafeTensors in, String fragment, String... extra) throws IOException {
        Path inFile = dir.resolve("bad.safetensors");
        in.write(inFile);
        String[] args = new String[4 + extra.length];
        args[0] = "--in";
        args[1] = inFile.toString();
        args[2] = "--out";
        args[3] = dir.resolve("o.safetensors").toString();
        System.arraycopy(extra, 0, args, 4, extra.length);
        Run r = run(args);
        assertEquals(2, r.code, r.err);
        assertTrue(r.err.contains(fragment), "'" + r.err + "' does not say '" + fragment + "'");
        assertTrue(r.err.strip().lines().count() <= 2, "more than a line and the usage: " + r.err);
    }

    @Test
    void badInputIsOneLineAndExitTwo() throws IOException {
        Random rnd = new Random(7);
        assertBad(input(rnd, false), "no tensor 'dy'", "--backward");
        SafeTensors s = input(rnd, false);
        s.put("B", "F32", new int[]{M, N + 1}, new double[M * (N + 1)]);
        assertBad(s, "expected B [2, 4], got [2, 5]");
        s = input(rnd, false);
        double[] u = s.get("u").values().clone();
        u[5] = Double.NaN;
        s.put("u", "F32", new int[]{M, B, L, D}, u);
        assertBad(s, "tensor 'u'");
        s = input(rnd, false);
        s.put("delta", "F32", new int[]{M, D}, new double[M * D]);
        assertBad(s, "delta must be positive");
        assertBad(input(rnd, false), "unknown argument '--frobnicate'", "--frobnicate");
        assertBad(input(rnd, false), "--path applies to --device cuda only", "--path", "fft");
        Run r = run("--in", dir.resolve("missing.safetensors").toString(), "--out", dir.resolve("x").toString());
        assertEquals(2, r.code);
        assertTrue(r.err.contains("does not exist"), r.err);
        r = run("--out", dir.resolve("x").toString());
        assertEquals(2, r.code);
        assertTrue(r.err.contains("--in is required"), r.err);
    }
}
