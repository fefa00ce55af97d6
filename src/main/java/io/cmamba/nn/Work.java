package io.cmamba.nn;

import io.cmamba.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Predicate;

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
        closeWhere(c -> survivors.stream().noneMatch(s -> s == c));
    }

    /** Closes the given kept objects now (compared by identity) and forgets them; the others stay kept. */
    public void closeNow(AutoCloseable... items) {
        closeWhere(c -> Arrays.stream(items).anyMatch(i -> i == c));
    }

    /** Closes and forgets the kept objects that {@code drop} selects, the last kept first. */
    private void closeWhere(Predicate<AutoCloseable> drop) {
        List<AutoCloseable> dropped = new ArrayList<>();
        owned.removeIf(c -> drop.test(c) && dropped.add(c));
        closeAll(dropped);
    }

    /** Forgets the kept objects without closing them (their ownership has passed on). */
    public void release() {
        owned.clear();
    }

    @Override
    public void close() {
        List<AutoCloseable> all = new ArrayList<>(owned);
        owned.clear();
        closeAll(all);
    }

    /** Closes every item, the last first; the first failure is thrown with the others suppressed. */
    private static void closeAll(List<AutoCloseable> items) {
        RuntimeException first = null;
        for (int i = items.size() - 1; i >= 0; i--) {
            try {
                items.get(i).close();
            } catch (Exception e) {
                if (first == null) first = new IllegalStateException("freeing activations failed", e);
                else first.addSuppressed(e);
            }
        }
        if (first != null) throw first;
    }
}
