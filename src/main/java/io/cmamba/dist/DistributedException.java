package io.cmamba.dist;

/**
 * Distributed training cannot go on: a rank did not join, died, stopped answering, or a collective did
 * not finish in time. The message names the rank where it is known.
 */
public class DistributedException extends IllegalStateException {
    public DistributedException(String message) {
        super(message);
    }

    public DistributedException(String message, Throwable cause) {
        super(message, cause);
    }
}
