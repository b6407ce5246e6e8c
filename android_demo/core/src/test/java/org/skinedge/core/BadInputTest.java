package org.skinedge.core;

import static org.hamcrest.CoreMatchers.containsString;
import static org.hamcrest.MatcherAssert.assertThat;
import static org.junit.Assert.assertThrows;

import java.util.Arrays;
import org.json.JSONArray;
import org.junit.BeforeClass;
import org.junit.Test;

/** Inputs the app must refuse with a message, not a crash (issue 13, "Bad input"). */
public class BadInputTest {
    private static GoldenFolder golden;
    private static ModelCard card;

    @BeforeClass
    public static void load() throws Exception {
        golden = GoldenFolder.fromEnvironment();
        card = golden.card("checkpoint");
    }

    private static byte[] goldenModelImage() throws Exception {
        JSONArray images = golden.index.getJSONArray("images");
        return GoldenFolder.bytes(golden.root.resolve(
                images.getJSONObject(0).getJSONObject("model_image").getString("file")));
    }

    @Test
    public void undecodableImagesGetAClearMessage() {
        byte[] text = "not an image at all".getBytes();
        assertThat(assertThrows(ImageException.class, () -> GoldenFolder.decode(text, "notes.png"))
                .getMessage(), containsString("notes.png: not a readable image"));
        byte[] png = GoldenFolder.bytes(golden.root.resolve("images/landscape_200x150.png"));
        byte[] truncated = Arrays.copyOf(png, 60);
        assertThat(assertThrows(ImageException.class, () -> GoldenFolder.decode(truncated, "cut.png"))
                .getMessage(), containsString("cut.png"));
        assertThat(assertThrows(ImageException.class, () -> DecodedImage.fromArgb("x.jpg", 4, 4,
                new int[3], false, 1)).getMessage(), containsString("x.jpg: the decoder gave 3 pixels"));
    }

    @Test
    public void imagesOutsideThePreprocessingLimitsAreRefused() {
        DecodedImage small = DecodedImage.fromSamples("s.png", 7, 30, 1, 8, 1, new int[7 * 30]);
        assertThat(assertThrows(ImageException.class, () -> ModelImage.of(small, card)).getMessage(),
                containsString("s.png: image is 7x30, too small to classify (min side 8 px)"));
        DecodedImage thin = DecodedImage.fromSamples("t.png", 200, 8, 1, 8, 1, new int[1600]);
        assertThat(assertThrows(ImageException.class, () -> ModelImage.of(thin, card)).getMessage(),
                containsString("aspect ratio 25:1, over the 10:1 limit"));
    }

    @Test
    public void aModelImageOfAnotherSizeThanTheCardIsRefused() throws Exception {
        byte[] img = goldenModelImage();
        int other = card.inputSize * 2;
        assertThat(assertThrows(ImageException.class,
                () -> ModelImage.ofBytes(img, other, 200, 150, "x.u8")).getMessage(),
                containsString("is not a " + other + "x" + other + " RGB model image"));
        ModelImage right = ModelImage.ofBytes(img, card.inputSize, 200, 150, "x.u8");
        ModelCard bigger = ModelCard.parse(new org.json.JSONObject(card.json.toString())
                .put("input_size", other).toString(), "big.card.json");
        assertThat(assertThrows(ImageException.class, () -> new Predictor(bigger)
                .fromProbabilities(new double[7], right, 3)).getMessage(),
                containsString("card says input_size " + other));
    }

    @Test
    public void aModelWhoseOutputsDoNotFitTheCardIsRefused() throws Exception {
        ModelImage img = ModelImage.ofBytes(goldenModelImage(), card.inputSize, 200, 150, "x");
        Predictor p = new Predictor(card);
        assertThat(assertThrows(ModelException.class, () -> p.fromLogits(new float[5], img, 3))
                .getMessage(), containsString("the model gave 5 outputs, but its card has 7 labels"));
        float[] nan = new float[7];
        nan[2] = Float.NaN;
        assertThat(assertThrows(ModelException.class, () -> p.fromLogits(nan, img, 3)).getMessage(),
                containsString("not finite"));
    }
}
