package io.cmamba.train;

import java.io.PrintStream;
import java.util.Locale;
import java.util.function.LongSupplier;

/**
 * Training progress on stderr. On a terminal: one line redrawn in place with '\r' (at most ten times
 * a second); otherwise (a log file, CI): a plain line every {@code plainEverySeconds} and at the end
 * of each epoch, so logs stay readable. Hand-written: the whole need is one formatted line, which a
 * progress-bar library would not make shorter.
 */
public final class Progress {
    private final PrintStream out;
    private final boolean terminal;
    private final double plainEverySeconds;
    private final LongSupplier nanos;
    private int epoch, epochs, total;
    private long epochStart, lastDraw;
    private int lastWidth;
    private boolean drawn;

    public Progress(PrintStream out, boolean terminal, double plainEverySeconds, LongSupplier nanos) {
        this.out = out;
        this.terminal = terminal;
        this.plainEverySeconds = plainEverySeconds;
        this.nanos = nanos;
    }

    /** Progress on System.err; {@code terminal} says whether stderr is one. */
    public static Progress stderr(boolean terminal) {
        return new Progress(System.err, terminal, 10, System::nanoTime);
    }

    /** Prints nothing (library use, tests). */
    public static Progress silent() {
        return new Progress(null, false, 0, System::nanoTime);
    }

    public void startEpoch(int epoch, int epochs, int steps) {
        this.epoch = epoch;
        this.epochs = epochs;
        this.total = steps;
        this.epochStart = nanos.getAsLong();
        this.lastDraw = epochStart;
        this.drawn = false;
    }

    /** After update {@code step} (1-based) of the epoch; loss is the epoch's running mean. */
    public void step(int step, double loss, long samples) {
        if (out == null) return;
        long now = nanos.getAsLong();
        double sinceDraw = (now - lastDraw) * 1e-9;
        boolean due = terminal ? sinceDraw >= 0.1 || step == total : sinceDraw >= plainEverySeconds;
        if (!due) return;
        lastDraw = now;
        String line = line(step, loss, samples, (now - epochStart) * 1e-9);
        if (terminal) {
            int pad = Math.max(0, lastWidth - line.length());
            out.print("\r" + line + " ".repeat(pad));
            lastWidth = line.length();
            drawn = true;
        } else {
            out.println(line);
        }
        out.flush();
    }

    String line(int step, double loss, long samples, double seconds) {
        double rate = seconds > 0 ? samples / seconds : 0;
        double eta = step > 0 ? seconds * (total - step) / step : 0;
        StringBuilder b = new StringBuilder();
        b.append(String.format(Locale.ROOT, "epoch %d/%d ", epoch, epochs));
        if (terminal) b.append(bar(step, total, 20)).append(' ');
        b.append(String.format(Locale.ROOT, "step %d/%d  loss %.4f  %.0f samples/s  ETA %s", step, total, loss, rate, clock(eta)));
        return b.toString();
    }

    static String bar(int step, int total, int width) {
        int filled = total == 0 ? width : (int) ((long) step * width / total);
        return "[" + "#".repeat(filled) + ".".repeat(width - filled) + "]";
    }

    /** m:ss, or h:mm:ss from an hour on. */
    static String clock(double seconds) {
        long s = Math.max(0, Math.round(seconds));
        if (s >= 3600) return String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
        return String.format(Locale.ROOT, "%d:%02d", s / 60, s % 60);
    }

    /** Ends the epoch's line with a summary (the bar is replaced on a terminal). */
    public void endEpoch(String summary) {
        if (out == null) return;
        if (terminal && drawn) {
            int pad = Math.max(0, lastWidth - summary.length());
            out.println("\r" + summary + " ".repeat(pad));
        } else {
            out.println(summary);
        }
        lastWidth = 0;
        drawn = false;
        out.flush();
    }

    /** A line of its own (the current bar, if any, is finished first). */
    public void message(String text) {
        if (out == null) return;
        if (terminal && drawn) {
            out.println();
            drawn = false;
            lastWidth = 0;
        }
        out.println(text);
        out.flush();
    }
}
