package org.skinedge.core;

/**
 * Pixels as a platform decoder gives them, before any of skinedge's preprocessing: Android's
 * {@code BitmapFactory} (via {@link #fromArgb}) and the JVM tests' PNG reader (via
 * {@link #fromSamples}) both end here, so everything after decoding is shared.
 *
 * <p>Samples are interleaved row-major, {@code channels} per pixel: 1 grey, 2 grey + alpha,
 * 3 RGB, 4 RGBA (alpha not premultiplied), each 8 or 16 bits. {@code orientation} is the EXIF
 * orientation (1 to 8; 1 when the file has none), applied by {@link #toRgb8}.
 */
public final class DecodedImage {
    public final String name;
    public final int width;
    public final int height;
    public final int channels;
    public final int bitDepth;
    public final int orientation;
    private final int[] samples;

    private DecodedImage(String name, int width, int height, int channels, int bitDepth,
                         int orientation, int[] samples) {
        this.name = name;
        this.width = width;
        this.height = height;
        this.channels = channels;
        this.bitDepth = bitDepth;
        this.orientation = orientation;
        this.samples = samples;
    }

    /**
     * Raw samples [height * width * channels]; values 0..255 (8-bit) or 0..65535 (16-bit).
     * Throws ImageException when the description and the buffer disagree.
     */
    public static DecodedImage fromSamples(String name, int width, int height, int channels,
                                           int bitDepth, int orientation, int[] samples) {
        if (width <= 0 || height <= 0) {
            throw new ImageException(name + ": the decoder gave a " + width + "x" + height
                    + " image; not a readable image");
        }
        if (channels < 1 || channels > 4) {
            throw new ImageException(name + ": " + channels + " channels per pixel; expected 1 "
                    + "(grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA)");
        }
        if (bitDepth != 8 && bitDepth != 16) {
            throw new ImageException(name + ": " + bitDepth + "-bit samples; expected 8 or 16 "
                    + "(expand lower bit depths to 8 bits first)");
        }
        if (orientation < 1 || orientation > 8) {
            orientation = 1;  // EXIF readers treat an unknown value as "no rotation", as Pillow
        }
        long n = (long) width * height * channels;
        if (samples == null || samples.length != n) {
            throw new ImageException(name + ": " + (samples == null ? 0 : samples.length)
                    + " samples for a " + width + "x" + height + "x" + channels + " image (expected "
                    + n + ")");
        }
        return new DecodedImage(name, width, height, channels, bitDepth, orientation, samples);
    }

    /**
     * Packed 0xAARRGGBB pixels (Android's {@code Bitmap.getPixels}, which are never
     * premultiplied), row-major. {@code hasAlpha}: whether the alpha byte means anything.
     */
    public static DecodedImage fromArgb(String name, int width, int height, int[] argb,
                                        boolean hasAlpha, int orientation) {
        int channels = hasAlpha ? 4 : 3;
        long n = (long) width * height;
        if (argb == null || argb.length != n || width <= 0 || height <= 0) {
            throw new ImageException(name + ": the decoder gave " + (argb == null ? 0 : argb.length)
                    + " pixels for a " + width + "x" + height + " image; not a readable image");
        }
        int[] s = new int[(int) n * channels];
        for (int i = 0, j = 0; i < n; i++) {
            int p = argb[i];
            s[j++] = (p >> 16) & 0xff;
            s[j++] = (p >> 8) & 0xff;
            s[j++] = p & 0xff;
            if (hasAlpha) {
                s[j++] = (p >>> 24) & 0xff;
            }
        }
        return fromSamples(name, width, height, channels, 8, orientation, s);
    }

    /** Width and height as the image is shown, after the EXIF orientation. */
    public int shownWidth() {
        return orientation >= 5 ? height : width;
    }

    public int shownHeight() {
        return orientation >= 5 ? width : height;
    }

    /**
     * 8-bit RGB [shownHeight][shownWidth][3] as {@code skinedge.preprocess.load_image} makes
     * it: EXIF orientation applied; 16-bit grey scaled as {@code v / 65535 * 255 + 0.5}
     * (truncated), other 16-bit images by their high byte (Pillow's PNG unpackers); grey
     * replicated; alpha composited on white with Pillow's integer arithmetic.
     */
    public byte[] toRgb8() {
        int n = width * height;
        byte[] rgb = new byte[n * 3];
        for (int i = 0; i < n; i++) {
            int o = i * channels;
            int r, g, b;
            if (channels <= 2) {
                r = g = b = grey8(samples[o]);
            } else {
                r = to8(samples[o]);
                g = to8(samples[o + 1]);
                b = to8(samples[o + 2]);
            }
            if (channels == 2 || channels == 4) {
                int a = to8(samples[o + channels - 1]);
                r = overWhite(r, a);
                g = overWhite(g, a);
                b = overWhite(b, a);
            }
            int dst = shownIndex(i % width, i / width) * 3;
            rgb[dst] = (byte) r;
            rgb[dst + 1] = (byte) g;
            rgb[dst + 2] = (byte) b;
        }
        return rgb;
    }

    private int grey8(int v) {
        if (bitDepth == 8 || channels == 2) {
            return to8(v);
        }
        return (int) (v / 65535.0 * 255.0 + 0.5);  // preprocess._to_uint8(arr, 65535.0)
    }

    private int to8(int v) {
        return bitDepth == 16 ? v >>> 8 : v;
    }

    /**
     * Pillow's {@code alpha_composite} of (v, v, v, a) over opaque white, one channel:
     * 7 fractional bits and its rounded division by 255 (AlphaComposite.c).
     */
    static int overWhite(int v, int a) {
        if (a == 0) {
            return 255;
        }
        long outA255 = a * 255L + 255L * (255 - a);
        long coef1 = a * 255L * 255L * 128L / outA255;
        long coef2 = 255L * 128L - coef1;
        long t = v * coef1 + 255L * coef2 + (0x80L << 7);
        return (int) ((((t >> 8) + t) >> 8) >> 7);
    }

    /**
     * Index in the shown image of stored pixel (x, y): EXIF orientations as Pillow's
     * {@code ImageOps.exif_transpose} applies them (2 mirror, 3 rotate 180, 4 flip, 5 transpose,
     * 6 rotate 90 clockwise, 7 transverse, 8 rotate 90 counter-clockwise).
     */
    private int shownIndex(int x, int y) {
        int w = width, h = height;
        switch (orientation) {
            case 2: return y * w + (w - 1 - x);
            case 3: return (h - 1 - y) * w + (w - 1 - x);
            case 4: return (h - 1 - y) * w + x;
            case 5: return x * h + y;
            case 6: return x * h + (h - 1 - y);
            case 7: return (w - 1 - x) * h + (h - 1 - y);
            case 8: return (w - 1 - x) * h + y;
            default: return y * w + x;
        }
    }
}
