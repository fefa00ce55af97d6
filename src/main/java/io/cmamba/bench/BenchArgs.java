package io.cmamba.bench;

/**
 * Option values of the benchmark and kernel-runner mains in this package (the cmamba command line
 * itself uses picocli): the value after a flag, and a positive count, each refused with a message
 * that names the flag.
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
}
