package io.cmamba.dist;

import io.cmamba.cpu.CpuBackend;
import io.cmamba.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RendezvousTest {
    static final Duration SHORT = Duration.ofMillis(1500), SILENCE = Duration.ofSeconds(20);

    /** Runs {@code world} ranks on threads; each gets its rendezvous. */
    static <T> List<T> ranks(int world, Duration timeout, RankBody<T> body) throws Exception {
        int port = Launcher.freePort();
        ExecutorService pool = Executors.newFixedThreadPool(world);
        try {
            List<Future<T>> fs = new ArrayList<>();
            for (int r = 0; r < world; r++) {
                int rank = r;
                fs.add(pool.submit(() -> {
                    try (Rendezvous rv = Rendezvous.join(rank, world, "127.0.0.1", port, timeout, SILENCE)) {
                        return body.run(rv);
                    }
                }));
            }
            List<T> out = new ArrayList<>();
            for (Future<T> f : fs) out.add(f.get(60, TimeUnit.SECONDS));
            return out;
        } finally {
            pool.shutdownNow();
        }
    }

    interface RankBody<T> {
        T run(Rendezvous rv) throws Exception;
    }

    @Test
    void rankZeroNamesTheRankThatDidNotJoin() throws Exception {
        int port = Launcher.freePort();
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try {
            // rank 1 of 3 joins, rank 2 never does
            Future<Throwable> one = pool.submit(() -> {
                try (Rendezvous rv = Rendezvous.join(1, 3, "127.0.0.1", port, SHORT, SILENCE)) {
                    return null;
                } catch (DistributedException e) {
                    return e;
                }
            });
            long start = System.nanoTime();
            DistributedException e = assertThrows(DistributedException.class,
                    () -> Rendezvous.join(0, 3, "127.0.0.1", port, SHORT, SILENCE));
            assertEquals("rendezvous on port " + port + ": rank 2 of 3 did not join within 1.5 s", e.getMessage());
            assertTrue((System.nanoTime() - start) * 1e-9 < 5, "gives up at the timeout");
            Throwable t = one.get(10, TimeUnit.SECONDS);
            assertTrue(t != null && t.getMessage().contains("rank 2 of 3 did not join"), "rank 1 hears why: " + t);
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aRankThatCannotReachRankZeroSaysSo() {
        int port = Launcher.freePort();
        DistributedException e = assertThrows(DistributedException.class,
                () -> Rendezvous.join(1, 2, "127.0.0.1", port, Duration.ofMillis(600), SILENCE));
        assertTrue(e.getMessage().startsWith("rendezvous: rank 1 could not reach rank 0 at 127.0.0.1:" + port + " within 0.6 s"),
                e.getMessage());
    }

    @Test
    void messagesBroadcastAndBarrier() throws Exception {
        List<byte[]> got = ranks(3, Duration.ofSeconds(20), rv -> {
            byte[] b = rv.broadcast(rv.rank() == 0 ? new byte[]{4, 2} : null);
            rv.barrier();
            return b;
        });
        for (byte[] b : got) assertArrayEquals(new byte[]{4, 2}, b);
    }

    @Test
    void tcpAllReduceSumsInRankOrderAndEveryRankGetsTheSameBits() throws Exception {
        CpuBackend cpu = new CpuBackend();
        List<float[]> got = ranks(3, Duration.ofSeconds(20), rv -> {
            try (TcpCollective c = new TcpCollective(rv);
                 Tensor a = cpu.fromFloats(new float[]{rv.rank(), 1, 0.1f * rv.rank()}, 3);
                 Tensor b = cpu.fromFloats(new float[]{10f * rv.rank()}, 1);
                 Tensor w = cpu.fromFloats(new float[]{rv.rank() == 0 ? 7 : -1}, 1)) {
                Collective.Pending p = c.allReduceSumAsync(List.of(a, b));
                p.await();
                c.broadcast(List.of(w));
                c.barrier();
                float[] out = new float[5];
                System.arraycopy(a.toFloats(), 0, out, 0, 3);
                out[3] = b.toFloats()[0];
                out[4] = w.toFloats()[0];
                return out;
            }
        });
        float expected2 = (0f + 0.1f) + 0.2f;
        for (float[] o : got) assertArrayEquals(new float[]{3, 3, expected2, 30, 7}, o);
    }

    @Test
    void aPeerThatLeavesEndsTheWaitWithItsRank() throws Exception {
        List<String> got = ranks(2, Duration.ofSeconds(20), rv -> {
            if (rv.rank() == 1) return "left";
            DistributedException e = assertThrows(DistributedException.class, () -> rv.receive(1));
            return e.getMessage();
        });
        assertTrue(got.get(0).contains("rank 1"), got.get(0));
    }

    @Test
    void aFailureOnOneRankReachesTheOthers() throws Exception {
        List<String> got = ranks(3, Duration.ofSeconds(20), rv -> {
            if (rv.rank() == 2) rv.fail("all-reduce #7 did not finish within 1 s");
            else {
                long deadline = System.nanoTime() + 10_000_000_000L;
                while (rv.failure() == null && System.nanoTime() < deadline) Thread.sleep(20);
            }
            return rv.failure();
        });
        for (String m : got) assertEquals("rank 2: all-reduce #7 did not finish within 1 s", m);
    }
}
