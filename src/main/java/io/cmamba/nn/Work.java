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

    /**
     * Closes every kept object but those in {@code survivors} (compared by identity), which stay kept:
     * an inference pass drops a layer's saved activations and keeps its outputs.
     */
    public void closeExcept(List<?> survivors) {
        List<AutoCloseable> kept = new ArrayList<>(), drop = new ArrayList<>();
        for (AutoCloseable c : owned) {
            boolean survives = false;
            for (Object s : survivors) survives |= s == c;
            (survives ? kept : drop).add(c);
        }
        owned.clear();
        owned.addAll(drop);
        try {
            close();
        } finally {
            owned.addAll(kept);
        }
    }

    /** Closes the given kept objects now (compared by identity) and forgets them; the others stay kept. */
    public void closeNow(AutoCloseable... items) {
        List<AutoCloseable> drop = new ArrayList<>();
        for (AutoCloseable c : items)
            if (c != null && owned.removeIf(o -> o == c)) drop.add(c);
        RuntimeException first = null;
        for (AutoCloseable c : drop) {
            try {
                c.close();
            } catch (Exception e) {
                if (first == null) first = new IllegalStateException("freeing activations failed", e);
                else first.addSuppressed(e);
            }
        }
        if (first != null) throw first;
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
