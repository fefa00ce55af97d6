package io.cmamba.nn;

import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Supplier;

import static io.cmamba.nn.NnTesting.*;
import static org.junit.jupiter.api.Assertions.*;

class CoupledMambaLayerTest {
    static final int M = 3, NB = 2, L = 6, DM = 4, D = 8, N = 3, R = 2, K = 4;

    static MambaSettings settings(boolean coupled, boolean lti, boolean rms) {
        return new MambaSettings(DM, D, N, R, K, rms, coupled, lti);
    }

    static double[][] randomInputs(Random rnd, int mCount) {
        double[][] r = new double[mCount][];
        for (int m = 0; m < mCount; m++) r[m] = gaussian(rnd, NB * L * DM);
        return r;
    }

    static List<Tensor> tensors(double[][] r) {
        List<Tensor> ts = new ArrayList<>();
        for (double[] x : r) ts.add(f64(x, NB, L, DM));
        return ts;
    }

    /** A layer with randomised parameters, random inputs r [M][NB * len * DM] and the reference's outputs. */
    record Case(CoupledMambaLayer layer, List<Parameter> ps, double[][] r, double[][] ref) {
        static Case random(Random rnd, MambaSettings s, int len) {
            List<Parameter> ps = new ArrayList<>();
            CoupledMambaLayer layer = new CoupledMambaLayer(init(rnd.nextLong(), ps), "layers.0", M, s);
            NnTesting.randomise(ps, rnd);
            double[][] r = new double[M][];
            for (int m = 0; m < M; m++) r[m] = gaussian(rnd, NB * len * DM);
            return new Case(layer, ps, r, NnReference.coupledLayer(values(ps), "layers.0", r, NB, len, s));
        }

        List<Tensor> inputs(int len) {
            List<Tensor> ts = new ArrayList<>();
            for (double[] x : r) ts.add(f64(x, NB, len, DM));
            return ts;
        }
    }

    static String label(MambaSettings s) {
        return (s.lti() ? "time-invariant" : "selective") + (s.coupled() ? " coupled" : " uncoupled") + (s.rms() ? " RMSNorm" : " LayerNorm");
    }

    @Test
    void forwardMatchesPerTimeStepReference() {
        Random rnd = random("CoupledMambaLayerTest.forward");
        MambaSettings[] all = {settings(true, false, false), settings(false, false, false), settings(true, true, false),
                settings(false, true, true), settings(true, false, true)};
        for (MambaSettings s : all) {
            Case k = Case.random(rnd, s, L);
            try (CoupledMambaLayer.Forward f = k.layer().forward(k.inputs(L))) {
                for (int m = 0; m < M; m++) {
                    assertArrayEquals(new int[]{NB, L, DM}, f.outputs().get(m).shape().dims());
                    assertClose(f.outputs().get(m).toDoubles(), k.ref()[m], F64_TOL, label(s) + " modality " + m);
                }
            }
        }
    }

    /** Keeping only the outputs leaves them intact, and a backward of that pass is refused. */
    @Test
    void outputsOnlyPassKeepsOutputsAndRefusesBackward() {
        Random rnd = random("CoupledMambaLayerTest.outputsOnly");
        Case k = Case.random(rnd, settings(true, false, false), L);
        CoupledMambaLayer layer = k.layer();
        try (CoupledMambaLayer.Forward f = layer.forward(k.inputs(L))) {
            f.keepOnlyOutputs();
            for (int m = 0; m < M; m++) assertClose(f.outputs().get(m).toDoubles(), k.ref()[m], F64_TOL, "modality " + m);
            List<Tensor> d = tensors(randomInputs(rnd, M));
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> layer.backward(f, d));
            assertTrue(e.getMessage().contains("kept only its outputs"), e.getMessage());
        }
    }

    /**
     * Streamed inference equals the per-time-step reference for every tile count: the scan state and
     * the conv's last K - 1 inputs carry over from tile to tile (21 steps: 2 tiles of 8 and 13 on whole
     * chunks, 3 to 7 tiles of 3 to 7 steps; more than 7 tiles would be shorter than K - 1 and are
     * capped). The time-invariant layer runs whole.
     */
    @Test
    void streamedInferenceMatchesReferenceForEveryTileCount() {
        Random rnd = random("CoupledMambaLayerTest.infer");
        int len = 21;
        MambaSettings[] all = {settings(true, false, false), settings(false, false, true), settings(true, true, false)};
        for (MambaSettings s : all) {
            Case k = Case.random(rnd, s, len);
            CoupledMambaLayer layer = k.layer();
            double[][] r = k.r(), ref = k.ref();
            for (int tiles : new int[]{1, 2, 3, 4, 5, 7, 100}) {
                List<Tensor> in = k.inputs(len);
                List<Tensor> outs = layer.infer(in, tiles);
                try {
                    for (int m = 0; m < M; m++) {
                        assertArrayEquals(new int[]{NB, len, DM}, outs.get(m).shape().dims());
                        assertClose(outs.get(m).toDoubles(), ref[m], F64_TOL, label(s) + ", " + tiles + " tiles, modality " + m);
                        assertClose(in.get(m).toDoubles(), r[m], 0, "the input is left as it was");
                    }
                } finally {
                    for (Tensor t : outs) t.close();
                }
            }
            assertRejected(() -> layer.infer(tensors(randomInputs(rnd, M)), 0), "tiles must be >= 1");
        }
    }

    /** Tile boundaries: increasing, each tile at least K - 1 steps, on whole scan chunks from 16 steps a tile. */
    @Test
    void tileBoundsCoverTheSequence() {
        assertArrayEquals(new int[]{0, 16, 32, 50}, CoupledMambaLayer.tileBounds(50, 3, 4));
        assertArrayEquals(new int[]{0, 680, 1368, 2048}, CoupledMambaLayer.tileBounds(2048, 3, 4));
        assertArrayEquals(new int[]{0, 3, 6, 10}, CoupledMambaLayer.tileBounds(10, 5, 4));   // capped at L / (K - 1) tiles
        assertArrayEquals(new int[]{0, 7}, CoupledMambaLayer.tileBounds(7, 1, 4));
        assertArrayEquals(new int[]{0, 17, 34}, CoupledMambaLayer.tileBounds(34, 2, 18));  // rounding to 16 would leave 16 < K - 1
        for (int len : new int[]{1, 2, 3, 17, 34, 50, 99, 1000, 16384})
            for (int tiles : new int[]{1, 2, 3, 7, 64, 1000})
                for (int k : new int[]{1, 2, 4, 9, 13, 18, 25}) {
                    int[] at = CoupledMambaLayer.tileBounds(len, tiles, k);
                    String what = "L " + len + ", " + tiles + " tiles, K " + k + ": " + java.util.Arrays.toString(at);
                    assertEquals(0, at[0], what);
                    assertEquals(len, at[at.length - 1], what);
                    assertTrue(at.length - 1 <= tiles, what);
                    for (int i = 0; i + 1 < at.length; i++) {
                        assertTrue(at[i + 1] > at[i], what);
                        if (at.length > 2) assertTrue(at[i + 1] - at[i] >= k - 1, what + ": a tile shorter than K - 1");
                        assertTrue(at[i + 1] - at[i] <= (len + at.length - 2) / (at.length - 1) + 8, what + ": a tile far past its share");
                    }
                }
    }

    /** The tile policy: whole sequences while small; otherwise tiles whose intermediates fit the budget, give or take a chunk. */
    @Test
    void inferenceTilesKeepTheirIntermediatesWithinTheBudget() {
        MambaSettings s = new MambaSettings(128, 256, 64, 8, 4, false, true, false);
        CoupledMambaLayer layer = new CoupledMambaLayer(init(1, new ArrayList<>()), "layers.0", 3, s);
        assertEquals(1, layer.inferenceTiles(8, 64, 4));
        assertEquals(1, layer.inferenceTiles(8, 256, 4));
        long perToken = layer.tileBytesPerToken(4);
        int[][] sizes = {{8, 2048}, {8, 16384}, {1024, 50}, {1, 1 << 20}, {4096, 3}, {3, 777_777}};
        for (int[] bl : sizes) {
            int b = bl[0], l = bl[1];
            int tiles = layer.inferenceTiles(b, l, 4);
            int[] at = CoupledMambaLayer.tileBounds(l, tiles, 4);
            long budget = Math.max(CoupledMambaLayer.TILE_FLOOR_BYTES, CoupledMambaLayer.TILE_FACTOR * 2L * 3 * b * l * 128 * 4);
            String what = "batch " + b + ", L " + l + ": " + tiles + " tiles";
            assertTrue(tiles >= 1 && tiles <= l, what);
            int longest = 0;
            for (int i = 0; i + 1 < at.length; i++) longest = Math.max(longest, at[i + 1] - at[i]);
            // tiles are cut along time only, and never below K - 1 steps
            if (longest > 3) assertTrue((long) (longest - 8) * b * perToken <= budget, what + ": a tile of " + longest + " steps exceeds the budget " + budget);
            if (tiles > 1) assertTrue((long) l * b * perToken > budget, what + ": tiled although the whole sequence fits");
        }
        assertTrue(layer.inferenceTiles(8, 2048, 4) > 1, "L 2048 at batch 8 is streamed");
        assertEquals(3, layer.inferenceTiles(1024, 50, 4), "the paper's setting");
    }

    /** The reference's coupling is not idle: the same parameters give other outputs uncoupled. */
    @Test
    void couplingChangesEveryModalitysOutput() {
        Random rnd = random("CoupledMambaLayerTest.coupling");
        for (boolean lti : new boolean[]{false, true}) {
            List<Parameter> ps = new ArrayList<>();
            CoupledMambaLayer coupled = new CoupledMambaLayer(init(17, ps), "l", M, settings(true, lti, false));
            List<Parameter> qs = new ArrayList<>();
            CoupledMambaLayer uncoupled = new CoupledMambaLayer(init(17, qs), "l", M, settings(false, lti, false));
            assertEquals(ps.stream().map(Parameter::name).toList(), qs.stream().map(Parameter::name).toList());
            double[][] r = randomInputs(rnd, M);
            try (CoupledMambaLayer.Forward a = coupled.forward(tensors(r)); CoupledMambaLayer.Forward b = uncoupled.forward(tensors(r))) {
                for (int m = 0; m < M; m++) {
                    double diff = io.cmamba.testing.GradCheck.relativeDifference(a.outputs().get(m).toDoubles(), b.outputs().get(m).toDoubles());
                    assertTrue(diff > 1e-6, (lti ? "lti" : "selective") + " modality " + m + ": coupled equals uncoupled (" + diff + ")");
                }
            }
        }
    }

    /** With M = 1 the mean of one chain is the chain: the coupled layer is Mamba's, as the uncoupled one. */
    @Test
    void oneModalityCoupledEqualsUncoupled() {
        Random rnd = random("CoupledMambaLayerTest.oneModality");
        for (boolean lti : new boolean[]{false, true}) {
            long seed = rnd.nextLong();
            CoupledMambaLayer a = new CoupledMambaLayer(init(seed, new ArrayList<>()), "l", 1, settings(true, lti, false));
            CoupledMambaLayer b = new CoupledMambaLayer(init(seed, new ArrayList<>()), "l", 1, settings(false, lti, false));
            double[][] r = randomInputs(rnd, 1);
            try (CoupledMambaLayer.Forward fa = a.forward(tensors(r)); CoupledMambaLayer.Forward fb = b.forward(tensors(r))) {
                assertClose(fa.outputs().get(0).toDoubles(), fb.outputs().get(0).toDoubles(), 1e-14, "M = 1");
            }
        }
    }

    @Test
    void gradientsOfInputsAndEveryParameter() {
        Random rnd = random("CoupledMambaLayerTest.gradients");
        MambaSettings[] all = {settings(true, false, false), settings(false, false, true), settings(true, true, true),
                settings(false, true, false), settings(true, false, false), settings(false, false, true)};
        for (int i = 0; i < all.length; i++) {
            MambaSettings s = all[i];
            List<Parameter> ps = new ArrayList<>();
            CoupledMambaLayer layer = new CoupledMambaLayer(init(rnd.nextLong(), ps), "layers.1", M, s);
            NnTesting.randomise(ps, rnd);
            // the backward uses what the forward kept (the CPU's default), or recomputes what it freed (as on a
            // GPU): the selective settings run both ways
            boolean recompute = i >= 4;
            layer.recompute(recompute);
            List<Tensor> in = tensors(randomInputs(rnd, M));
            double[][] w = new double[M][];
            for (int m = 0; m < M; m++) w[m] = gaussian(rnd, NB * L * DM);
            Supplier<Double> loss = () -> {
                try (CoupledMambaLayer.Forward f = layer.forward(in)) {
                    double sum = 0;
                    for (int m = 0; m < M; m++) sum += weighted(w[m], f.outputs().get(m));
                    return sum;
                }
            };
            poisonGradients(ps);
            double[][] dIn = new double[M][];
            double[][] before = new double[M][];
            for (int m = 0; m < M; m++) before[m] = in.get(m).toDoubles();
            try (CoupledMambaLayer.Forward f = layer.forward(in)) {
                List<Tensor> dOut = new ArrayList<>();
                for (int m = 0; m < M; m++) dOut.add(f64(w[m], NB, L, DM));
                List<Tensor> d = layer.backward(f, dOut);
                for (int m = 0; m < M; m++) {
                    dIn[m] = d.get(m).toDoubles();
                    d.get(m).close();
                    dOut.get(m).close();
                }
            }
            for (int m = 0; m < M; m++) assertArrayEquals(before[m], in.get(m).toDoubles(), 0, "the layer changed its input " + m);
            String what = label(s) + (recompute ? ", recomputing" : ", keeping");
            for (int m = 0; m < M; m++) assertGradient(in.get(m), dIn[m], loss, what + " d input " + m);
            assertParameterGradients(ps, loss, what);
        }
    }

    /** Recomputing in the backward or keeping from the forward: the same gradients, every parameter and input. */
    @Test
    void recomputingGivesTheSameGradientsAsKeeping() {
        Random rnd = random("CoupledMambaLayerTest.recompute");
        for (MambaSettings s : new MambaSettings[]{settings(true, false, false), settings(false, false, true), settings(true, true, false)}) {
            List<Parameter> ps = new ArrayList<>();
            CoupledMambaLayer layer = new CoupledMambaLayer(init(rnd.nextLong(), ps), "layers.0", M, s);
            NnTesting.randomise(ps, rnd);
            List<Tensor> in = tensors(randomInputs(rnd, M));
            double[][] w = randomInputs(rnd, M);
            List<double[]> grads = new ArrayList<>();
            for (boolean recompute : new boolean[]{false, true}) {
                layer.recompute(recompute);
                try (CoupledMambaLayer.Forward f = layer.forward(in)) {
                    List<Tensor> d = layer.backward(f, tensors(w));
                    for (Tensor t : d) {
                        grads.add(t.toDoubles());
                        t.close();
                    }
                }
                for (Parameter p : ps) grads.add(p.grad().toDoubles());
            }
            int half = grads.size() / 2;
            for (int i = 0; i < half; i++)
                assertClose(grads.get(half + i), grads.get(i), F64_TOL, label(s) + ": gradient " + i + " recomputed vs kept");
        }
    }

    /**
     * MODEL.md, "Stability": with the paper's initialisation Abar is close to 1 and a summed state would
     * grow like M^t; the mean keeps a float32 layer finite and of the input's order over L = 4096.
     */
    @Test
    void longSequenceStaysFiniteInFloat32() {
        Random rnd = random("CoupledMambaLayerTest.long");
        int len = 4096;
        CoupledMambaLayer layer = new CoupledMambaLayer(new Init(CPU, DType.F32, rnd.nextLong(), new ArrayList<>()), "l", M,
                new MambaSettings(DM, D, N, R, K, false, true, false));
        List<Tensor> in = new ArrayList<>();
        for (int m = 0; m < M; m++) in.add(CPU.fromDoubles(DType.F32, gaussian(rnd, len * DM), 1, len, DM));
        try (CoupledMambaLayer.Forward f = layer.forward(in)) {
            for (int m = 0; m < M; m++) {
                double max = 0;
                for (double v : f.outputs().get(m).toDoubles()) {
                    assertTrue(Double.isFinite(v), "modality " + m + ": non-finite output");
                    max = Math.max(max, Math.abs(v));
                }
                assertTrue(max < 100, "modality " + m + ": output grew to " + max);
            }
        }
    }

    @Test
    void initialisationFollowsModelMd() {
        for (boolean lti : new boolean[]{false, true}) {
            List<Parameter> ps = new ArrayList<>();
            int d = 400;
            new CoupledMambaLayer(init(5, ps), "l", 1, new MambaSettings(DM, d, N, R, K, false, true, lti));
            double[] aLog = find(ps, "l.mod.0.A_log").value().toDoubles();
            for (int c = 0; c < d; c++)
                for (int n = 0; n < N; n++) assertEquals(Math.log(n + 1), aLog[c * N + n], 1e-15, "A_log[" + c + ", " + n + "]");
            for (double v : find(ps, "l.mod.0.Dskip").value().toDoubles()) assertEquals(1, v);
            double[] raw = find(ps, lti ? "l.mod.0.dt_raw" : "l.mod.0.dt_proj.bias").value().toDoubles();
            double lo = Double.MAX_VALUE, hi = 0, meanLog = 0;
            for (double v : raw) {
                double step = NnReference.softplus(v);
                assertTrue(step >= 1e-2 * (1 - 1e-12) && step <= 1 * (1 + 1e-12), "softplus(step parameter) = " + step);
                lo = Math.min(lo, step);
                hi = Math.max(hi, step);
                meanLog += Math.log(step) / raw.length;
            }
            // log-uniform on [log 1e-2, log 1] (MODEL.md step 5 with the project's change): spread over the
            // range, mean log near log 1e-1
            assertTrue(lo < 1.2e-2 && hi > 0.8, "steps span [" + lo + ", " + hi + "]");
            assertEquals(Math.log(1e-1), meanLog, 0.25, "mean log step");
            double bound = 1 / Math.sqrt(DM);
            for (double v : find(ps, "l.mod.0.in_proj.weight").value().toDoubles()) assertTrue(Math.abs(v) <= bound);
        }
    }

    @Test
    void parameterNamesShapesAndDecayAreStable() {
        List<Parameter> ps = new ArrayList<>();
        new CoupledMambaLayer(init(1, ps), "layers.2", 2, settings(true, false, false));
        List<String> branch = List.of("norm.weight", "norm.bias", "in_proj.weight", "conv1d.weight", "conv1d.bias",
                "x_proj.weight", "dt_proj.weight", "dt_proj.bias", "A_log", "Dskip", "out_proj.weight");
        List<String> expected = new ArrayList<>();
        for (int m = 0; m < 2; m++) for (String b : branch) expected.add("layers.2.mod." + m + "." + b);
        assertEquals(expected, ps.stream().map(Parameter::name).toList());
        Map<String, int[]> shapes = Map.of("norm.weight", new int[]{DM}, "in_proj.weight", new int[]{2 * D, DM},
                "conv1d.weight", new int[]{D, K}, "x_proj.weight", new int[]{R + 2 * N, D}, "dt_proj.weight", new int[]{D, R},
                "dt_proj.bias", new int[]{D}, "A_log", new int[]{D, N}, "Dskip", new int[]{D}, "out_proj.weight", new int[]{DM, D});
        for (var e : shapes.entrySet())
            assertArrayEquals(e.getValue(), find(ps, "layers.2.mod.1." + e.getKey()).value().shape().dims(), e.getKey());
        for (Parameter p : ps) {
            boolean weight = p.name().endsWith("proj.weight") || p.name().endsWith("conv1d.weight");
            assertEquals(weight, p.decay(), p.name() + " decay");
        }
    }

    /** Switching the mode swaps x_proj/dt_proj for the time-invariant dt_raw, B, C; all else is kept. */
    @Test
    void timeInvariantModeHasItsOwnParameters() {
        List<Parameter> ps = new ArrayList<>();
        new CoupledMambaLayer(init(1, ps), "l", 1, settings(true, true, false));
        assertEquals(List.of("l.mod.0.norm.weight", "l.mod.0.norm.bias", "l.mod.0.in_proj.weight", "l.mod.0.conv1d.weight",
                "l.mod.0.conv1d.bias", "l.mod.0.dt_raw", "l.mod.0.B", "l.mod.0.C", "l.mod.0.A_log", "l.mod.0.Dskip",
                "l.mod.0.out_proj.weight"), ps.stream().map(Parameter::name).toList());
        assertArrayEquals(new int[]{D}, find(ps, "l.mod.0.dt_raw").value().shape().dims());
        assertArrayEquals(new int[]{N}, find(ps, "l.mod.0.B").value().shape().dims());
        assertArrayEquals(new int[]{N}, find(ps, "l.mod.0.C").value().shape().dims());
        assertFalse(find(ps, "l.mod.0.dt_raw").decay());
    }

    @Test
    void closingTheForwardFreesItsTensors() {
        CoupledMambaLayer layer = new CoupledMambaLayer(init(3, new ArrayList<>()), "l", M, settings(true, false, false));
        List<Tensor> in = tensors(new double[M][NB * L * DM]);
        CoupledMambaLayer.Forward f = layer.forward(in);
        Tensor out = f.outputs().get(1);
        f.close();
        assertThrows(IllegalStateException.class, out::toDoubles);
        assertDoesNotThrow(() -> in.get(1).toDoubles(), "the inputs stay the caller's");
    }

    @Test
    void badInputsAreNamed() {
        CoupledMambaLayer layer = new CoupledMambaLayer(init(3, new ArrayList<>()), "layers.0", M, settings(true, false, false));
        assertRejected(() -> layer.forward(tensors(new double[2][NB * L * DM])), "layers.0", "expected 3 modalities, got 2");
        List<Tensor> wrongWidth = tensors(new double[M][NB * L * DM]);
        wrongWidth.set(2, f64(new double[NB * L * 5], NB, L, 5));
        assertRejected(() -> layer.forward(wrongWidth), "input 2", "[2, 6, 4]", "[2, 6, 5]");
        List<Tensor> wrongType = tensors(new double[M][NB * L * DM]);
        wrongType.set(0, CPU.zeros(DType.F32, NB, L, DM));
        assertRejected(() -> layer.forward(wrongType), "input 0 is F32", "F64");
    }
}
