package org.skinedge.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.json.JSONArray;
import org.json.JSONObject;
import org.junit.BeforeClass;
import org.junit.Test;

/**
 * The core against {@code golden/}: for every image, the model image byte for byte and the float
 * input bit for bit; for every model with expected outputs, the calibrated probabilities, top-k,
 * referral and input gate from the recorded raw probabilities, as skinedge.predict gave them.
 */
public class GoldenVectorsTest {
    /** Calibration, top-k and referral use exp/log: numpy's and Java's may differ in the last bits. */
    private static final double PROB_ATOL = 1e-9;
    /** Gate scores are rounded to 4 decimals on both sides; a last-bit difference can flip one. */
    private static final double SCORE_ATOL = 1e-4 + 1e-9;

    private static GoldenFolder golden;

    @BeforeClass
    public static void load() throws Exception {
        golden = GoldenFolder.fromEnvironment();
    }

    private static List<JSONObject> images() throws Exception {
        JSONArray a = golden.index.getJSONArray("images");
        List<JSONObject> out = new ArrayList<>();
        for (int i = 0; i < a.length(); i++) {
            out.add(a.getJSONObject(i));
        }
        return out;
    }

    private static ModelImage modelImage(JSONObject e, ModelCard card) throws Exception {
        return ModelImage.of(GoldenFolder.decode(golden.root.resolve(e.getString("file"))), card);
    }

    @Test
    public void goldenCoversTheOddImages() throws Exception {
        Set<String> modes = new HashSet<>();
        for (JSONObject e : images()) {
            modes.add(e.getString("mode"));
        }
        assertTrue("golden images lack a mode the apps must handle: " + modes,
                modes.containsAll(List.of("RGB", "RGBA", "L", "I;16")));
    }

    @Test
    public void modelImagesEqualGoldenByteForByte() throws Exception {
        ModelCard card = golden.card("checkpoint");
        List<String> problems = new ArrayList<>();
        for (JSONObject e : images()) {
            byte[] want = GoldenFolder.bytes(golden.root.resolve(
                    e.getJSONObject("model_image").getString("file")));
            byte[] got = modelImage(e, card).rgb();
            if (got.length != want.length) {
                problems.add(e.getString("name") + ": " + got.length + " bytes, golden " + want.length);
                continue;
            }
            int diff = 0, first = -1, maxAbs = 0;
            for (int i = 0; i < got.length; i++) {
                if (got[i] != want[i]) {
                    diff++;
                    first = first < 0 ? i : first;
                    maxAbs = Math.max(maxAbs, Math.abs((got[i] & 0xff) - (want[i] & 0xff)));
                }
            }
            if (diff > 0) {
                int s = card.inputSize;
                problems.add(e.getString("name") + ": " + diff + " of " + got.length
                        + " bytes differ (max " + maxAbs + "), first at y=" + first / 3 / s + " x="
                        + first / 3 % s + " c=" + first % 3);
            }
        }
        if (!problems.isEmpty()) {
            fail("model images differ from golden/model_image:\n  " + String.join("\n  ", problems));
        }
    }

    @Test
    public void floatInputEqualsGoldenBitForBit() throws Exception {
        ModelCard card = golden.card("checkpoint");
        int checked = 0;
        for (JSONObject e : images()) {
            if (!e.has("model_input")) {
                continue;
            }
            float[] want = golden.floats(e.getJSONObject("model_input").getString("file"));
            float[] got = modelImage(e, card).toNchw();
            assertEquals(e.getString("name"), want.length, got.length);
            for (int i = 0; i < got.length; i++) {
                if (Float.floatToIntBits(got[i]) != Float.floatToIntBits(want[i])) {
                    fail(e.getString("name") + ": float input differs at " + i + ": " + got[i]
                            + ", golden " + want[i]);
                }
            }
            checked++;
        }
        assertTrue("no image in index.json has a model_input", checked > 0);
    }

    @Test
    public void predictionsMatchEveryModelsExpectedOutputs() throws Exception {
        JSONArray models = golden.index.getJSONArray("models");
        List<String> problems = new ArrayList<>();
        for (int m = 0; m < models.length(); m++) {
            String model = models.getJSONObject(m).getString("name");
            ModelCard card = golden.card(model);
            JSONObject expected = new JSONObject(GoldenFolder.read(golden.root.resolve(
                    models.getJSONObject(m).getString("expected"))));
            Predictor predictor = new Predictor(card);
            for (JSONObject e : images()) {
                JSONObject want = expected.getJSONObject(e.getString("name"));
                JSONArray rawJson = want.getJSONArray("probabilities");
                double[] raw = new double[rawJson.length()];
                for (int i = 0; i < raw.length; i++) {
                    raw[i] = rawJson.getDouble(i);
                }
                Prediction got = predictor.fromProbabilities(raw, modelImage(e, card), raw.length);
                compare(model + " / " + e.getString("name"), got, want.getJSONObject("prediction"),
                        card, problems);
            }
        }
        if (!problems.isEmpty()) {
            fail("predictions differ from golden/expected:\n  " + String.join("\n  ", problems));
        }
    }

    private static void compare(String where, Prediction got, JSONObject want, ModelCard card,
                                List<String> problems) throws Exception {
        check(problems, where, "label", want.getString("label"), got.label);
        check(problems, where, "calibrated", want.getBoolean("calibrated"), got.calibrated);
        JSONObject probs = want.getJSONObject("probabilities");
        for (String c : card.labels) {
            near(problems, where, "probability of " + c, probs.getDouble(c), got.probabilities.get(c), PROB_ATOL);
        }
        JSONArray top = want.getJSONArray("top_k");
        List<String> wantOrder = new ArrayList<>(), gotOrder = new ArrayList<>();
        for (int i = 0; i < top.length(); i++) {
            wantOrder.add(top.getJSONObject(i).getString("label"));
        }
        for (Map.Entry<String, Double> t : got.topK) {
            gotOrder.add(t.getKey());
        }
        check(problems, where, "top_k", wantOrder, gotOrder);
        checkOptional(problems, where, "malignant_probability", want, got.malignantProbability);
        check(problems, where, "refer", want.isNull("refer") ? null : want.getBoolean("refer"), got.refer);
        checkOptional(problems, where, "threshold", want, got.threshold);
        if (want.isNull("gate") || got.gate == null) {
            check(problems, where, "gate present", !want.isNull("gate"), got.gate != null);
            return;
        }
        JSONObject g = want.getJSONObject("gate");
        check(problems, where, "gate usable", g.getBoolean("usable"), got.gate.usable);
        List<String> reasons = new ArrayList<>();
        for (int i = 0; i < g.getJSONArray("reasons").length(); i++) {
            reasons.add(g.getJSONArray("reasons").getString(i));
        }
        check(problems, where, "gate reasons", reasons, got.gate.reasons);
        JSONObject scores = g.getJSONObject("scores");
        check(problems, where, "gate score names", keys(scores), got.gate.scores.keySet());
        for (String k : got.gate.scores.keySet()) {
            near(problems, where, "gate score " + k, scores.optDouble(k), got.gate.scores.get(k), SCORE_ATOL);
        }
    }

    private static Set<String> keys(JSONObject o) throws Exception {
        Set<String> out = new HashSet<>();
        o.keys().forEachRemaining(out::add);
        return out;
    }

    private static void checkOptional(List<String> problems, String where, String key,
                                      JSONObject want, Double got) throws Exception {
        if (want.isNull(key) || got == null) {
            check(problems, where, key + " present", !want.isNull(key), got != null);
        } else {
            near(problems, where, key, want.getDouble(key), got, PROB_ATOL);
        }
    }

    private static void check(List<String> problems, String where, String what, Object want, Object got) throws Exception {
        if (want == null ? got != null : !want.equals(got)) {
            problems.add(where + ": " + what + " " + got + ", golden " + want);
        }
    }

    private static void near(List<String> problems, String where, String what, double want,
                             Double got, double atol) throws Exception {
        if (got == null || !(Math.abs(got - want) <= atol)) {
            problems.add(where + ": " + what + " " + got + ", golden " + want);
        }
    }

    @Test
    public void exifOrientationIsReadAndApplied() throws Exception {
        for (JSONObject e : images()) {
            DecodedImage img = GoldenFolder.decode(golden.root.resolve(e.getString("file")));
            JSONArray stored = e.getJSONArray("stored_size");
            assertArrayEquals(e.getString("name"), new int[] {stored.getInt(0), stored.getInt(1)},
                    new int[] {img.width, img.height});
            if (e.getString("name").startsWith("exif_rotated")) {
                assertEquals(6, img.orientation);
                assertEquals(img.height, img.shownWidth());
            }
        }
    }
}
