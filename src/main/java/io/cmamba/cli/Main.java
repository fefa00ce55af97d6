package io.cmamba.cli;

import io.cmamba.tensor.Backends;
import io.cmamba.train.Trainer;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;

import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.util.concurrent.Callable;

/**
 * The {@code cmamba} command. Exit codes: 0 done, 1 the work failed (training diverged, a device
 * error), 2 bad arguments or bad input files. Every error is one line on stderr; {@code --verbose}
 * adds the stack trace.
 */
@Command(name = "cmamba", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Coupled Mamba for the JVM: multimodal fusion with coupled state space models.",
        subcommands = {TrainCommand.class, EvalCommand.class, PredictCommand.class, InfoCommand.class, KernelCommand.class,
                BenchCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Callable<Integer> {
    public static final int OK = 0, FAILED = 1, USAGE = 2;

    @Option(names = "--verbose", scope = ScopeType.INHERIT, description = "Stack traces with errors.")
    boolean verbose;

    PrintStream out = System.out, err = System.err;
    /** The whole command line (the launcher of a multi-GPU job hands it to its workers). */
    String[] args = new String[0];

    public static void main(String[] args) {
        int code = run(args, System.out, System.err);
        System.out.flush();
        System.exit(code);
    }

    /** Runs one command line and returns its exit code (tests call this). */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        Main main = new Main();
        main.out = out;
        main.err = err;
        main.args = args.clone();
        CommandLine cl = new CommandLine(main);
        cl.setOut(new PrintWriter(out, true, StandardCharsets.UTF_8));
        cl.setErr(new PrintWriter(err, true, StandardCharsets.UTF_8));
        cl.setCaseInsensitiveEnumValuesAllowed(true);
        // everything after the kernel's name belongs to its runner, options included
        cl.getSubcommands().get("kernel").setStopAtPositional(true);
        cl.setParameterExceptionHandler((ex, a) -> {
            String cmd = ex.getCommandLine().getCommandName();
            err.println(cmd + ": " + oneLine(ex.getMessage()) + " (see " + qualified(ex.getCommandLine()) + " --help)");
            if (main.verbose) ex.printStackTrace(err);
            return USAGE;
        });
        cl.setExecutionExceptionHandler((ex, c, parsed) -> {
            String cmd = qualified(c);
            int code = USAGE;
            String msg;
            if (ex instanceof UsageException || ex instanceof IllegalArgumentException) {
                msg = ex.getMessage();
            } else if (ex instanceof NoSuchFileException) {
                msg = ex.getMessage() + ": no such file";
            } else if (ex instanceof IOException) {
                msg = ex.getMessage();
            } else if (ex instanceof UncheckedIOException u) {
                msg = u.getCause().getMessage();
            } else if (ex instanceof Trainer.TrainingDivergedException || ex instanceof IllegalStateException) {
                msg = ex.getMessage();
                code = FAILED;
            } else {
                msg = "failed: " + ex;
                code = FAILED;
            }
            err.println(cmd + ": " + oneLine(msg));
            if (main.verbose) ex.printStackTrace(err);
            return code;
        });
        return cl.execute(args);
    }

    private static String qualified(CommandLine c) {
        StringBuilder b = new StringBuilder(c.getCommandName());
        for (CommandLine p = c.getParent(); p != null; p = p.getParent()) b.insert(0, p.getCommandName() + " ");
        return b.toString();
    }

    static String oneLine(String s) {
        if (s == null) return "(no message)";
        return s.replace("\r", " ").replace("\n", " ").trim();
    }

    @Override
    public Integer call() {
        err.println("cmamba: a command is needed: train, eval, predict, info, kernel or bench (see cmamba --help)");
        return USAGE;
    }

    /** A mistake in the command line found after parsing (bad combination, value out of range). */
    static final class UsageException extends RuntimeException {
        UsageException(String message) {
            super(message);
        }
    }

    /** The backend a --device names; a device that cannot be opened here is a bad argument (exit 2). */
    static Backends.Choice openBackend(String device) {
        try {
            return Backends.open(device);
        } catch (IllegalArgumentException e) {
            throw e;
        } catch (RuntimeException | LinkageError e) {
            throw new UsageException(e.getMessage() != null ? e.getMessage() : "--device " + device + ": " + e);
        }
    }

    static String version() {
        try (var in = Main.class.getResourceAsStream("/META-INF/maven/io.cmamba/coupled-mamba/pom.properties")) {
            if (in != null) {
                java.util.Properties p = new java.util.Properties();
                p.load(in);
                return p.getProperty("version", "unknown");
            }
        } catch (IOException ignored) {
            // fall through: running from classes, not the jar
        }
        return "development build";
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[]{"cmamba " + version()};
        }
    }
}
