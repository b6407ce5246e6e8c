// The input gate (skinedge/gate.py), re-implemented statistic by statistic: is a model image
// usable at all? Thresholds come from the card's `gate` field; the verdict never changes the
// classification, it rides along with it.

import { pyFixed, pyRound } from "./pyformat.js";

export const FEATURES = ["mean_r", "mean_g", "mean_b", "std_r", "std_g", "std_b", "chroma_r", "chroma_g",
  "saturation", "grey_share", "rgb_order_share", "sharpness", "edge_density", "center_minus_border"];
const EPS = 1e-6;
// gate.py's ranges (MIN_SIDE_RANGE, SHARPNESS_RANGE, FEATURE_BOUND, PRECISION_BOUND,
// THRESHOLD_MAX): within them every statistic is finite.
export const MIN_SIDE_RANGE = [1, 65536];
export const SHARPNESS_RANGE = [-1, 10];
export const FEATURE_BOUND = 10;
export const PRECISION_BOUND = 1e12;
export const THRESHOLD_MAX = 1e12;

const mean = (a) => { let s = 0; for (const v of a) s += v; return s / a.length; };
const std = (a) => { const m = mean(a); let s = 0; for (const v of a) s += (v - m) * (v - m); return Math.sqrt(s / a.length); };

/** uint8 [S, S, 3] -> Float64Array [S*S] Rec. 601 luma in [0, 1]. */
export function luminance(img) {
  const n = img.length / 3;
  const y = new Float64Array(n);
  for (let p = 0; p < n; p++) {
    y[p] = 0.299 * (img[3 * p] / 255) + 0.587 * (img[3 * p + 1] / 255) + 0.114 * (img[3 * p + 2] / 255);
  }
  return y;
}

/** log10 variance of the 4-neighbour Laplacian of the luma (0..255) over the inner pixels. */
export function sharpness(img, s) {
  const y = luminance(img).map((v) => v * 255);
  const lap = new Float64Array((s - 2) * (s - 2));
  let i = 0;
  for (let r = 1; r < s - 1; r++) {
    for (let c = 1; c < s - 1; c++) {
      lap[i++] = y[(r - 1) * s + c] + y[(r + 1) * s + c] + y[r * s + c - 1] + y[r * s + c + 1] - 4 * y[r * s + c];
    }
  }
  const sd = std(lap);
  return Math.log10(sd * sd + 1);
}

/** uint8 [S, S, 3] -> the 14 features, in FEATURES order. */
export function features(img, s) {
  const n = s * s;
  const ch = [0, 1, 2].map((c) => Float64Array.from({ length: n }, (_, p) => img[3 * p + c] / 255));
  const [r, g, b] = ch;
  const cr = new Float64Array(n), cg = new Float64Array(n), sat = new Float64Array(n);
  let grey = 0, order = 0;
  for (let p = 0; p < n; p++) {
    const total = r[p] + g[p] + b[p] + EPS;
    cr[p] = r[p] / total;
    cg[p] = g[p] / total;
    const hi = Math.max(r[p], g[p], b[p]), lo = Math.min(r[p], g[p], b[p]);
    sat[p] = (hi - lo) / (hi + EPS);
    if (sat[p] < 0.1) grey++;
    if (r[p] >= g[p] && g[p] >= b[p]) order++;
  }
  const y = luminance(img);
  let gy = 0, gx = 0;
  for (let row = 0; row < s; row++) {
    for (let c = 0; c < s; c++) {
      if (row + 1 < s) gy += Math.abs(y[(row + 1) * s + c] - y[row * s + c]);
      if (c + 1 < s) gx += Math.abs(y[row * s + c + 1] - y[row * s + c]);
    }
  }
  const q = Math.floor(s / 4);
  let all = 0, inner = 0, innerN = 0;
  for (let row = 0; row < s; row++) {
    for (let c = 0; c < s; c++) {
      all += y[row * s + c];
      if (row >= q && row < s - q && c >= q && c < s - q) { inner += y[row * s + c]; innerN++; }
    }
  }
  const border = (all - inner) / (n - innerN);
  return [mean(r), mean(g), mean(b), std(r), std(g), std(b), mean(cr), mean(cg), mean(sat),
    grey / n, order / n, sharpness(img, s),
    Math.log10(gy / ((s - 1) * s) + gx / (s * (s - 1)) + 1e-4), inner / innerN - border];
}

/** Squared Mahalanobis distance of a feature vector from the card's `ood` statistics. */
export function oodScore(feats, ood) {
  const d = feats.map((v, i) => v - ood.mean[i]);
  const dp = d.map((_, j) => d.reduce((acc, di, i) => acc + di * ood.precision[i][j], 0));
  return dp.reduce((acc, v, j) => acc + v * d[j], 0);
}

/** gate.assess: the verdict {usable, reasons, scores} on a model image uint8 [S, S, 3] whose
 * original was `size` = [w, h]. */
export function assess(img, s, size, gate) {
  const feats = features(img, s);
  const lum = mean(luminance(img));
  const scores = { min_side: Math.min(...size), luminance: lum,
    sharpness: feats[FEATURES.indexOf("sharpness")], ood: oodScore(feats, gate.ood) };
  const reasons = [];
  if (Math.min(...size) < gate.min_side) {
    reasons.push(`too small: ${size[0]}x${size[1]} px, under ${gate.min_side} px on the shorter side`);
  }
  const [lo, hi] = gate.luminance;
  if (lum < lo || lum > hi) {
    reasons.push(`too ${lum < lo ? "dark" : "bright"}: mean luminance ${pyFixed(lum, 2)}, ` +
      `outside [${pyFixed(lo, 2)}, ${pyFixed(hi, 2)}]`);
  }
  if (scores.sharpness < gate.sharpness_min) {
    reasons.push(`blurred: sharpness ${pyFixed(scores.sharpness, 2)}, under ${pyFixed(gate.sharpness_min, 2)}`);
  }
  if (!Number.isFinite(scores.ood)) { // NaN > threshold is false: never "usable" on it
    reasons.push("does not look like a dermoscopic skin image: OOD score not finite " +
      "(the card's gate statistics are corrupt)");
  } else if (scores.ood > gate.ood.threshold) {
    reasons.push(`does not look like a dermoscopic skin image: OOD score ${pyFixed(scores.ood, 1)} ` +
      `over ${pyFixed(gate.ood.threshold, 1)}`);
  }
  const rounded = Object.fromEntries(Object.entries(scores).map(([k, v]) => [k, pyRound(v, 4)]));
  return { usable: reasons.length === 0, reasons, scores: rounded };
}

const numbers = (v, n) => Array.isArray(v) && (n === undefined || v.length === n) &&
  v.every((x) => typeof x === "number" && Number.isFinite(x));

/** gate.check_gate: "" when `v` is a usable gate field (or empty), else what is wrong. */
export function checkGate(v) {
  if (v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 0) return "";
  if (!v || typeof v !== "object" || Array.isArray(v)) return "must be a JSON object (empty: no input gate)";
  const lum = v.luminance, ood = v.ood;
  if (!Number.isInteger(v.min_side) || !numbers(lum, 2) || !numbers([v.sharpness_min])) {
    return "must have min_side (integer), luminance [low, high] and sharpness_min";
  }
  if (v.min_side < MIN_SIDE_RANGE[0] || v.min_side > MIN_SIDE_RANGE[1]) {
    return `must have min_side from ${MIN_SIDE_RANGE[0]} to ${MIN_SIDE_RANGE[1]} px`;
  }
  if (!(lum[0] >= 0 && lum[0] <= lum[1] && lum[1] <= 1)) return "must have luminance [low, high] with 0 <= low <= high <= 1";
  if (v.sharpness_min < SHARPNESS_RANGE[0] || v.sharpness_min > SHARPNESS_RANGE[1]) {
    return `must have sharpness_min in [${SHARPNESS_RANGE[0]}, ${SHARPNESS_RANGE[1]}]`;
  }
  const n = FEATURES.length;
  if (!ood || typeof ood !== "object" || JSON.stringify(ood.features) !== JSON.stringify(FEATURES) ||
      !numbers(ood.mean, n) || !numbers([ood.threshold]) || !Array.isArray(ood.precision) ||
      ood.precision.length !== n || !ood.precision.every((row) => numbers(row, n))) {
    return `must have ood statistics over the ${n} features this version computes`;
  }
  if (!ood.mean.every((x) => Math.abs(x) <= FEATURE_BOUND) ||
      !ood.precision.every((row) => row.every((x) => Math.abs(x) <= PRECISION_BOUND)) ||
      !(ood.threshold > 0 && ood.threshold <= THRESHOLD_MAX)) {
    return `must have ood mean within +-${FEATURE_BOUND}, precision within +-${PRECISION_BOUND} ` +
      `and a threshold in (0, ${THRESHOLD_MAX}]`;
  }
  return "";
}
