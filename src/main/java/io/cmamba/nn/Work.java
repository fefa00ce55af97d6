package io.cmamba.nn;

import io.cmamba.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/** Tensors a forward pass allocated and must free when its saved state is closed. */
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

    @Override
    public void close() {
        for (int i = owned.size() - 1; i >= 0; i--) {
            try {
                owned.get(i).close();
            } catch (Exception e) {
                throw new IllegalStateException("freeing activations failed", e);
            }
        }
        owned.clear();
    }
}
