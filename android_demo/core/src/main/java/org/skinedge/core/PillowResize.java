package org.skinedge.core;

/**
 * Pillow's {@code Image.resize(size, Image.BILINEAR, reducing_gap=None)} of an 8-bit RGB image,
 * bit for bit (libImaging/Resample.c): per output pixel, triangle-filter weights in double
 * precision over a support widened by the downscale factor (the antialiasing), normalised to
 * sum 1, converted to 22-bit fixed point; a horizontal pass, then a vertical pass on its 8-bit
 * result, each rounding by adding half and clipping to 0..255. Android's
 * {@code Bitmap.createScaledBitmap} filters differently, so the app must not use it.
 */
public final class PillowResize {
    private static final int PRECISION_BITS = 32 - 8 - 2;

    private PillowResize() {
    }

    /** rgb [h][w][3] -> [nh][nw][3]. */
    public static byte[] resize(byte[] rgb, int w, int h, int nw, int nh) {
        byte[] out = rgb;
        int curW = w;
        if (nw != w) {
            out = horizontal(out, w, h, nw);
            curW = nw;
        }
        if (nh != h) {
            out = vertical(out, curW, h, nh);
        }
        return out == rgb ? rgb.clone() : out;
    }

    /** Per output pixel: [start, count] in bounds and count fixed-point weights in k. */
    private static final class Coeffs {
        final int ksize;
        final int[] bounds;
        final int[] k;

        Coeffs(int inSize, int outSize) {
            double scale = (double) inSize / outSize;
            double filterscale = Math.max(scale, 1.0);
            double support = 1.0 * filterscale;  // bilinear support 1, widened to antialias
            ksize = (int) Math.ceil(support) * 2 + 1;
            bounds = new int[outSize * 2];
            k = new int[outSize * ksize];
            double invFilterscale = 1.0 / filterscale;
            double[] w = new double[ksize];
            for (int xx = 0; xx < outSize; xx++) {
                double center = (xx + 0.5) * scale;
                int xmin = Math.max((int) (center - support + 0.5), 0);
                int xmax = Math.min((int) (center + support + 0.5), inSize) - xmin;
                double ww = 0.0;
                for (int x = 0; x < xmax; x++) {
                    w[x] = triangle((x + xmin - center + 0.5) * invFilterscale);
                    ww += w[x];
                }
                for (int x = 0; x < xmax; x++) {
                    double v = ww != 0.0 ? w[x] / ww : w[x];
                    k[xx * ksize + x] = v < 0 ? (int) (-0.5 + v * (1 << PRECISION_BITS))
                            : (int) (0.5 + v * (1 << PRECISION_BITS));
                }
                bounds[xx * 2] = xmin;
                bounds[xx * 2 + 1] = xmax;
            }
        }
    }

    private static double triangle(double x) {
        x = Math.abs(x);
        return x < 1.0 ? 1.0 - x : 0.0;
    }

    private static int clip8(int ss) {
        int v = ss >> PRECISION_BITS;
        return v < 0 ? 0 : Math.min(v, 255);
    }

    private static byte[] horizontal(byte[] in, int w, int h, int nw) {
        Coeffs c = new Coeffs(w, nw);
        byte[] out = new byte[nw * h * 3];
        for (int y = 0; y < h; y++) {
            int row = y * w * 3;
            for (int xx = 0; xx < nw; xx++) {
                int xmin = c.bounds[xx * 2], xmax = c.bounds[xx * 2 + 1], kOff = xx * c.ksize;
                for (int ch = 0; ch < 3; ch++) {
                    int ss = 1 << (PRECISION_BITS - 1);
                    for (int x = 0; x < xmax; x++) {
                        ss += (in[row + (x + xmin) * 3 + ch] & 0xff) * c.k[kOff + x];
                    }
                    out[(y * nw + xx) * 3 + ch] = (byte) clip8(ss);
                }
            }
        }
        return out;
    }

    private static byte[] vertical(byte[] in, int w, int h, int nh) {
        Coeffs c = new Coeffs(h, nh);
        byte[] out = new byte[w * nh * 3];
        for (int yy = 0; yy < nh; yy++) {
            int ymin = c.bounds[yy * 2], ymax = c.bounds[yy * 2 + 1], kOff = yy * c.ksize;
            for (int x = 0; x < w * 3; x++) {
                int ss = 1 << (PRECISION_BITS - 1);
                for (int y = 0; y < ymax; y++) {
                    ss += (in[(y + ymin) * w * 3 + x] & 0xff) * c.k[kOff + y];
                }
                out[yy * w * 3 + x] = (byte) clip8(ss);
            }
        }
        return out;
    }
}
