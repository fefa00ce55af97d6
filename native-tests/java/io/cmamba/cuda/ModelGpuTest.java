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
        // float32 error of a gradient is bounded by the scale of the terms summed into it, not by its own
        // size: parameters whose gradients are 1e-6 of the largest (dt_proj through delta ~ 1e-3) lose
        // their relative digits to cancellation. Accept ||gpu - cpu|| <= 2e-3 ||cpu|| + 1e-5 max_p ||cpu_p||.
        double scale = 0;
        for (Parameter p : pc) {
            double n2 = 0;
            for (double v : p.grad().toDoubles()) n2 += v * v;
            scale = Math.max(scale, Math.sqrt(n2));
        }
        for (int i = 0; i < pg.size(); i++) {
            String what = c.architecture() + " gradient of " + pg.get(i).name();
            double[] gv = pg.get(i).grad().toDoubles(), cv = pc.get(i).grad().toDoubles();
            double d2 = 0, c2 = 0;
            for (int k = 0; k < cv.length; k++) {
                org.junit.jupiter.api.Assertions.assertFalse(Double.isNaN(gv[k]), what + ": element " + k + " is NaN");
                d2 += (gv[k] - cv[k]) * (gv[k] - cv[k]);
                c2 += cv[k] * cv[k];
            }
            double allowed = 2e-3 * Math.sqrt(c2) + 1e-5 * scale;
            org.junit.jupiter.api.Assertions.assertTrue(Math.sqrt(d2) <= allowed, what + ": difference " + Math.sqrt(d2)
                    + " > " + allowed + " (norm " + Math.sqrt(c2) + ", largest gradient norm " + scale + ")");
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

    /** Inference frees layer by layer on the device: the same output as forward, a lower allocator peak. */
    @Test
    void predictEqualsForwardWithALowerPeak() {
        for (ModelConfig.Architecture arch : ModelConfig.Architecture.values()) {
            ModelConfig c = new ModelConfig(new int[]{24, 12, 8}, new int[]{256, 256, 256}, 256, 64, 2, 16, 0, 4, 3,
                    ModelConfig.Mode.SELECTIVE, ModelConfig.Fusion.COUPLED, arch, 4, ModelConfig.Norm.LAYER,
                    ModelConfig.Task.REGRESSION, 0, 64);
            CudaBackend be = gpu();
            try (FusionModel g = Models.create(c, be, 11)) {
                int nb = 8;
                Tensor[] f = new Tensor[3], l = new Tensor[3];
                for (int m = 0; m < 3; m++) {
                    f[m] = randn(rnd, 1, 0, nb, c.inputLengths()[m], c.featureSizes()[m]).gpu();
                    int[] lens = new int[nb];
                    java.util.Arrays.fill(lens, c.inputLengths()[m]);
                    l[m] = ints(lens, nb).gpu();
                }
                ModelInput in = new ModelInput(f, l);
                be.synchronize();
                // peaks above what is live before each pass (the model, its inputs, and whatever earlier
                // tests on the shared backend still hold), so that the comparison does not depend on them
                long before = be.allocator().stats().inUseBytes();
                be.allocator().resetPeak();
                double[] viaForward;
                try (FusionModel.Forward fw = g.forward(in)) {
                    viaForward = fw.output().toDoubles();
                }
                long forwardPeak = be.allocator().stats().peakInUseBytes() - before;
                before = be.allocator().stats().inUseBytes();
                be.allocator().resetPeak();
                double[] viaPredict;
                try (Tensor p = g.predict(in)) {
                    viaPredict = p.toDoubles();
                }
                long predictPeak = be.allocator().stats().peakInUseBytes() - before;
                // predict forms x, z, dt, B, C and the residual sum by other (equal) products: float32 rounding apart
                double rel = io.cmamba.testing.GradCheck.relativeDifference(viaPredict, viaForward);
                org.junit.jupiter.api.Assertions.assertTrue(rel <= 1e-5, arch + ": predict and forward differ by " + rel);
                org.junit.jupiter.api.Assertions.assertTrue(predictPeak < 0.7 * forwardPeak,
                        arch + ": predict's peak " + predictPeak + " B is not well below forward's " + forwardPeak + " B");
                System.out.println(arch + ": peak in use above the live baseline, forward " + forwardPeak / 1048576.0
                        + " MiB, predict " + predictPeak / 1048576.0 + " MiB");
                for (int m = 0; m < 3; m++) {
                    f[m].close();
                    l[m].close();
                }
            }
        }
    }

    @Test
    void crossAttentionAgreesWithTheCpu() {
        compare(config(ModelConfig.Fusion.COUPLED, ModelConfig.Architecture.CROSS_ATTENTION), AttentionKind.PLAIN);
        compare(config(ModelConfig.Fusion.COUPLED, ModelConfig.Architecture.CROSS_ATTENTION), AttentionKind.FLASH);
    }
}
