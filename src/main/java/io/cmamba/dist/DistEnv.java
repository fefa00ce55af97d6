package io.cmamba.dist;

import java.time.Duration;
import java.util.Map;

/**
 * Where this process stands in a distributed job, from the usual environment (the one torchrun and
 * PyTorch's DDP use): WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT. Rank 0 listens on
 * MASTER_PORT; every other rank connects to MASTER_ADDR:MASTER_PORT.
 *
 * @param timeout how long the rendezvous and each collective may take before the job is stopped
 *                (CMAMBA_DIST_TIMEOUT seconds; default 300)
 */
public record DistEnv(int rank, int localRank, int worldSize, String masterAddr, int masterPort, Duration timeout) {
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(300);

    public DistEnv {
        if (worldSize < 1) throw new IllegalArgumentException("WORLD_SIZE must be >= 1, got " + worldSize);
        if (rank < 0 || rank >= worldSize)
            throw new IllegalArgumentException("RANK must lie in [0, " + worldSize + "), got " + rank);
        if (localRank < 0) throw new IllegalArgumentException("LOCAL_RANK must be >= 0, got " + localRank);
        if (masterPort < 1 || masterPort > 65535)
            throw new IllegalArgumentException("MASTER_PORT must lie in [1, 65535], got " + masterPort);
        if (masterAddr == null || masterAddr.isBlank()) throw new IllegalArgumentException("MASTER_ADDR is missing");
        if (timeout == null || timeout.isNegative() || timeout.isZero())
            throw new IllegalArgumentException("distributed timeout must be > 0, got " + timeout);
    }

    /** The job this process belongs to, or null when WORLD_SIZE is not set (a single-process run). */
    public static DistEnv fromEnvironment() {
        return from(System.getenv());
    }

    static DistEnv from(Map<String, String> env) {
        String world = env.get("WORLD_SIZE");
        if (world == null || world.isBlank()) return null;
        int w = integer(env, "WORLD_SIZE", null);
        int rank = integer(env, "RANK", null);
        int local = integer(env, "LOCAL_RANK", String.valueOf(rank));
        String addr = env.getOrDefault("MASTER_ADDR", "127.0.0.1");
        int port = integer(env, "MASTER_PORT", null);
        String t = env.get("CMAMBA_DIST_TIMEOUT");
        Duration timeout = DEFAULT_TIMEOUT;
        if (t != null && !t.isBlank()) {
            try {
                timeout = Duration.ofMillis(Math.round(Double.parseDouble(t.trim()) * 1000));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("CMAMBA_DIST_TIMEOUT must be seconds, got '" + t + "'");
            }
        }
        return new DistEnv(rank, local, w, addr, port, timeout);
    }

    private static int integer(Map<String, String> env, String name, String fallback) {
        String v = env.get(name);
        if (v == null || v.isBlank()) v = fallback;
        if (v == null) throw new IllegalArgumentException("WORLD_SIZE is set but " + name + " is not");
        try {
            return Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(name + " must be an integer, got '" + v + "'");
        }
    }

    @Override
    public String toString() {
        return "rank " + rank + " of " + worldSize + " (local " + localRank + ", master " + masterAddr + ":" + masterPort + ")";
    }
}
