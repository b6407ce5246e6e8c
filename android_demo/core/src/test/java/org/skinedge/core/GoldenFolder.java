package org.skinedge.core;

import java.awt.image.BufferedImage;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import javax.imageio.ImageIO;
import org.json.JSONObject;

/**
 * A {@code golden/} folder written by {@code skinedge export} (skinedge/golden.py), and the JVM's
 * stand-in for Android's BitmapFactory: PNGs decoded with javax.imageio into raw samples (the
 * raster, never getRGB, so 16-bit grey and straight alpha arrive untouched) plus the EXIF
 * orientation from the PNG's eXIf chunk.
 */
final class GoldenFolder {
    final Path root;
    final JSONObject index;

    private GoldenFolder(Path root) {
        this.root = root;
        try {
            this.index = new JSONObject(read(root.resolve("index.json")));
        } catch (org.json.JSONException e) {
            throw new AssertionError(root + "/index.json: not JSON: " + e.getMessage(), e);
        }
    }

    /**
     * The folder named by -Dskinedge.golden or $SKINEDGE_GOLDEN. Without one the tests fail
     * rather than skip: a run that checked nothing must not look like a pass.
     */
    static GoldenFolder fromEnvironment() {
        String dir = System.getProperty("skinedge.golden", System.getenv("SKINEDGE_GOLDEN"));
        if (dir == null || dir.isEmpty()) {
            throw new AssertionError("no golden folder given: pass -Dskinedge.golden=DIR (or set "
                    + "SKINEDGE_GOLDEN) to a golden/ folder written by skinedge export");
        }
        Path root = Paths.get(dir);
        if (!Files.isRegularFile(root.resolve("index.json"))) {
            throw new AssertionError(root + ": no index.json; not a golden folder written by "
                    + "skinedge export");
        }
        return new GoldenFolder(root);
    }

    static String read(Path p) {
        return new String(bytes(p), StandardCharsets.UTF_8);
    }

    static byte[] bytes(Path p) {
        try {
            return Files.readAllBytes(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    int inputSize() {
        return index.optInt("input_size");
    }

    ModelCard card(String model) {
        Path p = root.resolve("cards").resolve(model + ".json");
        return ModelCard.parse(read(p), p.toString());
    }

    float[] floats(String file) {
        ByteBuffer b = ByteBuffer.wrap(bytes(root.resolve(file))).order(ByteOrder.LITTLE_ENDIAN);
        float[] out = new float[b.remaining() / 4];
        b.asFloatBuffer().get(out);
        return out;
    }

    /** Decode an image file the way the app would, into the core's DecodedImage. */
    static DecodedImage decode(byte[] data, String name) {
        BufferedImage img;
        try {
            img = ImageIO.read(new ByteArrayInputStream(data));
        } catch (IOException e) {
            throw new ImageException(name + ": corrupt or truncated image (" + e.getMessage() + ")");
        }
        if (img == null) {
            throw new ImageException(name + ": not a readable image (unknown or unsupported format)");
        }
        int w = img.getWidth(), h = img.getHeight(), orientation = pngOrientation(data);
        if (img.getColorModel() instanceof IndexColorModel) {
            int[] argb = img.getRGB(0, 0, w, h, null, 0, w);  // a palette has no other route
            return DecodedImage.fromArgb(name, w, h, argb, img.getColorModel().hasAlpha(), orientation);
        }
        Raster r = img.getRaster();
        int bands = r.getNumBands(), bits = r.getSampleModel().getSampleSize(0);
        int[] s = r.getPixels(0, 0, w, h, (int[]) null);
        if (bits < 8) {  // 1, 2, 4-bit grey: Pillow scales to 0..255
            int max = (1 << bits) - 1;
            for (int i = 0; i < s.length; i++) {
                s[i] = s[i] * 255 / max;
            }
            bits = 8;
        }
        return DecodedImage.fromSamples(name, w, h, bands, bits, orientation, s);
    }

    static DecodedImage decode(Path p) {
        return decode(bytes(p), p.getFileName().toString());
    }

    /** EXIF orientation in a PNG's eXIf chunk (TIFF layout), 1 when there is none. */
    static int pngOrientation(byte[] d) {
        if (d.length < 8 || d[0] != (byte) 0x89 || d[1] != 'P') {
            return 1;
        }
        ByteBuffer b = ByteBuffer.wrap(d);
        int pos = 8;
        while (pos + 8 <= d.length) {
            int len = b.getInt(pos);
            String type = new String(d, pos + 4, 4, StandardCharsets.US_ASCII);
            if (len < 0 || pos + 12L + len > d.length) {
                return 1;
            }
            if (type.equals("eXIf")) {
                return tiffOrientation(ByteBuffer.wrap(d, pos + 8, len).slice());
            }
            pos += 12 + len;
        }
        return 1;
    }

    private static int tiffOrientation(ByteBuffer t) {
        if (t.remaining() < 8) {
            return 1;
        }
        t.order(t.get(0) == 'I' ? ByteOrder.LITTLE_ENDIAN : ByteOrder.BIG_ENDIAN);
        int ifd = t.getInt(4);
        if (ifd < 0 || ifd + 2 > t.limit()) {
            return 1;
        }
        int n = t.getShort(ifd) & 0xffff;
        for (int i = 0; i < n && ifd + 2 + 12 * (i + 1) <= t.limit(); i++) {
            int e = ifd + 2 + 12 * i;
            if ((t.getShort(e) & 0xffff) == 0x0112) {
                return t.getShort(e + 8) & 0xffff;
            }
        }
        return 1;
    }
}
