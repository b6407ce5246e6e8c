package org.skinedge.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;

import org.junit.Test;

/**
 * Pieces of the preprocessing whose golden images cover only some cases, checked against values
 * Pillow 13 and Python give (computed once there: ImageOps.exif_transpose of a 3x2 image with each
 * orientation, Image.alpha_composite over white, PNG decoding of 16-bit samples, round, format).
 */
public class PreprocessingTest {
    /** A 3x2 grey image 0..50 as ImageOps.exif_transpose shows it under each orientation. */
    private static final int[][] SHOWN = {
        {0, 10, 20, 30, 40, 50}, {20, 10, 0, 50, 40, 30}, {50, 40, 30, 20, 10, 0},
        {30, 40, 50, 0, 10, 20}, {0, 30, 10, 40, 20, 50}, {30, 0, 40, 10, 50, 20},
        {50, 20, 40, 10, 30, 0}, {20, 50, 10, 40, 0, 30},
    };

    @Test
    public void everyExifOrientationAsPillowAppliesIt() {
        for (int o = 1; o <= 8; o++) {
            DecodedImage img = DecodedImage.fromSamples("o", 3, 2, 1, 8, o,
                    new int[] {0, 10, 20, 30, 40, 50});
            byte[] rgb = img.toRgb8();
            int[] grey = new int[6];
            for (int i = 0; i < 6; i++) {
                grey[i] = rgb[3 * i] & 0xff;
            }
            assertArrayEquals("orientation " + o, SHOWN[o - 1], grey);
            assertEquals(o >= 5 ? 2 : 3, img.shownWidth());
        }
    }

    @Test
    public void alphaCompositeOnWhiteMatchesPillow() {
        // Image.alpha_composite(white, (v, v, v, a)) for a few (v, a): Pillow's integer rounding.
        int[][] cases = {{0, 0, 255}, {0, 255, 0}, {0, 96, 159}, {200, 96, 234}, {17, 1, 254},
                         {128, 128, 191}, {255, 37, 255}, {3, 254, 4}};
        for (int[] c : cases) {
            assertEquals(c[0] + "@" + c[1], c[2], DecodedImage.overWhite(c[0], c[1]));
        }
    }

    @Test
    public void sixteenBitSamplesReduceAsPillowDoes() {
        // I;16 grey: v / 65535 * 255 + 0.5, truncated; 16-bit RGB(A): the high byte.
        DecodedImage grey = DecodedImage.fromSamples("g", 2, 1, 1, 16, 1, new int[] {128, 32767});
        byte[] g = grey.toRgb8();
        assertEquals(0, g[0] & 0xff);
        assertEquals(127, g[3] & 0xff);
        DecodedImage rgb = DecodedImage.fromSamples("c", 1, 1, 3, 16, 1, new int[] {0x12ff, 0x3480, 0x567f});
        assertArrayEquals(new byte[] {0x12, 0x34, 0x56}, rgb.toRgb8());
    }

    @Test
    public void resizedShapeRoundsHalfToEvenAsPython() {
        // 201 * (128 / 150) = 171.52 -> 172; ties (12.5, 17.5) go to the even neighbour.
        assertArrayEquals(new int[] {128, 128}, ModelImage.resizedShape(10, 10, 128));
        assertArrayEquals(new int[] {172, 128}, ModelImage.resizedShape(201, 150, 128));
        assertArrayEquals(new int[] {10, 18}, ModelImage.resizedShape(5, 9, 10));  // 18.0
        assertArrayEquals(new int[] {10, 12}, ModelImage.resizedShape(4, 5, 10));  // 12.5 -> 12
        assertArrayEquals(new int[] {10, 18}, ModelImage.resizedShape(4, 7, 10));  // 17.5 -> 18
    }

    @Test
    public void pythonFormatting() {
        assertEquals("0.12", PyFormat.fixed(0.125, 2));   // exact tie: half to even
        assertEquals("2.67", PyFormat.fixed(2.675, 2));   // just under 2.675 in binary
        assertEquals("-0.00", PyFormat.fixed(-0.001, 2));
        assertEquals("13.9", PyFormat.fixed(13.95, 1));   // 13.95 is just under in binary
        assertEquals(0.1235, PyFormat.round(0.12345, 4), 0);
    }
}
