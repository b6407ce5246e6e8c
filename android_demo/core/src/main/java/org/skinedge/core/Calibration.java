package org.skinedge.core;

import org.json.JSONArray;
import org.json.JSONObject;

/**
 * The card's {@code calibration} (skinedge/calibration.py): raw outputs z become
 * {@code softmax(z / temperature + bias)}, bias = log(prevalence) - log(model prior) per label.
 * The app feeds {@code z = log(softmax(logits))}, as {@code skinedge.predict} does.
 */
public final class Calibration {
    static final double T_MIN = 0.05;
    static final double T_MAX = 20.0;

    public final double temperature;
    private final double[] bias;

    private Calibration(double temperature, double[] bias) {
        this.temperature = temperature;
        this.bias = bias;
    }

    static Calibration parse(JSONObject v, int nLabels, ModelCard.FieldError err) {
        if (v == null) {
            return null;
        }
        Object t = v.opt("temperature");
        if (!ModelCard.isNumber(t) || ((Number) t).doubleValue() < T_MIN
                || ((Number) t).doubleValue() > T_MAX) {
            throw err.of("calibration", "must have a temperature in [0.05, 20]");
        }
        JSONArray b = v.optJSONArray("bias");
        double[] bias = new double[nLabels];
        for (int i = 0; b != null && b.length() == nLabels && i < nLabels; i++) {
            Object x = b.opt(i);
            if (!ModelCard.isNumber(x) || Math.abs(((Number) x).doubleValue()) >= 50) {
                b = null;
                break;
            }
            bias[i] = ((Number) x).doubleValue();
        }
        if (b == null || b.length() != nLabels) {
            throw err.of("calibration", "must have a bias of " + nLabels + " finite numbers (one "
                    + "per label)");
        }
        return new Calibration(((Number) t).doubleValue(), bias);
    }

    /** Calibrated probabilities [K] from the model's own softmax [K]. */
    public double[] apply(double[] raw) {
        double[] z = new double[raw.length];
        for (int i = 0; i < raw.length; i++) {
            z[i] = Math.log(raw[i]) / temperature + bias[i];
        }
        return Softmax.of(z);
    }
}
