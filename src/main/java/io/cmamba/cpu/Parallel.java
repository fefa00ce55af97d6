package io.cmamba.cpu;

import java.util.concurrent.ForkJoinPool;
import java.util.stream.IntStream;

/** The one threading helper of the CPU backend: split [0, n) over the common pool when worth it. */
public final class Parallel {
    /** Below this many scalar operations a loop stays on the calling thread. */
    static final long MIN_WORK = 1L << 15;

    private Parallel() {
    }

    public interface IntBody {
        void run(int i);
    }

    /** Runs body(i) for i in [0, n); in parallel when n > 1 and n * costPerItem is large. */
    public static void forEach(int n, long costPerItem, IntBody body) {
        if (n <= 1 || (long) n * costPerItem < MIN_WORK || threads() < 2) {
            for (int i = 0; i < n; i++) body.run(i);
        } else {
            IntStream.range(0, n).parallel().forEach(body::run);
        }
    }

    /**
     * Threads a parallel loop runs on: the common pool's workers and the calling thread (the pool
     * has one worker fewer than there are processors, so on two cores it has a single worker).
     */
    public static int threads() {
        return Math.min(Runtime.getRuntime().availableProcessors(), ForkJoinPool.getCommonPoolParallelism() + 1);
    }
}
