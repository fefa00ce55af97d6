package io.cmamba.cli;

/** Whether stderr is a terminal, which decides how progress is drawn. */
final class Terminal {
    private Terminal() {
    }

    /**
     * Java cannot test stderr itself, so the {@code cmamba} script passes the shell's answer
     * ({@code [ -t 2 ]}) as {@code -Dcmamba.stderr.tty}; without it, a console means a terminal.
     */
    static boolean stderrIsTerminal() {
        String p = System.getProperty("cmamba.stderr.tty");
        if (p != null) return p.equals("1") || p.equalsIgnoreCase("true");
        return System.console() != null;
    }
}
