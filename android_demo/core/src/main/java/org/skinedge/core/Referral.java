package org.skinedge.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import org.json.JSONArray;
import org.json.JSONObject;

/**
 * The card's {@code referral} (skinedge/clinical.py): the score task's labels, whose calibrated
 * probabilities add up to the malignant probability, and the threshold at or above which the
 * image is flagged to show a doctor.
 */
public final class Referral {
    /**
     * clinical.MALIGNANT: the malignant classes of a card that names none (no
     * {@code malignant_labels}: older exports) and has them all. Newer cards name their own.
     */
    static final List<String> LEGACY_MALIGNANT =
            Collections.unmodifiableList(Arrays.asList("akiec", "bcc", "mel"));

    public final String task;
    public final List<String> positives;
    /** NaN for a legacy card: no referral threshold. */
    public final double threshold;

    private Referral(String task, List<String> positives, double threshold) {
        this.task = task;
        this.positives = positives;
        this.threshold = threshold;
    }

    public boolean hasThreshold() {
        return !Double.isNaN(threshold);
    }

    /**
     * The card's referral; without one, the card's {@code malignant} labels give a malignant
     * probability but no threshold and no verdict (null when it names none).
     */
    static Referral parse(JSONObject v, List<String> labels, List<String> malignant,
                          ModelCard.FieldError err) {
        if (v == null) {
            return malignant.isEmpty() ? null : new Referral("malignant", malignant, Double.NaN);
        }
        JSONObject tasks = v.optJSONObject("tasks");
        if (tasks == null) {
            throw err.of("referral", "must be a JSON object with 'tasks' (empty: no referral "
                    + "threshold)");
        }
        Object score = v.opt("score");
        if (!(score instanceof String) || !tasks.has((String) score)) {
            throw err.of("referral", "must name its 'score' among its tasks");
        }
        Referral chosen = null;
        for (Iterator<String> it = tasks.keys(); it.hasNext(); ) {
            String name = it.next();
            JSONObject task = tasks.optJSONObject(name);
            Object t = task == null ? null : task.opt("threshold");
            if (!ModelCard.isNumber(t) || ((Number) t).doubleValue() < 0
                    || ((Number) t).doubleValue() > 1) {
                throw err.of("referral", "task '" + name + "' must have a threshold in [0, 1]");
            }
            JSONArray pos = task.optJSONArray("labels");
            List<String> positives = new ArrayList<>();
            for (int i = 0; pos != null && i < pos.length(); i++) {
                positives.add(String.valueOf(pos.opt(i)));
            }
            if (positives.isEmpty() || !labels.containsAll(positives)) {
                throw err.of("referral", "task '" + name + "' must list labels of this model");
            }
            if (name.equals(score)) {
                chosen = new Referral(name, Collections.unmodifiableList(positives), ((Number) t).doubleValue());
            }
        }
        return chosen;
    }

    /** Sum of the positives' probabilities [K] (label order of {@code labels}). */
    double score(double[] probs, List<String> labels) {
        double p = 0;
        for (String c : positives) {
            p += probs[labels.indexOf(c)];
        }
        return p;
    }
}
