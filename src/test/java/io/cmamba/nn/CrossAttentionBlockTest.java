package io.cmamba.nn;

import io.cmamba.tensor.AttentionKind;
import io.cmamba.tensor.Tensor;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Supplier;

import static io.cmamba.nn.NnTesting.*;
import static org.junit.jupiter.api.Assertions.*;

/** Runs once the CPU backend's attention exists; skipped (not failed) before. */
class CrossAttentionBlockTest {
    static final int NB = 2, L = 3, LC = 5, D = 4, HEADS = 2;

    @BeforeEach
    void needsAttention() {
        assumeCpuAttention();
    }

    @Test
    void forwardMatchesReferenceBothAttentionKinds() {
        Random rnd = random("CrossAttentionBlockTest.forward");
        for (AttentionKind kind : AttentionKind.values())
            for (boolean rms : new boolean[]{false, true}) {
                List<Parameter> ps = new ArrayList<>();
                CrossAttentionBlock block = new CrossAttentionBlock(init(rnd.nextLong(), ps), "blk", D, HEADS, rms);
                perturb(ps, rnd, 0.3);
                double[] x = gaussian(rnd, NB * L * D), c = gaussian(rnd, NB * LC * D);
                try (CrossAttentionBlock.Forward f = block.forward(f64(x, NB, L, D), f64(c, NB, LC, D), kind)) {
                    double[] ref = NnReference.crossAttentionBlock(values(ps), "blk", x, c, NB, L, LC, D, HEADS);
                    assertClose(f.output().toDoubles(), ref, F64_TOL, kind + (rms ? " RMSNorm" : " LayerNorm"));
                }
            }
    }

    @Test
    void gradientsOfTargetContextAndEveryParameter() {
        Random rnd = random("CrossAttentionBlockTest.gradients");
        for (AttentionKind kind : AttentionKind.values()) {
            List<Parameter> ps = new ArrayList<>();
            CrossAttentionBlock block = new CrossAttentionBlock(init(rnd.nextLong(), ps), "blk", D, HEADS, false);
            perturb(ps, rnd, 0.3);
            Tensor x = f64(gaussian(rnd, NB * L * D), NB, L, D), c = f64(gaussian(rnd, NB * LC * D), NB, LC, D);
            double[] w = gaussian(rnd, NB * L * D);
            poisonGradients(ps);
            double[] dx, dc;
            try (CrossAttentionBlock.Forward f = block.forward(x, c, kind); Tensor dy = f64(w, NB, L, D);
                 CrossAttentionBlock.Gradients g = block.backward(f, dy)) {
                dx = g.dx().toDoubles();
                dc = g.dContext().toDoubles();
            }
            Supplier<Double> loss = () -> {
                try (CrossAttentionBlock.Forward f = block.forward(x, c, kind)) {
                    return weighted(w, f.output());
                }
            };
            assertGradient(x, dx, loss, kind + " dx");
            assertGradient(c, dc, loss, kind + " dcontext");
            assertParameterGradients(ps, loss, kind.toString());
        }
    }

    @Test
    void parameterNames() {
        List<Parameter> ps = new ArrayList<>();
        new CrossAttentionBlock(init(1, ps), "layers.0.mod.1", D, HEADS, true);
        List<String> expected = List.of("norm_q.weight", "norm_kv.weight", "q_proj.weight", "q_proj.bias", "k_proj.weight",
                "k_proj.bias", "v_proj.weight", "v_proj.bias", "o_proj.weight", "o_proj.bias", "norm_ff.weight", "ff1.weight",
                "ff1.bias", "ff2.weight", "ff2.bias");
        assertEquals(expected.stream().map(n -> "layers.0.mod.1." + n).toList(), ps.stream().map(Parameter::name).toList());
        assertArrayEquals(new int[]{4 * D, D}, find(ps, "layers.0.mod.1.ff1.weight").value().shape().dims());
    }

    @Test
    void badShapesAreNamed() {
        CrossAttentionBlock block = new CrossAttentionBlock(init(1, new ArrayList<>()), "blk", D, HEADS, false);
        assertRejected(() -> block.forward(f64(new double[NB * L * D], NB, L, D), f64(new double[NB * LC * 3], NB, LC, 3),
                AttentionKind.FLASH), "context", "[2, Lc, 4]", "[2, 5, 3]");
        assertRejected(() -> new CrossAttentionBlock(init(1, new ArrayList<>()), "blk", 6, 4, false), "6", "heads 4");
    }
}
