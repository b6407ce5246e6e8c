package org.skinedge.core;

/** A model whose input or output does not fit its card, or whose output is not finite. */
public final class ModelException extends SkinedgeException {
    private static final long serialVersionUID = 1L;

    public ModelException(String message) {
        super(message);
    }
}
