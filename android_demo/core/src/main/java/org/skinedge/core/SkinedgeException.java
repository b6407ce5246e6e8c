package org.skinedge.core;

/**
 * Base of every error the core raises: each message says what was wrong, with which file or
 * field, and what to do, so the app can show it as it is instead of crashing.
 */
public class SkinedgeException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public SkinedgeException(String message) {
        super(message);
    }

    public SkinedgeException(String message, Throwable cause) {
        super(message, cause);
    }
}
