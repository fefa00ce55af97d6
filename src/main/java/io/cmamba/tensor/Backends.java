package io.cmamba.tensor;

import java.util.ServiceLoader;

/** Opens a backend by name: "cpu", "cuda", "cuda:1" or "auto" (the GPU when usable, else the CPU). */
public final class Backends {
    private Backends() {
    }

    /** What {@link #open} chose and why, for the "device" line of the CLI. */
    public record Choice(Backend backend, String reason) {
    }

    public static Choice open(String device) {
        String kind = device;
        int index = 0;
        int colon = device.indexOf(':');
        if (colon >= 0) {
            kind = device.substring(0, colon);
            try {
                index = Integer.parseInt(device.substring(colon + 1));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("bad device '" + device + "': expected cpu, cuda, cuda:N or auto");
            }
        }
        switch (kind) {
            case "cpu":
                return new Choice(provider("cpu").open(0), "requested");
            case "cuda": {
                BackendProvider p = provider("cuda");
                String why = p == null ? "the CUDA backend is not on the class path" : p.unavailableReason();
                if (why != null) throw new IllegalStateException("--device cuda: no usable GPU: " + why);
                return new Choice(p.open(index), "requested");
            }
            case "auto": {
                BackendProvider p = provider("cuda");
                String why = p == null ? "the CUDA backend is not on the class path" : p.unavailableReason();
                if (why == null) return new Choice(p.open(index), "a usable GPU was found");
                return new Choice(provider("cpu").open(0), "CPU chosen: " + why);
            }
            default:
                throw new IllegalArgumentException("bad device '" + device + "': expected cpu, cuda, cuda:N or auto");
        }
    }

    static BackendProvider provider(String kind) {
        for (BackendProvider p : ServiceLoader.load(BackendProvider.class))
            if (p.kind().equals(kind)) return p;
        return null;
    }
}
