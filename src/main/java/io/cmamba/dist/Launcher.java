package io.cmamba.dist;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Starts a job of N worker processes on this host, one per GPU, the way torchrun does: the same
 * java, JVM options and class path, with WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR (127.0.0.1),
 * MASTER_PORT (a free port) and NCCL_NVLS_ENABLE=0 in each worker's environment. Their output comes
 * back line by line prefixed with {@code [rank r]}.
 *
 * <p>When a worker exits with a non-zero code the launcher says which ({@code rank R exited with code
 * C}), stops the others (SIGTERM, then SIGKILL after a grace period) and returns 1; when all exit 0 it
 * returns 0. If the launcher itself is stopped, its workers are stopped with it, and each worker stops
 * by itself if the launcher disappears (CMAMBA_LAUNCHER_PID).
 */
public final class Launcher {
    private Launcher() {
    }

    /** The command that runs {@code mainClass} with {@code args} in a JVM like this one. */
    public static List<String> javaCommand(String mainClass, List<String> args, int rank) {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse(
                java.nio.file.Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            // a debugger or agent bound to a port would clash between the workers
            if (a.startsWith("-agentlib:jdwp") || a.startsWith("-Xrunjdwp") || a.startsWith("-javaagent")) continue;
            cmd.add(a);
        }
        // names the rank in `ps`, so that one worker can be found (and, in tests, killed)
        cmd.add("-Dcmamba.rank=" + rank);
        String cp = System.getenv("CMAMBA_CLASSPATH");
        cmd.add("-cp");
        cmd.add(cp != null && !cp.isBlank() ? cp : System.getProperty("java.class.path"));
        cmd.add(mainClass);
        cmd.addAll(args);
        return cmd;
    }

    /** A TCP port that was free a moment ago (the rendezvous port of a single-host job). */
    public static int freePort() {
        try (ServerSocket s = new ServerSocket(0)) {
            s.setReuseAddress(true);
            return s.getLocalPort();
        } catch (IOException e) {
            throw new DistributedException("no free TCP port for the rendezvous: " + e.getMessage(), e);
        }
    }

    /**
     * Runs {@code n} workers, {@code command.apply(rank)} each, and waits for them.
     *
     * @param extraEnv added to every worker's environment
     * @param grace    how long a worker asked to stop may take before it is killed
     * @return 0 when every worker exited 0, else 1 (after stopping the others)
     */
    public static int run(int n, java.util.function.IntFunction<List<String>> command, Map<String, String> extraEnv,
                          PrintStream out, PrintStream err, Duration grace) {
        int port = freePort();
        Process[] ps = new Process[n];
        List<Thread> pumps = new ArrayList<>();
        LinkedBlockingQueue<Integer> exits = new LinkedBlockingQueue<>();
        Thread hook = new Thread(() -> stopAll(ps, grace), "cmamba-launcher-stop");
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            for (int r = 0; r < n; r++) {
                ProcessBuilder pb = new ProcessBuilder(command.apply(r));
                Map<String, String> env = pb.environment();
                env.putAll(extraEnv);
                env.put("WORLD_SIZE", String.valueOf(n));
                env.put("RANK", String.valueOf(r));
                env.put("LOCAL_RANK", String.valueOf(r));
                env.put("MASTER_ADDR", "127.0.0.1");
                env.put("MASTER_PORT", String.valueOf(port));
                // NVLink multicast (NVLS) stays off: it needs fabric resources the driver may not grant
                env.put("NCCL_NVLS_ENABLE", "0");
                env.put("CMAMBA_LAUNCHER_PID", String.valueOf(ProcessHandle.current().pid()));
                try {
                    ps[r] = pb.start();
                } catch (IOException e) {
                    stopAll(ps, grace);
                    err.println("cmamba train: could not start rank " + r + ": " + e.getMessage());
                    return 1;
                }
                int rank = r;
                ps[r].onExit().thenRun(() -> exits.add(rank));
                pumps.add(pump(ps[r].getInputStream(), out, "[rank " + r + "] "));
                pumps.add(pump(ps[r].getErrorStream(), err, "[rank " + r + "] "));
            }
            int done = 0;
            while (done < n) {
                Integer r;
                try {
                    r = exits.poll(1, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    stopAll(ps, grace);
                    return 1;
                }
                if (r == null) continue;
                int code = ps[r].exitValue();
                if (code != 0) {
                    joinPumps(pumps, 200);
                    synchronized (err) {
                        err.println("cmamba train: rank " + r + " exited with code " + code + signal(code)
                                + "; stopping the other " + (n - 1 == 1 ? "rank" : (n - 1) + " ranks"));
                    }
                    // the others normally hear of it through the rendezvous and stop by themselves, saying so
                    waitAll(ps, SETTLE);
                    stopAll(ps, grace);
                    joinPumps(pumps, 2000);
                    return 1;
                }
                done++;
            }
            joinPumps(pumps, 2000);
            return 0;
        } finally {
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException ignored) {
                // already shutting down: the hook runs
            }
        }
    }

    private static String signal(int code) {
        if (code <= 128 || code > 128 + 64) return "";
        int s = code - 128;
        String name = switch (s) {
            case 9 -> "SIGKILL";
            case 15 -> "SIGTERM";
            case 6 -> "SIGABRT";
            case 11 -> "SIGSEGV";
            case 2 -> "SIGINT";
            default -> "signal " + s;
        };
        return " (killed by " + name + ")";
    }

    /** How long the other workers get to stop by themselves after one failed. */
    static final Duration SETTLE = Duration.ofSeconds(3);

    private static void waitAll(Process[] ps, Duration d) {
        long deadline = System.nanoTime() + d.toNanos();
        for (Process p : ps) {
            if (p == null) continue;
            try {
                long left = deadline - System.nanoTime();
                if (left > 0) p.waitFor(left, TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    /** SIGTERM to every live worker, then SIGKILL to those still alive after {@code grace}. */
    static void stopAll(Process[] ps, Duration grace) {
        for (Process p : ps) if (p != null && p.isAlive()) p.destroy();
        long deadline = System.nanoTime() + grace.toNanos();
        for (Process p : ps) {
            if (p == null) continue;
            try {
                long left = deadline - System.nanoTime();
                if (left <= 0 || !p.waitFor(left, TimeUnit.NANOSECONDS)) p.destroyForcibly();
            } catch (InterruptedException e) {
                p.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
    }

    private static Thread pump(InputStream in, PrintStream to, String prefix) {
        Thread t = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                    // a progress bar redrawn with \r shows as its last state
                    int cr = line.lastIndexOf('\r');
                    if (cr >= 0) line = line.substring(cr + 1);
                    synchronized (to) {
                        to.println(prefix + line);
                        to.flush();
                    }
                }
            } catch (IOException ignored) {
                // the worker is gone
            }
        }, "cmamba-launcher-pump");
        t.setDaemon(true);
        t.start();
        return t;
    }

    private static void joinPumps(List<Thread> pumps, long millis) {
        long deadline = System.currentTimeMillis() + millis;
        for (Thread t : pumps) {
            try {
                t.join(Math.max(1, deadline - System.currentTimeMillis()));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }
}
