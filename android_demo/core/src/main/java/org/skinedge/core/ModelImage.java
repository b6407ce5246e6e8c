package org.skinedge.core;

/**
 * The model image: uint8 RGB [S][S][3] (HWC) made by the card's resize policy
 * ({@code shorter_side_then_center_crop}, bilinear; skinedge/preprocess.py), the bytes
 * {@code golden/model_image/*.u8} hold, and the float NCHW input the model takes.
 */
public final class ModelImage {
    /** Safety limits of skinedge/preprocess.py (not model parameters: the same for every card). */
    static final long MAX_PIXELS = 50_000_000L;
    static final int MIN_SIDE = 8;
    static final int MAX_ASPECT_RATIO = 10;
    static final long MAX_RESIZED_PIXELS = 16_000_000L;

    public final int size;
    /** Width and height of the original as shown (EXIF orientation applied): the gate's input. */
    public final int originalWidth;
    public final int originalHeight;
    private final byte[] rgb;

    private ModelImage(int size, int originalWidth, int originalHeight, byte[] rgb) {
        this.size = size;
        this.originalWidth = originalWidth;
        this.originalHeight = originalHeight;
        this.rgb = rgb;
    }

    /** The card's preprocessing of a decoded image, within the card's image limits. Throws
     * ImageException (see checkSize). */
    public static ModelImage of(DecodedImage img, ModelCard card) {
        return of(img, card.inputSize, card.imageLimits);
    }

    static ModelImage of(DecodedImage img, int size) {
        return of(img, size, ImageLimits.DEFAULTS);
    }

    static ModelImage of(DecodedImage img, int size, ImageLimits limits) {
        checkSize(img.name, img.width, img.height, limits);
        int w = img.shownWidth(), h = img.shownHeight();
        int[] nwh = resizedShape(w, h, size);
        int nw = nwh[0], nh = nwh[1];
        if ((long) nw * nh > limits.maxResizedPixels) {
            throw new ImageException(img.name + ": a " + w + "x" + h + " image resized to the "
                    + "model's " + size + " px input would be " + nw + "x" + nh + " ("
                    + PyFormat.fixed((double) nw * nh / 1e6, 0) + " MP) before the crop, over the "
                    + mega(limits.maxResizedPixels) + " MP limit; crop it to the lesion first");
        }
        byte[] resized = PillowResize.resize(img.toRgb8(), w, h, nw, nh);
        int left = (nw - size) / 2, top = (nh - size) / 2;
        byte[] out = new byte[size * size * 3];
        for (int y = 0; y < size; y++) {
            System.arraycopy(resized, ((top + y) * nw + left) * 3, out, y * size * 3, size * 3);
        }
        return new ModelImage(size, w, h, out);
    }

    /**
     * A model image made elsewhere (e.g. {@code golden/model_image/*.u8}) for a model whose card
     * says {@code size}: refused when its byte count is not size * size * 3.
     */
    public static ModelImage ofBytes(byte[] rgb, int size, int originalWidth, int originalHeight,
                                     String name) {
        if (rgb.length != size * size * 3) {
            throw new ImageException(name + ": " + rgb.length + " bytes is not a " + size + "x"
                    + size + " RGB model image (" + size * size * 3 + " bytes), the input size "
                    + "this model's card gives; preprocess it for this model");
        }
        return new ModelImage(size, originalWidth, originalHeight, rgb.clone());
    }

    /**
     * The same refusals as preprocess._check_size, on the image as stored: callers may check a
     * file's header size before decoding it (so a decompression bomb is never decoded).
     */
    public static void checkSize(String name, int w, int h) {
        checkSize(name, w, h, ImageLimits.DEFAULTS);
    }

    /** checkSize within a card's image limits ({@code card.imageLimits}). */
    public static void checkSize(String name, int w, int h, ImageLimits limits) {
        if ((long) w * h > limits.maxPixels) {
            throw new ImageException(name + ": image is " + w + "x" + h + " ("
                    + PyFormat.fixed((double) w * h / 1e6, 0) + " MP), over the "
                    + mega(limits.maxPixels) + " MP limit (possible decompression bomb); "
                    + "downscale it first");
        }
        if (Math.min(w, h) < limits.minSide) {
            throw new ImageException(name + ": image is " + w + "x" + h + ", too small to "
                    + "classify (min side " + limits.minSide + " px)");
        }
        if (Math.max(w, h) > (long) limits.maxAspectRatio * Math.min(w, h)) {
            throw new ImageException(name + ": image is " + w + "x" + h + ", aspect ratio "
                    + aspectRatio(w, h) + ", over the " + limits.maxAspectRatio + ":1 limit (a "
                    + "lesion photo is about 4:3); crop it to the lesion first");
        }
    }

    /** preprocess.aspect_ratio: the longer side over the shorter, exactly ("1001:100"). */
    static String aspectRatio(int w, int h) {
        int a = Math.max(w, h), b = Math.min(w, h), g = gcd(a, b);
        return a / g + ":" + b / g;
    }

    private static int gcd(int a, int b) {
        return b == 0 ? Math.max(a, 1) : gcd(b, a % b);
    }

    /** Python's f"{n / 1e6:g}" for the limits (whole or fractional millions of pixels). */
    private static String mega(long n) {
        return n % 1_000_000 == 0 ? String.valueOf(n / 1_000_000)
                : new java.math.BigDecimal(n).movePointLeft(6).stripTrailingZeros().toPlainString();
    }

    /** (width, height) once the shorter side is scaled to size: preprocess.resized_shape. */
    static int[] resizedShape(int w, int h, int size) {
        double scale = (double) size / Math.min(w, h);
        // Python's round() is half to even: Math.rint.
        return new int[] {Math.max(size, (int) Math.rint(w * scale)),
                Math.max(size, (int) Math.rint(h * scale))};
    }

    /** A copy of the uint8 RGB bytes [S][S][3]. */
    public byte[] rgb() {
        return rgb.clone();
    }

    int at(int i) {
        return rgb[i] & 0xff;
    }

    /** float32 [1, 3, S, S]: {@code model_image[y, x, c] / 255.0f} at [0, c, y, x]. */
    public float[] toNchw() {
        int plane = size * size;
        float[] out = new float[3 * plane];
        for (int i = 0; i < plane; i++) {
            for (int c = 0; c < 3; c++) {
                out[c * plane + i] = (rgb[i * 3 + c] & 0xff) / 255.0f;
            }
        }
        return out;
    }

    /** The input tensor's shape for one image. */
    public long[] shape() {
        return new long[] {1, 3, size, size};
    }
}
