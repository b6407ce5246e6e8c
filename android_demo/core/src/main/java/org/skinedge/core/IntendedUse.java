package org.skinedge.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.json.JSONArray;
import org.json.JSONObject;

/** The card's {@code intended_use}: what the model is for, and what it has not seen. */
public final class IntendedUse {
    public final String summary;
    public final List<String> limitations;

    private IntendedUse(String summary, List<String> limitations) {
        this.summary = summary;
        this.limitations = limitations;
    }

    static IntendedUse parse(JSONObject v, ModelCard.FieldError err) {
        if (v == null) {
            return null;
        }
        Object s = v.opt("summary");
        if (!(s instanceof String) || ((String) s).isEmpty()) {
            throw err.of("intended_use", "must be a JSON object with a non-empty 'summary'");
        }
        List<String> out = new ArrayList<>();
        if (v.has("limitations")) {
            out = ModelCard.strings(v.optJSONArray("limitations"));
            if (out == null) {
                throw err.of("intended_use", "must have 'limitations' as a list of strings");
            }
        }
        return new IntendedUse((String) s, Collections.unmodifiableList(out));
    }
}
