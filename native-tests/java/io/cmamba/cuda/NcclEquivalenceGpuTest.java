package io.cmamba.cuda;

import io.cmamba.data.Dataset;
import io.cmamba.data.SyntheticDataset;
import io.cmamba.dist.Launcher;
import io.cmamba.dist.NcclCollective;
import io.cmamba.dist.Rendezvous;
import io.cmamba.model.FusionModel;
import io.cmamba.model.ModelConfig;
import io.cmamba.model.Models;
import io.cmamba.tensor.Backend;
import io.cmamba.train.Adam;
import io.cmamba.train.LrSchedule;
import io.cmamba.train.Progress;
import io.cmamba.train.TrainOptions;
import io.cmamba.train.Trainer;
import io.cmamba.testing.ModelWeights;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * NCCL data-parallel training on two GPUs (ranks on two threads of this JVM, one CUDA backend and one
 * communicator each) against one GPU with the same global batch: parameters agree within float32
 * tolerance after a few updates, and both ranks hold the same weights. Skipped with fewer than 2 GPUs.
 * Needs NCCL_NVLS_ENABLE=0 and libnccl.so.2 on LD_LIBRARY_PATH (bench/gpu/visit-ddp.sh sets both).
 */
@Tag("gpu")
class NcclEquivalenceGpuTest {
    @Test
    void twoGpusTrainTheModelOneGpuTrainsWithTheSameGlobalBatch() throws Exception {
        CudaBackend g0 = GpuSupport.gpu();
        Assumptions.assumeTrue(Cuda.deviceCount() >= 2, "needs 2 GPUs, found " + Cuda.deviceCount());
        assertTrue("0".equals(System.getenv("NCCL_NVLS_ENABLE")), "run with NCCL_NVLS_ENABLE=0 (NVLink multicast stays off)");
        Dataset data = SyntheticDataset.create(7, 200, 8, 8);
        ModelConfig c = new ModelConfig(data.train().featureSizes(), data.train().maxLengths(), 16, 32, 2, 16, 0, 4, 2,
                ModelConfig.Mode.SELECTIVE, ModelConfig.Fusion.COUPLED, ModelConfig.Architecture.COUPLED_MAMBA, 4,
                ModelConfig.Norm.LAYER, ModelConfig.Task.REGRESSION, 0, 64);
        // 200 samples, global batch 64: 3 full batches and one of 8 per epoch, 2 epochs
        TrainOptions o = new TrainOptions(2, 64, 2e-3, 5e-4, Adam.Kind.ADAM, LrSchedule.Kind.COSINE, 3, 1.0, 5, 0, "mae", 0.2,
                "builtin", 200, 7, 2, null);
        double[][] single;
        try (FusionModel m = Models.create(c, g0, o.seed()); Trainer t = new Trainer(m, data, o, null, Progress.silent())) {
            t.fit(0);
            single = ModelWeights.of(m);
        }
        int port = Launcher.freePort();
        ExecutorService pool = Executors.newFixedThreadPool(2);
        List<double[][]> ranks = new ArrayList<>();
        try (CudaBackend g1 = new CudaBackend(1)) {
            List<Future<double[][]>> fs = new ArrayList<>();
            for (int r = 0; r < 2; r++) {
                int rank = r;
                Backend be = r == 0 ? g0 : g1;
                fs.add(pool.submit(() -> {
                    try (Rendezvous rv = Rendezvous.join(rank, 2, "127.0.0.1", port, Duration.ofSeconds(120), Duration.ofSeconds(60));
                         NcclCollective nccl = new NcclCollective(rv, (CudaBackend) be);
                         FusionModel m = Models.create(c, be, o.seed() + rank);
                         Trainer t = new Trainer(m, data, o, null, Progress.silent())) {
                        t.distributed(nccl, 64 << 10);
                        assertTrue(t.buckets().buckets() > 1, "several buckets");
                        t.fit(0);
                        return ModelWeights.of(m);
                    }
                }));
            }
            for (Future<double[][]> f : fs) ranks.add(f.get(300, TimeUnit.SECONDS));
        } finally {
            pool.shutdownNow();
        }
        double d0 = ModelWeights.maxDifference(single, ranks.get(0)), d1 = ModelWeights.maxDifference(single, ranks.get(1)),
                between = ModelWeights.maxDifference(ranks.get(0), ranks.get(1));
        System.out.printf("NCCL 2 GPUs vs 1 GPU after 8 updates: max weight difference %.3g (rank 0), %.3g (rank 1); between ranks %.3g%n",
                d0, d1, between);
        assertTrue(d0 <= 1e-4 && d1 <= 1e-4, "weights differ from one GPU by " + d0 + " / " + d1);
        assertTrue(between <= 1e-6, "the ranks' weights differ by " + between);
    }
}
