package io.cmamba.cuda;

import java.util.ArrayList;
import java.util.List;

/**
 * Times every kernel a {@link CudaBackend} launches while it is open: two events around each launch
 * (and around each cuBLAS call), read once at {@link #finish}. Opened by {@link CudaBackend#profile};
 * one at a time per backend. The events add a few microseconds between launches, so profile a
 * separate run from the one whose total time is reported.
 */
public final class KernelProfiler implements AutoCloseable {
    private record Launch(String kernel, KernelWork work, CudaEvent start, CudaEvent end) {
    }

    private final CudaBackend backend;
    private final List<Launch> launches = new ArrayList<>();
    private boolean done;

    KernelProfiler(CudaBackend backend) {
        this.backend = backend;
    }

    /** Runs {@code launch} (which issues one kernel on the backend's stream) between two events. */
    void around(String kernel, KernelWork work, Runnable launch) {
        CudaEvent start = new CudaEvent(), end = new CudaEvent();
        launches.add(new Launch(kernel, work, start, end));
        start.record(backend.stream());
        launch.run();
        end.record(backend.stream());
    }

    /** Waits for the profiled work, stops profiling and returns the time and work per kernel. */
    public KernelProfile finish() {
        if (done) throw new IllegalStateException("this profile was already finished");
        KernelProfile p = new KernelProfile();
        try {
            for (Launch l : launches) p.add(l.kernel(), l.end().millisSince(l.start()), l.work());
        } finally {
            close();
        }
        return p;
    }

    /** Stops profiling and frees the events (without reading them when not finished). */
    @Override
    public void close() {
        if (done) return;
        done = true;
        backend.stopProfiling(this);
        for (Launch l : launches) {
            l.start().close();
            l.end().close();
        }
        launches.clear();
    }
}
