package org.skinedge.core;

import static org.hamcrest.CoreMatchers.containsString;
import static org.hamcrest.MatcherAssert.assertThat;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.lang.reflect.Constructor;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Arrays;
import java.util.Collections;
import org.json.JSONArray;
import org.json.JSONObject;
import org.junit.BeforeClass;
import org.junit.Test;

/**
 * Issue 24: the hostile trust fields every app must refuse (tests/fixtures/hostile_cards.json,
 * the same cases the Python, web and iOS checks get), an OOD score that is not finite and so
 * never "usable", card text that could forge what the app shows, and the image limits and
 * fallback malignant labels read from the card.
 */
public class HostileCardTest {
    private static JSONObject fixture;
    private static JSONObject shipped;

    @BeforeClass
    public static void load() throws Exception {
        Path dir = fixtures();
        fixture = new JSONObject(read(dir.resolve("hostile_cards.json")));
        shipped = new JSONObject(read(dir.resolve("../../skinedge/assets/default_model/card.json")));
    }

    /** tests/fixtures of the repository: -Dskinedge.fixtures, or found from the working folder. */
    private static Path fixtures() {
        String given = System.getProperty("skinedge.fixtures");
        for (String p : given != null ? new String[] {given}
                : new String[] {"tests/fixtures", "../../tests/fixtures", "../tests/fixtures"}) {
            if (Files.isRegularFile(Paths.get(p, "hostile_cards.json"))) {
                return Paths.get(p);
            }
        }
        throw new IllegalStateException("tests/fixtures/hostile_cards.json not found: run from the "
                + "repository root or set -Dskinedge.fixtures");
    }

    private static String read(Path p) throws Exception {
        return new String(Files.readAllBytes(p), StandardCharsets.UTF_8);
    }

    /** The fixture's edit: {"a.b": value} sets gate.a.b; {"fill": x} fills a matrix. */
    private static JSONObject edit(JSONObject gate, JSONObject edit) throws Exception {
        JSONObject out = new JSONObject(gate.toString());
        for (java.util.Iterator<String> it = edit.keys(); it.hasNext(); ) {
            String path = it.next();
            String[] keys = path.split("\\.");
            JSONObject parent = out;
            for (int i = 0; i < keys.length - 1; i++) {
                parent = parent.getJSONObject(keys[i]);
            }
            String last = keys[keys.length - 1];
            Object value = edit.get(path);
            if (value instanceof JSONObject && ((JSONObject) value).has("fill")) {
                JSONArray rows = parent.getJSONArray(last), filled = new JSONArray();
                for (int r = 0; r < rows.length(); r++) {
                    JSONArray row = new JSONArray();
                    for (int c = 0; c < rows.getJSONArray(r).length(); c++) {
                        row.put(((JSONObject) value).get("fill"));
                    }
                    filled.put(row);
                }
                value = filled;
            }
            parent.put(last, value);
        }
        return out;
    }

    private static String refusal(JSONObject card) {
        return assertThrows(CardException.class, () -> ModelCard.parse(card.toString(), "h.pte"))
                .getMessage();
    }

    @Test
    public void everyHostileGateIsRefused() throws Exception {
        ModelCard.parse(shipped.toString(), "shipped.json");
        JSONArray gates = fixture.getJSONArray("gates");
        for (int i = 0; i < gates.length(); i++) {
            JSONObject c = gates.getJSONObject(i);
            JSONObject card = new JSONObject(shipped.toString())
                    .put("gate", edit(shipped.getJSONObject("gate"), c.getJSONObject("edit")));
            assertThat(c.getString("name"), refusal(card), containsString("field 'gate'"));
        }
    }

    @Test
    public void aNonFiniteOodScoreIsNotUsable() throws Exception {
        JSONObject g = edit(shipped.getJSONObject("gate"), fixture.getJSONObject("nan_gate"));
        JSONObject ood = g.getJSONObject("ood");
        int n = InputGate.FEATURES.size();
        double[] mean = new double[n];
        double[][] precision = new double[n][n];
        for (int i = 0; i < n; i++) {
            mean[i] = ood.getJSONArray("mean").getDouble(i);
            for (int j = 0; j < n; j++) {
                precision[i][j] = ood.getJSONArray("precision").getJSONArray(i).getDouble(j);
            }
        }
        // Past the card check (which refuses these statistics): the verdict itself must hold.
        Constructor<InputGate> make = InputGate.class.getDeclaredConstructor(int.class,
                double.class, double.class, double.class, double.class, double[].class,
                double[][].class);
        make.setAccessible(true);
        InputGate gate = make.newInstance(g.getInt("min_side"), 0.0, 1.0, -1.0,
                ood.getDouble("threshold"), mean, precision);
        int s = shipped.getInt("input_size");
        byte[] rgb = new byte[s * s * 3];
        for (int i = 0; i < rgb.length; i++) {
            rgb[i] = (byte) (100 + (i * 13) % 90);
        }
        GateVerdict v = gate.assess(ModelImage.ofBytes(rgb, s, 600, 450, "x.u8"));
        assertTrue(Double.isNaN(gate.oodScore(InputGate.features(ModelImage.ofBytes(rgb, s, 600,
                450, "x.u8")))));
        assertFalse(v.usable);
        assertThat(v.reasons.toString(), containsString("not finite"));
    }

    @Test
    public void aReferralScoreThatIsNoTaskIsRefused() throws Exception {
        JSONArray referrals = fixture.getJSONArray("referrals");
        for (int i = 0; i < referrals.length(); i++) {
            JSONObject c = referrals.getJSONObject(i);
            JSONObject card = new JSONObject(shipped.toString())
                    .put("referral", c.getJSONObject("referral"));
            assertThat(c.getString("name"), refusal(card), containsString("field 'referral'"));
        }
    }

    @Test
    public void cardTextWithControlCharactersIsRefused() throws Exception {
        JSONObject card = new JSONObject(shipped.toString());
        JSONArray labels = card.getJSONArray("labels");
        labels.put(4, "mel\n/fake/other.jpg: nv (Melanocytic nevi)  no referral");
        assertThat(refusal(card), containsString("field 'labels' holds a control character (\\n)"));
        JSONObject names = new JSONObject(shipped.toString());
        names.getJSONArray("label_names").put(0, "\u001b[2Ksha256 ok");
        assertThat(refusal(names), containsString("field 'label_names' holds a control character (\\x1b)"));
        JSONObject bidi = new JSONObject(shipped.toString()).put("architecture", "cnn\u202e");
        assertThat(refusal(bidi), containsString("field 'architecture'"));
        JSONObject prose = new JSONObject(shipped.toString());
        prose.getJSONObject("intended_use").put("summary", "Research.\nNot a medical device.");
        assertEquals("Research.\nNot a medical device.",
                ModelCard.parse(prose.toString(), "p.json").intendedUse.summary);
    }

    @Test
    public void imageLimitsAndFallbackMalignantLabelsComeFromTheCard() throws Exception {
        JSONObject old = new JSONObject(shipped.toString());
        old.remove("referral");
        ModelCard legacy = ModelCard.parse(old.toString(), "old.json");
        assertEquals(Arrays.asList("akiec", "bcc", "mel"), legacy.referral.positives);
        JSONObject mine = new JSONObject(old.toString())
                .put("malignant_labels", new JSONArray(Collections.singletonList("mel")))
                .put("image_limits", new JSONObject().put("min_side", 12));
        ModelCard card = ModelCard.parse(mine.toString(), "mine.json");
        assertEquals(Collections.singletonList("mel"), card.referral.positives);
        DecodedImage small = DecodedImage.fromSamples("s.png", 12, 10, 1, 8, 1, new int[120]);
        assertThat(assertThrows(ImageException.class, () -> ModelImage.of(small, card)).getMessage(),
                containsString("s.png: image is 12x10, too small to classify (min side 12 px)"));
        DecodedImage wide = DecodedImage.fromSamples("w.png", 1001, 100, 1, 8, 1, new int[100100]);
        assertThat(assertThrows(ImageException.class, () -> ModelImage.of(wide, card)).getMessage(),
                containsString("aspect ratio 1001:100, over the 10:1 limit"));
        assertThat(refusal(new JSONObject(old.toString()).put("image_limits",
                new JSONObject().put("max_pixels", 1000000000000L))), containsString("'image_limits'"));
        assertThat(refusal(new JSONObject(old.toString()).put("malignant_labels",
                new JSONArray(Collections.singletonList("zzz")))), containsString("'malignant_labels'"));
    }
}
