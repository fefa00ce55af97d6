package io.cmamba.nn;

import io.cmamba.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * Tensors (and other closeables) a pass allocated: closing frees them in reverse order. A forward
 * keeps its activations in one and frees them when its saved state is closed; a backward frees its
 * temporaries with one in try-with-resources; {@link #release} hands the kept ones over to the caller
 * once nothing can fail any more.
 */
public final class Work implements AutoCloseable {
    private final List<AutoCloseable> owned = new ArrayList<>();

    public Tensor keep(Tensor t) {
        owned.add(t);
        return t;
    }

    public <T extends AutoCloseable> T keep(T t) {
        owned.add(t);
        return t;
    }

    /** Forgets the kept objects without closing them (their ownership has passed on). */
    public void release() {
        owned.clear();
    }

    @Override
    public void close() {
        RuntimeException first = null;
        for (int i = owned.size() - 1; i >= 0; i--) {
            try {
                owned.get(i).close();
            } catch (Exception e) {
                if (first == null) first = new IllegalStateException("freeing activations failed", e);
                else first.addSuppressed(e);
            }
        }
        owned.clear();
        if (first != null) throw first;
    }
}
