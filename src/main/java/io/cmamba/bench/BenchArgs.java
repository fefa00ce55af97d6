package io.cmamba.bench;

/**
 * Option values of the benchmark and kernel-runner mains in this package (the cmamba command line
 * itself uses picocli): the value after a flag, and a positive count, each refused with a message
 * that names the flag; and the mains' common ending, one line on a failure instead of a stack trace.
 */
final class BenchArgs {
    private BenchArgs() {
    }

    /** args[i], the value of {@code flag}; refused when the arguments end first. */
    static String value(String[] args, int i, String flag) {
        if (i >= args.length) throw new IllegalArgumentException(flag + " needs a value");
        return args[i];
    }

    /** args[i] as an integer >= 1. */
    static int positiveInt(String[] args, int i, String flag) {
        String v = value(args, i, flag);
        int n;
        try {
            n = Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(flag + " expects a positive integer, got '" + v + "'");
        }
        if (n < 1) throw new IllegalArgumentException(flag + " expects a positive integer, got " + n);
        return n;
    }

    /** A benchmark's body. */
    @FunctionalInterface
    interface Body {
        void run() throws Exception;
    }

    /**
     * Runs a benchmark main's body. Bad arguments exit with status 2. Any other failure (no GPU or
     * driver, a CUDA error, out of device memory, an unreadable file) exits with status 1. Each prints
     * one line on stderr naming the benchmark, not a stack trace.
     */
    static void runMain(String name, Body body) {
        try {
            body.run();
        } catch (IllegalArgumentException e) {
            System.err.println(name + ": " + e.getMessage());
            System.exit(2);
        } catch (Exception e) {
            System.err.println(name + ": " + (e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName()));
            System.exit(1);
        }
    }
}
