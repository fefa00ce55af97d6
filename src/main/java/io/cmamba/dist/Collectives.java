package io.cmamba.dist;

import io.cmamba.cuda.CudaBackend;
import io.cmamba.tensor.Backend;

/** The collective transport for a backend: NCCL for the CUDA backend, TCP through rank 0 for the CPU one. */
public final class Collectives {
    private Collectives() {
    }

    public static Collective open(Rendezvous rv, Backend backend) {
        // NcclCollective (and libnccl) is touched only here, on the GPU path
        if (backend instanceof CudaBackend cuda) return new NcclCollective(rv, cuda);
        return new TcpCollective(rv);
    }

    /** One line for the log: which transport, and NCCL's version. */
    public static String describe(Collective c) {
        if (c instanceof NcclCollective) return "NCCL " + NcclCollective.version() + " (NCCL_NVLS_ENABLE="
                + System.getenv().getOrDefault("NCCL_NVLS_ENABLE", "unset") + ")";
        return "TCP through rank 0 (CPU backend)";
    }
}
