package org.skinedge.core;

import java.util.Iterator;
import org.json.JSONObject;

/**
 * The card's {@code image_limits} (skinedge/preprocess.py ImageLimits): bounds on the work per
 * image, checked from the file's header before it is decoded. A card may tighten them, never
 * loosen them past the SDK's defaults, so a hostile card cannot make the app decode a bomb; a
 * card without the field (older exports) gets the defaults.
 */
public final class ImageLimits {
    public static final ImageLimits DEFAULTS = new ImageLimits(ModelImage.MAX_PIXELS,
            ModelImage.MIN_SIDE, ModelImage.MAX_ASPECT_RATIO, ModelImage.MAX_RESIZED_PIXELS);

    public final long maxPixels;
    public final int minSide;
    public final int maxAspectRatio;
    public final long maxResizedPixels;
    /** preprocess.MAX_MIN_SIDE: how far a card may raise min_side. */
    static final int MAX_MIN_SIDE = 65536;

    private ImageLimits(long maxPixels, int minSide, int maxAspectRatio, long maxResizedPixels) {
        this.maxPixels = maxPixels;
        this.minSide = minSide;
        this.maxAspectRatio = maxAspectRatio;
        this.maxResizedPixels = maxResizedPixels;
    }

    /** preprocess.check_image_limits: known keys, integers from 1 to the default (min_side:
     * to MAX_MIN_SIDE); null {@code v} (no field) gives the defaults. */
    static ImageLimits parse(JSONObject v, ModelCard.FieldError err) {
        if (v == null) {
            return DEFAULTS;
        }
        long[] value = {DEFAULTS.maxPixels, DEFAULTS.minSide, DEFAULTS.maxAspectRatio,
            DEFAULTS.maxResizedPixels};
        String[] keys = {"max_pixels", "min_side", "max_aspect_ratio", "max_resized_pixels"};
        long[] top = {DEFAULTS.maxPixels, MAX_MIN_SIDE, DEFAULTS.maxAspectRatio, DEFAULTS.maxResizedPixels};
        for (Iterator<String> it = v.keys(); it.hasNext(); ) {
            String key = it.next();
            int i = java.util.Arrays.asList(keys).indexOf(key);
            if (i < 0) {
                throw err.of("image_limits", "has unknown key(s) " + key);
            }
            Object x = v.opt(key);
            if (!ModelCard.isInt(x) || ((Number) x).longValue() < 1 || ((Number) x).longValue() > top[i]) {
                throw err.of("image_limits", "must have " + key + " an integer from 1 to " + top[i]);
            }
            value[i] = ((Number) x).longValue();
        }
        return new ImageLimits(value[0], (int) value[1], (int) value[2], value[3]);
    }
}
