package org.skinedge.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;
import org.json.JSONArray;
import org.json.JSONException;
import org.json.JSONObject;

/**
 * The model card (schema {@code skinedge.model_card/1}, skinedge/card.py): the only source of
 * the app's labels, input size, preprocessing policy, calibration, referral threshold, input
 * gate and intended use. Every field the app relies on is type- and range-checked here with
 * the rules of card.py, so a malformed or foreign card is refused with the field named.
 */
public final class ModelCard {
    public static final String SCHEMA = "skinedge.model_card/1";
    /** The preprocessing this core implements; a card asking for anything else is refused. */
    static final String RESIZE_POLICY = "shorter_side_then_center_crop";
    static final String INTERPOLATION = "bilinear";
    static final int MIN_INPUT_SIZE = 16;
    static final int MAX_INPUT_SIZE = 2048;
    static final int MAX_VIEWS = 64;
    private static final Pattern HEX64 = Pattern.compile("[0-9a-f]{64}");
    /** card.py MAX_DEPTH and PROSE_FIELDS: see {@link #checkText}. */
    static final int MAX_DEPTH = 32;
    private static final String PROSE_FIELD = "intended_use";

    public final String source;
    public final String architecture;
    public final int inputSize;
    public final List<String> labels;
    public final List<String> labelNames;
    public final String quantization;
    public final String format;
    public final String artifactFile;
    public final String integritySha256;
    /** Null when the card has none (uncalibrated, no threshold, no gate, no statement). */
    public final Calibration calibration;
    public final Referral referral;
    public final InputGate gate;
    public final IntendedUse intendedUse;
    /** The labels summed into the malignant probability where the card has no referral. */
    public final List<String> malignantLabels;
    /** Bounds on the work per image; the defaults for a card without the field. */
    public final ImageLimits imageLimits;
    /** The whole document, for fields shown as they are (metrics, software versions). */
    public final JSONObject json;

    private ModelCard(String source, JSONObject d) {
        this.source = source;
        this.json = d;
        requireAll(d, "architecture", "input_size", "mean", "std", "params", "flops", "labels");
        checkText(d, "", 0);
        architecture = string(d, "architecture", true);
        inputSize = intIn(d, "input_size", MIN_INPUT_SIZE, MAX_INPUT_SIZE);
        three(d, "mean", false);
        three(d, "std", true);
        intIn(d, "params", 0, Integer.MAX_VALUE);
        if (!(d.opt("flops") instanceof Number) || !isInt(d.opt("flops")) || d.optLong("flops") < 0) {
            throw field("flops", "must be an integer of at least 0", d.opt("flops"));
        }
        labels = labelList(d);
        labelNames = names(d, labels);
        exactly(d, "color_order", "RGB");
        exactly(d, "layout", "NCHW");
        exactly(d, "normalization", "in_graph");
        exactly(d, "resize", RESIZE_POLICY);
        exactly(d, "interpolation", INTERPOLATION);
        valueRange(d);
        if (d.has("views")) {
            intIn(d, "views", 1, MAX_VIEWS);
        }
        quantization = d.has("quantization") ? string(d, "quantization", false) : "none";
        format = d.has("format") ? string(d, "format", false) : "checkpoint";
        artifactFile = d.has("artifact_file") ? string(d, "artifact_file", false) : "";
        integritySha256 = d.has("integrity_sha256") ? hexOrEmpty(d, "integrity_sha256") : "";
        if (d.has("artifact_sha256")) {
            hexOrEmpty(d, "artifact_sha256");
        }
        for (String name : new String[] {"training", "metrics", "software"}) {
            object(d, name);
        }
        calibration = Calibration.parse(object(d, "calibration"), labels.size(), this::field);
        malignantLabels = malignant(d, labels);
        imageLimits = ImageLimits.parse(object(d, "image_limits"), this::field);
        referral = Referral.parse(object(d, "referral"), labels, malignantLabels, this::field);
        gate = InputGate.parse(object(d, "gate"), this::field);
        intendedUse = IntendedUse.parse(object(d, "intended_use"), this::field);
    }

    /** The card in {@code text} (UTF-8 JSON), from {@code source} (named in every error). */
    public static ModelCard parse(String text, String source) {
        Object doc;
        try {
            doc = new org.json.JSONTokener(text).nextValue();
        } catch (JSONException e) {
            throw new CardException(source + ": model card is not valid JSON (" + e.getMessage()
                    + "); export the model again");
        }
        if (!(doc instanceof JSONObject)) {
            throw new CardException(source + ": not a skinedge model card (not a JSON object)");
        }
        JSONObject d = (JSONObject) doc;
        Object schema = d.opt("schema");
        if (!SCHEMA.equals(schema)) {
            if (schema instanceof String && ((String) schema).startsWith("skinedge.model_card/")) {
                throw new CardException(source + ": model card schema '" + schema + "' is not the "
                        + "one this app reads (" + SCHEMA + "); use an app built for it, or export "
                        + "the model with a skinedge that writes " + SCHEMA);
            }
            throw new CardException(source + ": not a skinedge model card (schema "
                    + (schema == null ? "missing" : "'" + schema + "'") + ")");
        }
        return new ModelCard(source, d);
    }

    /** The card as UTF-8 bytes, as the .pte's {@code model_card} method and sidecar hold it. */
    public static ModelCard parse(byte[] utf8, String source) {
        java.nio.charset.CharsetDecoder dec = java.nio.charset.StandardCharsets.UTF_8.newDecoder();
        try {
            return parse(dec.decode(java.nio.ByteBuffer.wrap(utf8)).toString(), source);
        } catch (java.nio.charset.CharacterCodingException e) {
            throw new CardException(source + ": model card is not valid UTF-8, so the file is "
                    + "corrupt; export it again");
        }
    }

    public int labelIndex(String label) {
        return labels.indexOf(label);
    }

    /** Why a field is wrong, as card.py words it. */
    CardException field(String name, String problem) {
        return new CardException(source + ": model card field '" + name + "' " + problem);
    }

    private CardException field(String name, String problem, Object found) {
        String shown = String.valueOf(found);
        return field(name, problem + ", not " + (shown.length() > 60 ? shown.substring(0, 60) : shown));
    }

    private void requireAll(JSONObject d, String... names) {
        List<String> missing = new ArrayList<>();
        for (String n : names) {
            if (!d.has(n)) {
                missing.add(n);
            }
        }
        if (!missing.isEmpty()) {
            Collections.sort(missing);
            throw new CardException(source + ": model card lacks " + String.join(", ", missing));
        }
    }

    static boolean isInt(Object v) {
        return v instanceof Integer || v instanceof Long;
    }

    static boolean isNumber(Object v) {
        return v instanceof Number && Double.isFinite(((Number) v).doubleValue());
    }

    private String string(JSONObject d, String name, boolean nonEmpty) {
        Object v = d.opt(name);
        if (!(v instanceof String) || (nonEmpty && ((String) v).isEmpty())) {
            throw field(name, nonEmpty ? "must be a non-empty string" : "must be a string", v);
        }
        return (String) v;
    }

    private int intIn(JSONObject d, String name, int lo, int hi) {
        Object v = d.opt(name);
        if (!isInt(v) || ((Number) v).longValue() < lo || ((Number) v).longValue() > hi) {
            throw field(name, hi == Integer.MAX_VALUE ? "must be an integer of at least " + lo
                    : "must be an integer from " + lo + " to " + hi, v);
        }
        return ((Number) v).intValue();
    }

    private void three(JSONObject d, String name, boolean openLow) {
        JSONArray a = d.optJSONArray(name);
        if (a == null || a.length() != 3) {
            throw field(name, "must be a list of three numbers (R, G, B)", d.opt(name));
        }
        for (int i = 0; i < 3; i++) {
            Object x = a.opt(i);
            double v = isNumber(x) ? ((Number) x).doubleValue() : Double.NaN;
            if (!(openLow ? v > 0 : v >= 0) || !(v <= 1)) {
                throw field(name, "must be three numbers in " + (openLow ? "(" : "[") + "0, 1]", a);
            }
        }
    }

    private List<String> labelList(JSONObject d) {
        JSONArray a = d.optJSONArray("labels");
        if (a == null) {
            throw field("labels", "must be a list of class codes", d.opt("labels"));
        }
        if (a.length() < 2) {
            throw field("labels", "must list at least 2 classes", a);
        }
        List<String> out = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < a.length(); i++) {
            Object x = a.opt(i);
            if (!(x instanceof String) || ((String) x).trim().isEmpty()) {
                throw field("labels", "must be non-empty strings", a);
            }
            if (!seen.add((String) x)) {
                throw field("labels", "has duplicate label '" + x + "'");
            }
            out.add((String) x);
        }
        return Collections.unmodifiableList(out);
    }

    /** The array's items when every one is a string, else null (also for a missing array). */
    static List<String> strings(JSONArray a) {
        if (a == null) {
            return null;
        }
        List<String> out = new ArrayList<>();
        for (int i = 0; i < a.length(); i++) {
            if (!(a.opt(i) instanceof String)) {
                return null;
            }
            out.add(a.optString(i));
        }
        return out;
    }

    private List<String> names(JSONObject d, List<String> codes) {
        if (!d.has("label_names")) {
            return codes;  // the codes are the only names the card gives
        }
        List<String> out = strings(d.optJSONArray("label_names"));
        if (out == null) {
            throw field("label_names", "must be a list of strings", d.opt("label_names"));
        }
        if (out.size() != codes.size()) {
            throw field("label_names", "must give one per label (" + codes.size() + " labels, "
                    + out.size() + " names)");
        }
        return Collections.unmodifiableList(out);
    }

    private void exactly(JSONObject d, String name, String allowed) {
        if (d.has(name) && !allowed.equals(d.opt(name))) {
            throw field(name, "must be '" + allowed + "' (the preprocessing this app implements)",
                    d.opt(name));
        }
    }

    private void valueRange(JSONObject d) {
        if (!d.has("value_range")) {
            return;
        }
        JSONArray a = d.optJSONArray("value_range");
        if (a == null || a.length() != 2 || !isNumber(a.opt(0)) || !isNumber(a.opt(1))
                || a.optDouble(0) != 0 || a.optDouble(1) != 1) {
            throw field("value_range", "must be [0, 1] (what this app feeds)", d.opt("value_range"));
        }
    }

    private String hexOrEmpty(JSONObject d, String name) {
        Object v = d.opt(name);
        if (!(v instanceof String) || !(((String) v).isEmpty() || HEX64.matcher((String) v).matches())) {
            throw field(name, "must be empty or 64 hex digits (a sha256)", v);
        }
        return (String) v;
    }

    /** An optional object field: null when absent or empty ({} means "none" in card.py). */
    private JSONObject object(JSONObject d, String name) {
        if (!d.has(name)) {
            return null;
        }
        Object v = d.opt(name);
        if (!(v instanceof JSONObject)) {
            throw field(name, "must be a JSON object", v);
        }
        return ((JSONObject) v).length() == 0 ? null : (JSONObject) v;
    }

    /**
     * card.py _check_text: no string in the card (keys too) holds a control character (Unicode
     * Cc, Cf, Zl, Zp; "\n" allowed in the prose of intended_use), and nothing nests deeper than
     * MAX_DEPTH: the app shows card text as it is, so a label must not forge what it shows.
     */
    private void checkText(Object v, String path, int depth) {
        if (depth > MAX_DEPTH) {
            throw field(path.split("[.\\[]")[0], "nests deeper than " + MAX_DEPTH + " levels at " + path);
        }
        if (v instanceof String) {
            String c = control((String) v, path.split("[.\\[]")[0].equals(PROSE_FIELD));
            if (c != null) {
                String top = path.split("[.\\[]")[0];
                throw field(top, "holds a control character (" + c + ")"
                        + (path.equals(top) ? "" : " at " + path) + "; card text is shown as it "
                        + "is, so control characters (line breaks outside prose, terminal "
                        + "escapes, direction marks) are refused");
            }
        } else if (v instanceof JSONObject) {
            for (java.util.Iterator<String> it = ((JSONObject) v).keys(); it.hasNext(); ) {
                String k = it.next();
                String where = path.isEmpty() ? k : path + "." + k;
                if (control(k, false) != null) {
                    throw field(path.isEmpty() ? k : path.split("[.\\[]")[0],
                            "has a key holding a control character (" + control(k, false) + ")");
                }
                checkText(((JSONObject) v).opt(k), where, depth + 1);
            }
        } else if (v instanceof JSONArray) {
            for (int i = 0; i < ((JSONArray) v).length(); i++) {
                checkText(((JSONArray) v).opt(i), path + "[" + i + "]", depth + 1);
            }
        }
    }

    /** The first control character of {@code s} as Python's ascii() writes it; null if none. */
    static String control(String s, boolean prose) {
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            i += Character.charCount(cp);
            int t = Character.getType(cp);
            boolean bad = t == Character.CONTROL || t == Character.FORMAT
                    || t == Character.LINE_SEPARATOR || t == Character.PARAGRAPH_SEPARATOR;
            if (bad && !(prose && cp == '\n')) {
                if (cp == '\n' || cp == '\t' || cp == '\r') {
                    return cp == '\n' ? "\\n" : cp == '\t' ? "\\t" : "\\r";
                }
                return cp < 0x100 ? String.format("\\x%02x", cp)
                        : cp < 0x10000 ? String.format("\\u%04x", cp) : String.format("\\U%08x", cp);
            }
        }
        return null;
    }

    /** clinical.check_malignant_labels; a card without the field: clinical.default_malignant. */
    private List<String> malignant(JSONObject d, List<String> codes) {
        if (!d.has("malignant_labels")) {
            return codes.containsAll(Referral.LEGACY_MALIGNANT) ? Referral.LEGACY_MALIGNANT
                    : Collections.<String>emptyList();
        }
        List<String> out = strings(d.optJSONArray("malignant_labels"));
        if (out == null) {
            throw field("malignant_labels", "must be a list of label codes");
        }
        if (new HashSet<>(out).size() != out.size() || !codes.containsAll(out)) {
            throw field("malignant_labels", "must list distinct labels of this model");
        }
        return Collections.unmodifiableList(out);
    }

    /** How a part of the card reports a malformed field (name, problem). */
    interface FieldError {
        CardException of(String name, String problem);
    }
}
