package io.cmamba.cuda;

import io.cmamba.model.CrossAttentionModel;
import io.cmamba.model.FusionModel;
import io.cmamba.model.ModelConfig;
import io.cmamba.model.ModelInput;
import io.cmamba.model.Models;
import io.cmamba.nn.Parameter;
import io.cmamba.tensor.AttentionKind;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;

import static io.cmamba.cuda.GpuSupport.*;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** The whole model on the GPU against the same model (same seed, same inputs) on the CPU: output and every gradient. */
@Tag("gpu")
class ModelGpuTest {
    private final Random rnd = new Random(System.nanoTime());

    void compare(ModelConfig c, AttentionKind kind) {
        FusionModel g = Models.create(c, gpu(), 11), h = Models.create(c, CPU, 11, DType.F64);
        if (g instanceof CrossAttentionModel ga) ga.attention(kind);
        if (h instanceof CrossAttentionModel ha) ha.attention(kind);
        int nb = 6, mCount = c.modalities();
        Tensor[] fg = new Tensor[mCount], lg = new Tensor[mCount], fc = new Tensor[mCount], lc = new Tensor[mCount];
        for (int m = 0; m < mCount; m++) {
            Twin f = randn(rnd, 1, 0, nb, c.inputLengths()[m], c.featureSizes()[m]);
            int[] lens = new int[nb];
            for (int b = 0; b < nb; b++) lens[b] = 1 + rnd.nextInt(c.inputLengths()[m]);
            Twin l = ints(lens, nb);
            fg[m] = f.gpu();
            fc[m] = f.cpu();
            lg[m] = l.gpu();
            lc[m] = l.cpu();
        }
        Twin dOut = randn(rnd, 1, 0, nb, c.outputs());
        try (FusionModel.Forward pg = g.forward(new ModelInput(fg, lg)); FusionModel.Forward pc = h.forward(new ModelInput(fc, lc))) {
            assertClose(c.architecture() + " " + c.fusion() + " output", new Twin(pg.output(), pc.output()), 1e-4);
            g.backward(pg, dOut.gpu());
            h.backward(pc, dOut.cpu());
        }
        List<Parameter> pg = g.parameters(), pc = h.parameters();
        assertEquals(pc.size(), pg.size());
        for (int i = 0; i < pg.size(); i++) {
            String what = c.architecture() + " gradient of " + pg.get(i).name();
            double[] ref = pc.get(i).grad().toDoubles();
            double refNorm = 0;
            for (double v : ref) refNorm += v * v;
            if (Math.sqrt(refNorm) < 1e-9) {
                // exactly zero in exact arithmetic (a key bias under softmax): the GPU must give rounding noise only
                double g2 = 0;
                for (double v : pg.get(i).grad().toDoubles()) g2 += v * v;
                org.junit.jupiter.api.Assertions.assertTrue(Math.sqrt(g2) < 1e-4, what + ": expected ~0, got norm " + Math.sqrt(g2));
            } else {
                assertClose(what, new Twin(pg.get(i).grad(), pc.get(i).grad()), 2e-3);
            }
        }
        g.close();
    }

    static ModelConfig config(ModelConfig.Fusion fusion, ModelConfig.Architecture arch) {
        return new ModelConfig(new int[]{24, 12, 8}, new int[]{20, 32, 24}, 16, 32, 2, 16, 0, 4, 2,
                ModelConfig.Mode.SELECTIVE, fusion, arch, 4, ModelConfig.Norm.LAYER, ModelConfig.Task.REGRESSION, 0, 64);
    }

    @Test
    void coupledMambaAgreesWithTheCpu() {
        compare(config(ModelConfig.Fusion.COUPLED, ModelConfig.Architecture.COUPLED_MAMBA), null);
        compare(config(ModelConfig.Fusion.INDEPENDENT, ModelConfig.Architecture.COUPLED_MAMBA), null);
    }

    @Test
    void crossAttentionAgreesWithTheCpu() {
        compare(config(ModelConfig.Fusion.COUPLED, ModelConfig.Architecture.CROSS_ATTENTION), AttentionKind.PLAIN);
        compare(config(ModelConfig.Fusion.COUPLED, ModelConfig.Architecture.CROSS_ATTENTION), AttentionKind.FLASH);
    }
}
