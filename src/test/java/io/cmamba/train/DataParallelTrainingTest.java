package io.cmamba.train;

import io.cmamba.cpu.CpuBackend;
import io.cmamba.data.Dataset;
import io.cmamba.dist.Launcher;
import io.cmamba.dist.Rendezvous;
import io.cmamba.dist.TcpCollective;
import io.cmamba.model.FusionModel;
import io.cmamba.model.ModelConfig;
import io.cmamba.model.Models;
import io.cmamba.testing.ModelWeights;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Data-parallel training on the CPU backend (ranks on threads, each with its own backend and model,
 * gradients over TCP) against one process with the same global batch: the same seed gives the same
 * model within float32 tolerance, and every rank holds the same weights.
 */
class DataParallelTrainingTest {
    final ModelConfig config = TrainTestSupport.config(ModelConfig.Task.REGRESSION);

    /** Weights after training, on one process (world 1) or on each rank of a job. */
    List<double[][]> train(Dataset data, TrainOptions o, int world, long bucketBytes) throws Exception {
        if (world == 1) {
            try (CpuBackend cpu = new CpuBackend(); FusionModel m = Models.create(config, cpu, o.seed());
                 Trainer t = new Trainer(m, data, o, null, Progress.silent())) {
                t.fit(0);
                List<double[][]> one = new ArrayList<>();
                one.add(ModelWeights.of(m));
                return one;
            }
        }
        int port = Launcher.freePort();
        ExecutorService pool = Executors.newFixedThreadPool(world);
        try {
            List<Future<double[][]>> fs = new ArrayList<>();
            for (int r = 0; r < world; r++) {
                int rank = r;
                fs.add(pool.submit(() -> {
                    // every rank a different seed for its own model: the broadcast must make them equal
                    try (CpuBackend cpu = new CpuBackend();
                         Rendezvous rv = Rendezvous.join(rank, world, "127.0.0.1", port, Duration.ofSeconds(30), Duration.ofSeconds(30));
                         TcpCollective c = new TcpCollective(rv);
                         FusionModel m = Models.create(config, cpu, o.seed() + rank);
                         Trainer t = new Trainer(m, data, o, null, Progress.silent())) {
                        t.distributed(c, bucketBytes);
                        assertTrue(t.buckets().buckets() > 1, "several buckets: " + t.buckets().buckets());
                        t.fit(0);
                        return ModelWeights.of(m);
                    }
                }));
            }
            List<double[][]> out = new ArrayList<>();
            for (Future<double[][]> f : fs) out.add(f.get(120, TimeUnit.SECONDS));
            return out;
        } finally {
            pool.shutdownNow();
        }
    }

    void assertSameModel(Dataset data, TrainOptions o, int world) throws Exception {
        double[][] single = train(data, o, 1, 0).get(0);
        List<double[][]> ranks = train(data, o, world, 2048);
        for (int r = 0; r < world; r++) {
            double d = ModelWeights.maxDifference(single, ranks.get(r));
            assertTrue(d <= 2e-5, world + " ranks, rank " + r + ": weights differ from one process by " + d);
            // rank 0 sums in rank order and sends the same bits back, and Adam is deterministic
            assertEquals(0.0, ModelWeights.maxDifference(ranks.get(0), ranks.get(r)), "rank " + r + " holds rank 0's weights");
        }
    }

    @Test
    void twoRanksTrainTheModelOneProcessTrainsWithTheSameGlobalBatch() throws Exception {
        // 40 samples, global batch 8: 5 updates per epoch, 2 epochs, shards of 4
        assertSameModel(TrainTestSupport.dataset(3, 40, 8, 8), TrainTestSupport.options(2, LrSchedule.Kind.COSINE), 2);
    }

    @Test
    void unevenShardsEmptyShardsAndModalityDropoutStayEquivalent() throws Exception {
        // 33 samples, global batch 8 over 3 ranks: shards of 3, 3, 2, and a last batch of 1 (two empty shards);
        // modality dropout is drawn per row of the whole batch
        TrainOptions base = TrainTestSupport.options(1, LrSchedule.Kind.CONSTANT);
        TrainOptions o = new TrainOptions(1, 8, base.lr(), base.weightDecay(), base.optimizer(), base.schedule(), base.warmup(),
                base.clip(), base.seed(), 0, "mae", 0.3, "builtin", 48, 1, 2, null);
        assertSameModel(TrainTestSupport.dataset(5, 33, 8, 8), o, 3);
    }
}
