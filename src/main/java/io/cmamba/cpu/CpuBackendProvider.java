package io.cmamba.cpu;

import io.cmamba.tensor.Backend;
import io.cmamba.tensor.BackendProvider;

/** Registers the CPU backend with {@link io.cmamba.tensor.Backends}; it is always usable. */
public final class CpuBackendProvider implements BackendProvider {
    @Override
    public String kind() {
        return "cpu";
    }

    @Override
    public String unavailableReason() {
        return null;
    }

    @Override
    public Backend open(int index) {
        return new CpuBackend();
    }
}
