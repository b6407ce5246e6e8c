package org.skinedge.core;

import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * What {@code skinedge.load(model).predict(image)} returns (skinedge/api.py Prediction):
 * label = argmax of the model's own softmax; probabilities of every class, calibrated per the
 * card when {@code calibrated}; the top k; the malignant probability, referral verdict and
 * threshold (null without them in the card); the gate's verdict (null without a gate).
 */
public final class Prediction {
    public final String label;
    public final Map<String, Double> probabilities;
    public final List<Map.Entry<String, Double>> topK;
    public final boolean calibrated;
    public final Double malignantProbability;
    public final Boolean refer;
    public final Double threshold;
    public final GateVerdict gate;

    Prediction(String label, Map<String, Double> probabilities,
               List<Map.Entry<String, Double>> topK, boolean calibrated,
               Double malignantProbability, Boolean refer, Double threshold, GateVerdict gate) {
        this.label = label;
        this.probabilities = Collections.unmodifiableMap(probabilities);
        this.topK = Collections.unmodifiableList(topK);
        this.calibrated = calibrated;
        this.malignantProbability = malignantProbability;
        this.refer = refer;
        this.threshold = threshold;
        this.gate = gate;
    }
}
