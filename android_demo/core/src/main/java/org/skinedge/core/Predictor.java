package org.skinedge.core;

import java.util.AbstractMap;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Everything after the model runs, per the card: softmax, calibration, top-k, referral and the
 * input gate (skinedge/api.py Classifier._result). The app runs the .pte on
 * {@link ModelImage#toNchw()} and hands the logits here.
 */
public final class Predictor {
    private final ModelCard card;

    public Predictor(ModelCard card) {
        this.card = card;
    }

    /**
     * The prediction from the model's logits [K] for one image. Throws ModelException when
     * there are not K of them (the card belongs to another model) or one is not finite.
     */
    public Prediction fromLogits(float[] logits, ModelImage image, int topK) {
        if (logits.length != card.labels.size()) {
            throw new ModelException(card.source + ": the model gave " + logits.length
                    + " outputs, but its card has " + card.labels.size() + " labels: the card "
                    + "belongs to another model; export it again");
        }
        for (float v : logits) {
            if (!Float.isFinite(v)) {
                throw new ModelException(card.source + ": the model's output is not finite (NaN "
                        + "or inf), so no label is given; the model may be corrupt: export it again");
            }
        }
        return fromProbabilities(Softmax.ofLogits(logits), image, topK);
    }

    /** The prediction from the model's own softmax [K] (golden {@code probabilities}). */
    public Prediction fromProbabilities(double[] raw, ModelImage image, int topK) {
        if (image.size != card.inputSize) {
            throw new ImageException(card.source + ": a " + image.size + " px model image for a "
                    + "model whose card says input_size " + card.inputSize + "; preprocess the "
                    + "image with this model's card");
        }
        List<String> labels = card.labels;
        int best = 0;
        for (int i = 1; i < raw.length; i++) {
            if (raw[i] > raw[best]) {
                best = i;
            }
        }
        double[] probs = card.calibration != null ? card.calibration.apply(raw) : raw.clone();
        Map<String, Double> byLabel = new LinkedHashMap<>();
        for (int i = 0; i < labels.size(); i++) {
            byLabel.put(labels.get(i), probs[i]);
        }
        Integer[] order = new Integer[probs.length];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> Double.compare(probs[b], probs[a]));  // stable: ties by index
        List<Map.Entry<String, Double>> top = new ArrayList<>();
        for (int i = 0; i < Math.min(Math.max(topK, 1), order.length); i++) {
            top.add(new AbstractMap.SimpleImmutableEntry<>(labels.get(order[i]), probs[order[i]]));
        }
        Referral ref = card.referral;
        Double malignant = null, threshold = null;
        Boolean refer = null;
        if (ref != null) {
            malignant = ref.score(probs, labels);
            if (ref.hasThreshold()) {
                threshold = ref.threshold;
                refer = malignant >= ref.threshold;
            }
        }
        GateVerdict verdict = card.gate != null ? card.gate.assess(image) : null;
        return new Prediction(labels.get(best), byLabel, top, card.calibration != null,
                malignant, refer, threshold, verdict);
    }
}
