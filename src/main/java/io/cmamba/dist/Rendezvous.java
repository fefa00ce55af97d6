package io.cmamba.dist;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * The job's meeting point and its control channel: rank 0 listens on MASTER_PORT, every other rank
 * connects to MASTER_ADDR:MASTER_PORT (a star). The same connections then carry
 * <ul>
 *   <li>small messages in order ({@link #send}, {@link #receive}, {@link #broadcast}, {@link #barrier}):
 *       the NCCL unique id that rank 0 creates, and the CPU transport of {@link TcpCollective};</li>
 *   <li>a heartbeat every second each way, so a rank that stops answering is noticed;</li>
 *   <li>aborts: a rank that fails tells rank 0, which tells everyone, so every rank stops with the same
 *       message naming the rank at fault instead of waiting in a collective that will never finish.</li>
 * </ul>
 * A rank killed outright (kill -9) closes its sockets, which its peer reads as end of stream at once.
 * Every wait has a deadline: joining, receiving, and the silence allowed between heartbeats.
 *
 * <p>Frames: int type, int length, bytes. Types HELLO (rank, world), DATA, HEARTBEAT, ABORT (a UTF-8
 * message), BYE (a clean close, so that the end of stream that follows is not taken for a death).
 */
public final class Rendezvous implements AutoCloseable {
    private static final int HELLO = 1, DATA = 2, HEARTBEAT = 3, ABORT = 4, BYE = 5;
    private static final long HEARTBEAT_MILLIS = 1000;

    private final int rank, world;
    private final Duration timeout, silence;
    private final Peer[] peers;
    private final List<Consumer<String>> listeners = new CopyOnWriteArrayList<>();
    private final Thread heartbeat;
    private volatile String failure;
    private final java.util.concurrent.atomic.AtomicBoolean failing = new java.util.concurrent.atomic.AtomicBoolean();
    private volatile boolean closed;

    /** One connection: to every other rank on rank 0, to rank 0 elsewhere. */
    private static final class Peer {
        final int rank;
        Rendezvous owner;
        final Socket socket;
        final DataInputStream in;
        final DataOutputStream out;
        final LinkedBlockingQueue<byte[]> inbox = new LinkedBlockingQueue<>();
        volatile long lastSeen = System.nanoTime();
        volatile boolean bye;

        Peer(int rank, Socket socket) throws IOException {
            this.rank = rank;
            this.socket = socket;
            socket.setTcpNoDelay(true);
            this.in = new DataInputStream(new BufferedInputStream(socket.getInputStream(), 1 << 16));
            this.out = new DataOutputStream(new BufferedOutputStream(socket.getOutputStream(), 1 << 16));
        }

        void write(int type, byte[] data) throws IOException {
            synchronized (out) {
                out.writeInt(type);
                out.writeInt(data.length);
                out.write(data);
                out.flush();
            }
        }

        /** Reads frames until BYE or the end of the stream; the end without BYE is a death. */
        void readLoop() {
            try {
                while (true) {
                    int type = in.readInt(), length = in.readInt();
                    if (length < 0) throw new IOException("corrupt frame of length " + length);
                    byte[] data = new byte[length];
                    in.readFully(data);
                    lastSeen = System.nanoTime();
                    switch (type) {
                        case DATA -> inbox.add(data);
                        case HEARTBEAT -> { }
                        case ABORT -> owner.abortFrom(this, new String(data, StandardCharsets.UTF_8));
                        case BYE -> {
                            bye = true;
                            return;
                        }
                        default -> throw new IOException("unknown frame type " + type);
                    }
                }
            } catch (IOException e) {
                if (!owner.closed && !bye)
                    owner.fail(owner.rank == 0 ? "rank " + rank + " exited or lost its connection (" + what(e) + ")"
                            : "lost the connection to rank 0 (" + what(e) + "): it exited or its host is unreachable", false);
            }
        }
    }

    private Rendezvous(int rank, int world, Duration timeout, Duration silence, Peer[] peers) {
        this.rank = rank;
        this.world = world;
        this.timeout = timeout;
        this.silence = silence;
        this.peers = peers;
        for (Peer p : peers) {
            if (p == null) continue;
            p.owner = this;
            Thread t = new Thread(p::readLoop, "cmamba-rendezvous-read-" + p.rank);
            t.setDaemon(true);
            t.start();
        }
        heartbeat = new Thread(this::heartbeatLoop, "cmamba-rendezvous-heartbeat");
        heartbeat.setDaemon(true);
        heartbeat.start();
    }

    /** Joins the job the environment describes (see {@link DistEnv}). */
    public static Rendezvous join(DistEnv env) {
        return join(env.rank(), env.worldSize(), env.masterAddr(), env.masterPort(), env.timeout(),
                env.timeout().compareTo(Duration.ofSeconds(60)) < 0 ? env.timeout() : Duration.ofSeconds(60));
    }

    /**
     * Rank 0 waits up to {@code timeout} for all the others to connect; the others retry connecting for
     * as long. {@code silence} is how long a peer may send nothing (not even a heartbeat) before it is
     * declared hung.
     *
     * @throws DistributedException naming the ranks that did not join, or saying rank 0 was not reachable
     */
    public static Rendezvous join(int rank, int world, String masterAddr, int masterPort, Duration timeout, Duration silence) {
        if (world < 1 || rank < 0 || rank >= world)
            throw new IllegalArgumentException("rank " + rank + " outside a world of " + world);
        long deadline = System.nanoTime() + timeout.toNanos();
        Peer[] peers = new Peer[world];
        if (world == 1) return new Rendezvous(rank, world, timeout, silence, peers);
        return rank == 0 ? serve(world, masterPort, timeout, silence, deadline, peers)
                : connect(rank, world, masterAddr, masterPort, timeout, silence, deadline, peers);
    }

    private static Rendezvous serve(int world, int port, Duration timeout, Duration silence, long deadline, Peer[] peers) {
        List<Socket> opened = new ArrayList<>();
        try (ServerSocket server = new ServerSocket()) {
            server.setReuseAddress(true);
            server.bind(new InetSocketAddress(port), world);
            int joined = 0;
            while (joined < world - 1) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    TreeSet<Integer> missing = new TreeSet<>();
                    for (int r = 1; r < world; r++) if (peers[r] == null) missing.add(r);
                    String msg = "rendezvous on port " + port + ": rank" + (missing.size() > 1 ? "s " : " ")
                            + join(missing) + " of " + world + " did not join within " + seconds(timeout);
                    for (Peer p : peers) if (p != null) quietly(() -> p.write(ABORT, msg.getBytes(StandardCharsets.UTF_8)));
                    throw new DistributedException(msg);
                }
                server.setSoTimeout((int) Math.max(1, Math.min(TimeUnit.NANOSECONDS.toMillis(left), 500)));
                Socket s;
                try {
                    s = server.accept();
                } catch (SocketTimeoutException e) {
                    continue;
                }
                opened.add(s);
                s.setSoTimeout((int) Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
                DataInputStream in = new DataInputStream(s.getInputStream());
                int type = in.readInt(), length = in.readInt();
                if (type != HELLO || length != 8) throw new DistributedException("rendezvous on port " + port
                        + ": a connection from " + s.getRemoteSocketAddress() + " did not introduce itself as a rank");
                int r = in.readInt(), w = in.readInt();
                if (w != world) throw new DistributedException("rendezvous: rank " + r + " says WORLD_SIZE " + w
                        + ", rank 0 has " + world);
                if (r <= 0 || r >= world) throw new DistributedException("rendezvous: a peer claims rank " + r
                        + ", outside [1, " + world + ")");
                if (peers[r] != null) throw new DistributedException("rendezvous: rank " + r + " joined twice (two workers with RANK=" + r + ")");
                peers[r] = new Peer(r, s);
                joined++;
            }
            for (Peer p : peers) if (p != null) {
                p.socket.setSoTimeout(0);
                p.write(HELLO, ints(0, world));
            }
        } catch (IOException e) {
            for (Socket s : opened) quietly(s::close);
            throw new DistributedException("rendezvous: rank 0 could not serve on port " + port + ": " + what(e), e);
        } catch (RuntimeException e) {
            for (Socket s : opened) quietly(s::close);
            throw e;
        }
        return new Rendezvous(0, world, timeout, silence, peers);
    }

    private static Rendezvous connect(int rank, int world, String addr, int port, Duration timeout, Duration silence,
                                      long deadline, Peer[] peers) {
        Socket s = null;
        IOException last = null;
        while (s == null) {
            long left = deadline - System.nanoTime();
            if (left <= 0)
                throw new DistributedException("rendezvous: rank " + rank + " could not reach rank 0 at " + addr + ":" + port
                        + " within " + seconds(timeout) + (last == null ? "" : " (" + what(last) + ")"));
            Socket t = new Socket();
            try {
                t.connect(new InetSocketAddress(addr, port), (int) Math.max(1, Math.min(TimeUnit.NANOSECONDS.toMillis(left), 2000)));
                s = t;
            } catch (IOException e) {
                last = e;
                quietly(t::close);
                sleep(Math.min(200, Math.max(1, TimeUnit.NANOSECONDS.toMillis(left))));
            }
        }
        try {
            Peer p = new Peer(0, s);
            p.write(HELLO, ints(rank, world));
            // a little longer than rank 0 waits, so that its word on who is missing arrives first
            s.setSoTimeout((int) Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()) + 5000));
            int type = p.in.readInt(), length = p.in.readInt();
            byte[] data = new byte[length];
            p.in.readFully(data);
            if (type == ABORT) throw new DistributedException(new String(data, StandardCharsets.UTF_8));
            if (type != HELLO) throw new DistributedException("rendezvous: rank 0 answered with frame type " + type);
            s.setSoTimeout(0);
            peers[0] = p;
        } catch (SocketTimeoutException e) {
            quietly(s::close);
            throw new DistributedException("rendezvous: rank " + rank + " reached rank 0 at " + addr + ":" + port
                    + ", but the job did not assemble within " + seconds(timeout) + " (some other rank did not join)", e);
        } catch (IOException e) {
            quietly(s::close);
            throw new DistributedException("rendezvous: rank " + rank + " lost rank 0 at " + addr + ":" + port
                    + " while joining (" + what(e) + ")", e);
        }
        return new Rendezvous(rank, world, timeout, silence, peers);
    }

    public int rank() {
        return rank;
    }

    public int worldSize() {
        return world;
    }

    public Duration timeout() {
        return timeout;
    }

    /** Why the job stopped, or null while it runs. */
    public String failure() {
        return failure;
    }

    /** Called once, on any thread, with the message when the job fails (here or on another rank). */
    public void onFailure(Consumer<String> listener) {
        listeners.add(listener);
        String f = failure;
        if (f != null) listener.accept(f);
    }

    /** Throws the job's failure if there is one. */
    public void check() {
        String f = failure;
        if (f != null) throw new DistributedException(f);
    }

    /**
     * Stops the job because of something that went wrong on this rank: the message goes to every rank
     * (prefixed with this rank) and to the listeners here.
     */
    public void fail(String message) {
        fail("rank " + rank + ": " + message, true);
    }

    private void fail(String message, boolean tell) {
        fail(message, null, tell);
    }

    /**
     * Sends the abort on (to every peer but {@code from} when {@code tell}), and only then publishes the
     * failure: a rank that stops as soon as it sees the failure must not close the connections before the
     * others have heard.
     */
    private void fail(String message, Peer from, boolean tell) {
        if (!failing.compareAndSet(false, true)) return;
        if (tell) {
            byte[] m = message.getBytes(StandardCharsets.UTF_8);
            for (Peer p : peers) if (p != null && p != from && !p.bye) quietly(() -> p.write(ABORT, m));
        }
        failure = message;
        for (Consumer<String> l : listeners) {
            try {
                l.accept(message);
            } catch (RuntimeException ignored) {
                // a listener's trouble must not keep the others from hearing
            }
        }
    }

    /** An abort from a peer: rank 0 passes it on to everybody else. */
    private void abortFrom(Peer from, String message) {
        fail(message, from, rank == 0);
    }

    private void heartbeatLoop() {
        byte[] none = new byte[0];
        while (!closed) {
            long now = System.nanoTime();
            for (Peer p : peers) {
                if (p == null || p.bye) continue;
                quietly(() -> p.write(HEARTBEAT, none));
                if (failure == null && now - p.lastSeen > silence.toNanos())
                    fail("rank " + p.rank + " sent nothing for " + seconds(silence) + " (hung, or its host is unreachable)", true);
            }
            try {
                Thread.sleep(HEARTBEAT_MILLIS);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    // ---------------------------------------------------------------- messages

    /** Sends bytes to a peer (rank 0 to anyone, the others to rank 0). */
    public void send(int to, byte[] data) {
        check();
        Peer p = peer(to);
        try {
            p.write(DATA, data);
        } catch (IOException e) {
            fail(rank == 0 ? "rank " + to + " exited or lost its connection (" + what(e) + ")"
                    : "lost the connection to rank 0 (" + what(e) + ")", false);
            check();
        }
    }

    /**
     * The next message from a peer, waiting at most the timeout; a failure of the job anywhere ends the
     * wait at once with its message.
     */
    public byte[] receive(int from) {
        Peer p = peer(from);
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            check();
            byte[] m;
            try {
                m = p.inbox.poll(100, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new DistributedException("rank " + rank + " was interrupted waiting for rank " + from);
            }
            if (m != null) return m;
            if (p.bye && p.inbox.isEmpty())
                throw new DistributedException("rank " + from + " has left the job while rank " + rank + " still waits for it");
            if (System.nanoTime() > deadline) {
                fail("waited " + seconds(timeout) + " for rank " + from + " (it is late or hung in a collective)");
                check();
            }
        }
    }

    /** Rank 0's bytes on every rank (the argument is ignored elsewhere). */
    public byte[] broadcast(byte[] fromRankZero) {
        if (world == 1) return fromRankZero;
        if (rank == 0) {
            for (int r = 1; r < world; r++) send(r, fromRankZero);
            return fromRankZero;
        }
        return receive(0);
    }

    /** Returns when every rank has called it. */
    public void barrier() {
        if (world == 1) return;
        byte[] none = new byte[0];
        if (rank == 0) {
            for (int r = 1; r < world; r++) receive(r);
            for (int r = 1; r < world; r++) send(r, none);
        } else {
            send(0, none);
            receive(0);
        }
    }

    private Peer peer(int r) {
        if (r == rank || r < 0 || r >= world || peers[r] == null)
            throw new IllegalArgumentException("rank " + rank + " has no connection to rank " + r + " (the rendezvous is a star around rank 0)");
        return peers[r];
    }

    /** Says goodbye (unless the job failed) and closes the connections. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        heartbeat.interrupt();
        for (Peer p : peers) {
            if (p == null) continue;
            if (failure == null) quietly(() -> p.write(BYE, new byte[0]));
            quietly(p.socket::close);
        }
    }

    // ---------------------------------------------------------------- helpers

    private interface IoAction {
        void run() throws IOException;
    }

    private static void quietly(IoAction a) {
        try {
            a.run();
        } catch (IOException ignored) {
            // best effort: the peer may be gone already
        }
    }

    private static byte[] ints(int a, int b) {
        return java.nio.ByteBuffer.allocate(8).putInt(a).putInt(b).array();
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new DistributedException("interrupted during the rendezvous");
        }
    }

    static String seconds(Duration d) {
        double s = d.toMillis() / 1000.0;
        return (s == Math.rint(s) ? String.valueOf((long) s) : String.valueOf(s)) + " s";
    }

    private static String what(IOException e) {
        if (e instanceof EOFException) return "end of stream";
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }

    private static String join(TreeSet<Integer> ranks) {
        StringBuilder b = new StringBuilder();
        for (int r : ranks) b.append(b.length() == 0 ? "" : ", ").append(r);
        return b.toString();
    }
}
