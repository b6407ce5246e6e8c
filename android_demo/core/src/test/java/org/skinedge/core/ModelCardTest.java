package org.skinedge.core;

import static org.hamcrest.CoreMatchers.containsString;
import static org.hamcrest.MatcherAssert.assertThat;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertThrows;

import org.json.JSONArray;
import org.json.JSONObject;
import org.junit.BeforeClass;
import org.junit.Test;

/** Card parsing: the golden cards load with their labels; foreign or malformed cards are refused. */
public class ModelCardTest {
    private static GoldenFolder golden;

    @BeforeClass
    public static void load() {
        golden = GoldenFolder.fromEnvironment();
    }

    private static JSONObject goldenCard() throws Exception {
        return new JSONObject(GoldenFolder.read(golden.root.resolve("cards/checkpoint.json")));
    }

    private static String refusal(JSONObject card) {
        return assertThrows(CardException.class, () -> ModelCard.parse(card.toString(), "m.pte"))
                .getMessage();
    }

    @Test
    public void everyGoldenCardParsesWithTheIndexLabelsAndSize() throws Exception {
        JSONArray models = golden.index.getJSONArray("models");
        for (int i = 0; i < models.length(); i++) {
            ModelCard card = golden.card(models.getJSONObject(i).getString("name"));
            assertEquals(golden.index.getJSONArray("labels").toString(),
                    new JSONArray(card.labels).toString());
            assertEquals(golden.inputSize(), card.inputSize);
            assertEquals(card.labels.size(), card.labelNames.size());
        }
    }

    @Test
    public void anotherSchemaVersionIsRefusedByName() throws Exception {
        String msg = refusal(goldenCard().put("schema", "skinedge.model_card/2"));
        assertThat(msg, containsString("m.pte"));
        assertThat(msg, containsString("skinedge.model_card/2"));
        assertThat(msg, containsString("skinedge.model_card/1"));
        assertThat(refusal(goldenCard().put("schema", "something/else")),
                containsString("not a skinedge model card"));
        JSONObject none = goldenCard();
        none.remove("schema");
        assertThat(refusal(none), containsString("schema missing"));
    }

    @Test
    public void notJsonIsRefused() {
        String msg = assertThrows(CardException.class,
                () -> ModelCard.parse("{\"schema\": ", "x.card.json")).getMessage();
        assertThat(msg, containsString("x.card.json: model card is not valid JSON"));
        assertThat(assertThrows(CardException.class, () -> ModelCard.parse(
                new byte[] {'{', (byte) 0xff, '}'}, "y")).getMessage(), containsString("UTF-8"));
    }

    @Test
    public void malformedFieldsAreNamed() throws Exception {
        JSONObject c = goldenCard();
        c.remove("labels");
        assertThat(refusal(c), containsString("model card lacks labels"));
        assertThat(refusal(goldenCard().put("input_size", 8)),
                containsString("field 'input_size' must be an integer from 16 to 2048"));
        assertThat(refusal(goldenCard().put("input_size", 128.5)), containsString("'input_size'"));
        assertThat(refusal(goldenCard().put("labels", new JSONArray("[\"a\", \"a\"]"))),
                containsString("duplicate label 'a'"));
        assertThat(refusal(goldenCard().put("label_names", new JSONArray("[\"x\"]"))),
                containsString("'label_names' must give one per label"));
        assertThat(refusal(goldenCard().put("resize", "stretch")),
                containsString("field 'resize' must be 'shorter_side_then_center_crop'"));
        assertThat(refusal(goldenCard().put("interpolation", "bicubic")),
                containsString("'interpolation'"));
        assertThat(refusal(goldenCard().put("color_order", "BGR")), containsString("'color_order'"));
        assertThat(refusal(goldenCard().put("value_range", new JSONArray("[0, 255]"))),
                containsString("'value_range'"));
        assertThat(refusal(goldenCard().put("integrity_sha256", "abc")),
                containsString("'integrity_sha256' must be empty or 64 hex digits"));
    }

    @Test
    public void trustFieldsAreCheckedAsCardPyChecksThem() throws Exception {
        JSONObject cal = new JSONObject().put("temperature", 1.0).put("bias", new JSONArray("[0, 0]"));
        assertThat(refusal(goldenCard().put("calibration", cal)),
                containsString("'calibration' must have a bias of 7 finite numbers"));
        assertThat(refusal(goldenCard().put("calibration", new JSONObject().put("temperature", 100))),
                containsString("temperature in [0.05, 20]"));
        JSONObject ref = new JSONObject().put("score", "malignant").put("tasks", new JSONObject()
                .put("malignant", new JSONObject().put("threshold", 0.5)
                        .put("labels", new JSONArray("[\"mel\", \"cat\"]"))));
        assertThat(refusal(goldenCard().put("referral", ref)),
                containsString("task 'malignant' must list labels of this model"));
        JSONObject gate = new JSONObject(GoldenFolder.read(golden.root.resolve("cards/checkpoint.json")))
                .optJSONObject("gate");
        JSONObject badGate = new JSONObject().put("min_side", 128)
                .put("luminance", new JSONArray("[0.1, 0.9]")).put("sharpness_min", 1.0)
                .put("ood", new JSONObject().put("features", new JSONArray("[\"mean_r\"]"))
                        .put("mean", new JSONArray("[0.5]")).put("threshold", 3)
                        .put("precision", new JSONArray("[[1]]")));
        assertThat(refusal(goldenCard().put("gate", badGate)),
                containsString("ood statistics over the 14 features"));
        assertThat(refusal(goldenCard().put("intended_use", new JSONObject().put("summary", ""))),
                containsString("'intended_use' must be a JSON object with a non-empty 'summary'"));
        assertNotNull(gate);  // {} or a fitted gate: either parses (checked above for all cards)
    }

    @Test
    public void emptyTrustFieldsMeanNone() throws Exception {
        JSONObject c = goldenCard().put("calibration", new JSONObject()).put("gate", new JSONObject())
                .put("referral", new JSONObject()).put("intended_use", new JSONObject());
        ModelCard card = ModelCard.parse(c.toString(), "m");
        assertEquals(null, card.calibration);
        assertEquals(null, card.gate);
        assertEquals(null, card.intendedUse);
        // Without a referral field, skinedge.api still scores akiec + bcc + mel, with no threshold.
        assertEquals(false, card.referral.hasThreshold());
    }
}
