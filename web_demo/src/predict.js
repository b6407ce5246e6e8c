// What skinedge.load(path).predict(image) returns (api.py Prediction.to_dict), from the model's
// logits and the card: softmax, the card's calibration (calibration.apply_card), top-k, the
// malignant probability and referral (api.referral), the input gate's verdict (gate.js).

import { assess } from "./gate.js";

/** Softmax of raw outputs in float64 (api.softmax). */
export function softmax(z) {
  const m = Math.max(...z);
  const e = Array.from(z, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** calibration.apply_card of raw outputs `z` (logits or log-probabilities): softmax(z / T + bias),
 * plain softmax when the card has no calibration. */
export function applyCalibration(z, calibration) {
  if (!calibration || !Object.keys(calibration).length) return softmax(z);
  return softmax(Array.from(z, (v, i) => v / calibration.temperature + calibration.bias[i]));
}

/** Indices of `probs` by descending probability, ties in class order (a stable sort). */
export function topOrder(probs) {
  return probs.map((p, i) => i).sort((a, b) => probs[b] - probs[a] || a - b);
}

/** api.referral: malignant_probability, refer and threshold of calibrated probabilities; without a
 * referral field, the sum over the card's malignant_labels (card.js fills them for older cards). */
export function referral(card, probs) {
  const ref = card.referral || {};
  const task = Object.keys(ref).length ? ref.tasks[ref.score] : null;
  const positives = task ? task.labels : card.malignant_labels;
  if (!positives.length) return {};
  const p = positives.reduce((acc, c) => acc + probs[card.labels.indexOf(c)], 0);
  if (!task) return { malignant_probability: p };
  return { malignant_probability: p, refer: p >= task.threshold, threshold: task.threshold };
}

/**
 * The prediction of one image, as Prediction.to_dict: `raw` the model's softmax [K] (label
 * order), `verdict` the gate's (null: the card has no gate), `topK` how many classes to list.
 */
export function prediction(card, raw, verdict, source, topK) {
  const cal = card.calibration && Object.keys(card.calibration).length ? card.calibration : null;
  const probs = cal ? applyCalibration(raw.map((p) => Math.log(p)), cal) : raw.slice();
  const argmax = raw.indexOf(Math.max(...raw));
  const order = topOrder(probs).slice(0, topK);
  return {
    source,
    label: card.labels[argmax],
    probabilities: Object.fromEntries(card.labels.map((c, i) => [c, probs[i]])),
    top_k: order.map((i) => ({ label: card.labels[i], probability: probs[i] })),
    error: null,
    calibrated: Boolean(cal),
    malignant_probability: null,
    refer: null,
    threshold: null,
    ...referral(card, probs),
    gate: verdict,
  };
}

/**
 * A model image and the model's logits -> the prediction: `image` uint8 [S, S, 3], `size` the
 * original's [w, h], `logits` the model's output [K]. A non-finite output gives no label.
 */
export function predictFromLogits(card, image, size, logits, source, topK = card.labels.length) {
  const verdict = Object.keys(card.gate || {}).length ? assess(image, card.input_size, size, card.gate) : null;
  if (!Array.from(logits).every(Number.isFinite)) {
    return { source, label: null, probabilities: {}, top_k: [], calibrated: false,
      error: `${source}: the model's output is not finite (NaN or inf), so no label is given; the model may be corrupt`,
      malignant_probability: null, refer: null, threshold: null, gate: verdict };
  }
  return prediction(card, softmax(Array.from(logits)), verdict, source, topK);
}
