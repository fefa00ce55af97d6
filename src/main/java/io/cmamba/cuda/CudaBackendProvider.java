package io.cmamba.cuda;

import io.cmamba.tensor.Backend;
import io.cmamba.tensor.BackendProvider;

/** Registers the CUDA backend with {@link io.cmamba.tensor.Backends}. */
public final class CudaBackendProvider implements BackendProvider {
    @Override
    public String kind() {
        return "cuda";
    }

    @Override
    public String unavailableReason() {
        String why = Driver.unavailableReason();
        if (why != null) return why;
        try {
            NvrtcProvider.choose();
        } catch (CudaException e) {
            return e.getMessage();
        }
        return null;
    }

    @Override
    public Backend open(int index) {
        return new CudaBackend(index);
    }
}
