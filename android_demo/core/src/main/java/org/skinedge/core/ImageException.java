package org.skinedge.core;

/** An image the platform could not decode, or one outside what the preprocessing accepts. */
public final class ImageException extends SkinedgeException {
    private static final long serialVersionUID = 1L;

    public ImageException(String message) {
        super(message);
    }
}
