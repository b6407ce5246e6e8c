package org.skinedge.core;

/** A model card that is missing, of another schema version, malformed, or not this model's. */
public final class CardException extends SkinedgeException {
    private static final long serialVersionUID = 1L;

    public CardException(String message) {
        super(message);
    }

    public CardException(String message, Throwable cause) {
        super(message, cause);
    }
}
