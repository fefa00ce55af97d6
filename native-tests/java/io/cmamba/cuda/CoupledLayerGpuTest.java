package io.cmamba.cuda;

import io.cmamba.nn.CoupledMambaLayer;
import io.cmamba.nn.Init;
import io.cmamba.nn.MambaSettings;
import io.cmamba.nn.Parameter;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static io.cmamba.cuda.GpuTestSupport.*;

/**
 * The coupled layer's streamed inference on the GPU (tiles along time, the scan state and the conv's
 * last K - 1 inputs carried over, no chunk states) against the same layer's forward on the CPU in
 * float64, same seed.
 */
@Tag("gpu")
class CoupledLayerGpuTest {
    private static final int M = 3, NB = 3, L = 100, DM = 16;

    @Test
    void streamedInferenceMatchesTheCpuForward() {
        Random rnd = random("CoupledLayerGpuTest.streamedInference");
        for (boolean coupled : new boolean[]{true, false}) {
            MambaSettings s = new MambaSettings(DM, 32, 16, 2, 4, false, coupled, false);
            long seed = rnd.nextLong();
            List<Parameter> gpuParams = new ArrayList<>();
            CoupledMambaLayer g = new CoupledMambaLayer(new Init(gpu(), DType.F32, seed, gpuParams), "layers.0", M, s);
            CoupledMambaLayer c = new CoupledMambaLayer(new Init(CPU, DType.F64, seed, new ArrayList<>()), "layers.0", M, s);
            List<Tensor> inCpu = new ArrayList<>(), inGpu = new ArrayList<>();
            for (int m = 0; m < M; m++) {
                double[] v = gaussian(rnd, NB * L * DM);
                for (int i = 0; i < v.length; i++) v[i] = (float) v[i];
                inCpu.add(CPU.fromDoubles(DType.F64, v, NB, L, DM));
                inGpu.add(gpu().fromDoubles(DType.F32, v, NB, L, DM));
            }
            double[][] ref = new double[M][];
            try (CoupledMambaLayer.Forward f = c.forward(inCpu)) {
                for (int m = 0; m < M; m++) ref[m] = f.outputs().get(m).toDoubles();
            }
            for (int tiles : new int[]{1, 3, 6, 33}) {   // 6: tiles of 16 steps on whole scan chunks and a last of 20
                // poison the allocator's cached blocks of the outputs' size, which infer's outputs then reuse
                for (int m = 0; m < M; m++) {
                    try (Tensor t = gpu().empty(DType.F32, NB, L, DM)) {
                        gpu().fill(t, Double.NaN);
                    }
                }
                List<Tensor> outs = g.infer(inGpu, tiles);
                try {
                    for (int m = 0; m < M; m++)
                        assertMatches(outs.get(m), ref[m], 1e-4, (coupled ? "coupled" : "uncoupled") + ", " + tiles + " tiles, modality " + m);
                } finally {
                    for (Tensor t : outs) t.close();
                }
            }
            for (Tensor t : inGpu) t.close();
            for (Parameter p : gpuParams) {   // the backend outlives the test: free what the layer holds
                p.value().close();
                p.grad().close();
            }
        }
    }
}
