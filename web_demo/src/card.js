// The model card (skinedge/card.py): read from an .onnx file's metadata_props, checked field by
// field as ModelCard.from_dict checks it, its integrity hash verified over the file's bytes, and
// the graph's input compared with the card's input size. The page takes labels, preprocessing
// and the trust fields (calibration, referral, gate, intended use) from here and nowhere else.

import { ModelError } from "./errors.js";
import { readOnnx } from "./onnx_meta.js";
import { sha256Hex } from "./sha256.js";
import { checkGate } from "./gate.js";
import { DEFAULT_LIMITS } from "./preprocess.js";

export const CARD_SCHEMA = "skinedge.model_card/1";
export const CARD_KEY = "skinedge.model_card";
const PLACEHOLDER = "0".repeat(64);
const T_RANGE = [0.05, 20.0];
const SEALED_ERA_FIELDS = ["calibration", "referral", "gate", "intended_use", "image_limits", "malignant_labels"];
const SEALED_SINCE = [0, 2];
// clinical.MALIGNANT: a card without `malignant_labels` (older exports) sums these when it has
// all three and no referral field; newer cards name their own.
const DEFAULT_MALIGNANT = ["akiec", "bcc", "mel"];
// card.py MAX_DEPTH, _CONTROL (Unicode Cc, Cf, Zl, Zp) and PROSE_FIELDS: card text is shown as
// text, so no string in a card may hold a control character ("\n" allowed in prose).
const MAX_DEPTH = 32;
const CONTROL = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;
const PROSE_FIELDS = ["intended_use"];
const has = (o, k) => Object.hasOwn(o, k); // never `in`: it walks the prototype chain
const isNumber = (v) => typeof v === "number" && Number.isFinite(v);
const isInt = (v) => Number.isInteger(v);
const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const isEmpty = (v) => isObject(v) && Object.keys(v).length === 0;

function three(lo, hi, openLow = false) {
  return (v) => {
    if (!Array.isArray(v) || v.length !== 3) return "must be a list of three numbers (R, G, B)";
    if (!v.every(isNumber)) return "must be three finite numbers";
    if (!v.every((x) => (openLow ? lo < x : lo <= x) && x <= hi)) {
      return `must be three numbers in ${openLow ? "(" : "["}${lo}, ${hi}]`;
    }
    return "";
  };
}

const exactly = (want) => (v) => (JSON.stringify(v) === JSON.stringify(want) ? ""
  : `must be ${JSON.stringify(want)} (what skinedge feeds)`);
const kind = (check, what) => (v) => (check(v) ? "" : `must be ${what}`);

// card.py's _FIELD_RULES for the fields the page reads: preprocessing fields admit only what
// the preprocessing here does, so a card asking for anything else is refused, not misread.
const RULES = {
  architecture: kind((v) => typeof v === "string" && v.length > 0, "a non-empty string"),
  input_size: kind((v) => isInt(v) && v >= 16 && v <= 2048, "an integer from 16 to 2048"),
  mean: three(0, 1),
  std: three(0, 1, true),
  labels: (v) => {
    if (!Array.isArray(v)) return "must be a list of class codes";
    if (v.length < 2) return "must list at least 2 classes";
    if (!v.every((x) => typeof x === "string" && x.trim())) return "must be non-empty strings";
    return new Set(v).size === v.length ? "" : "has a duplicate label";
  },
  label_names: kind((v) => Array.isArray(v) && v.every((x) => typeof x === "string"), "a list of strings"),
  color_order: exactly("RGB"),
  value_range: (v) => (Array.isArray(v) && v.length === 2 && v[0] === 0 && v[1] === 1 ? ""
    : "must be [0, 1] (what skinedge feeds)"),
  layout: exactly("NCHW"),
  normalization: exactly("in_graph"),
  resize: exactly("shorter_side_then_center_crop"),
  interpolation: exactly("bilinear"),
  views: kind((v) => isInt(v) && v >= 1 && v <= 64, "an integer from 1 to 64"),
  calibration: kind(isObject, "a JSON object"),
  referral: kind(isObject, "a JSON object"),
  gate: kind(isObject, "a JSON object"),
  intended_use: kind(isObject, "a JSON object"),
  integrity_sha256: kind((v) => v === "" || /^[0-9a-f]{64}$/.test(v), "empty or 64 hex digits (a sha256)"),
};

/** calibration.check_calibration */
export function checkCalibration(v, nLabels) {
  if (isEmpty(v)) return "";
  const t = v.temperature, b = v.bias;
  if (!isNumber(t) || t < T_RANGE[0] || t > T_RANGE[1]) return `must have a temperature in [${T_RANGE[0]}, ${T_RANGE[1]}]`;
  if (!Array.isArray(b) || b.length !== nLabels || !b.every((x) => isNumber(x) && Math.abs(x) < 50)) {
    return `must have a bias of ${nLabels} finite numbers (one per label)`;
  }
  return "";
}

/** clinical.check_referral */
export function checkReferral(v, labels) {
  if (isEmpty(v)) return "";
  if (!isObject(v.tasks)) return "must be a JSON object with 'tasks' (empty: no referral threshold)";
  if (typeof v.score !== "string" || !has(v.tasks, v.score)) return "must name its 'score' among its tasks";
  for (const [name, task] of Object.entries(v.tasks)) {
    const t = isObject(task) ? task.threshold : undefined;
    if (!isNumber(t) || t < 0 || t > 1) return `task '${name}' must have a threshold in [0, 1]`;
    const pos = task.labels;
    if (!Array.isArray(pos) || !pos.length || !pos.every((c) => labels.includes(c))) {
      return `task '${name}' must list labels of this model`;
    }
  }
  return "";
}

/** clinical.check_intended_use */
export function checkIntendedUse(v) {
  if (isEmpty(v)) return "";
  if (typeof v.summary !== "string" || !v.summary) return "must be a JSON object with a non-empty 'summary'";
  const lim = v.limitations ?? [];
  if (!Array.isArray(lim) || !lim.every((x) => typeof x === "string")) return "must have 'limitations' as a list of strings";
  return "";
}

/** clinical.check_malignant_labels */
export function checkMalignantLabels(v, labels) {
  if (!Array.isArray(v) || !v.every((c) => typeof c === "string")) return "must be a list of label codes";
  if (new Set(v).size !== v.length || !v.every((c) => labels.includes(c))) return "must list distinct labels of this model";
  return "";
}

/** preprocess.check_image_limits: known keys, integers from 1 to the default (min_side: to
 * MAX_MIN_SIDE), so a card cannot make the page take on more work. */
const MAX_MIN_SIDE = 65536;
export function checkImageLimits(v) {
  if (!isObject(v)) return "must be a JSON object";
  const unknown = Object.keys(v).filter((k) => !has(DEFAULT_LIMITS, k)).sort();
  if (unknown.length) return `has unknown key(s) ${unknown.join(", ")}`;
  for (const [key, value] of Object.entries(v)) {
    const top = key === "min_side" ? MAX_MIN_SIDE : DEFAULT_LIMITS[key];
    if (!isInt(value) || value < 1 || value > top) return `must have ${key} an integer from 1 to ${top}`;
  }
  return "";
}

/** card._text_problem: [where, what] of the first string holding a control character, or of
 * nesting deeper than MAX_DEPTH; null when there is none. */
function textProblem(v, path = "", depth = 0) {
  if (depth > MAX_DEPTH) return [path, `nests deeper than ${MAX_DEPTH} levels`];
  const escape = (c) => { // as Python's ascii() writes it
    const n = c.codePointAt(0), hex = (w) => n.toString(16).padStart(w, "0");
    return { 9: "\\t", 10: "\\n", 13: "\\r" }[n] ?? (n < 256 ? `\\x${hex(2)}` : n < 65536 ? `\\u${hex(4)}` : `\\U${hex(8)}`);
  };
  const bad = (text, prose) => [...text].find((c) => CONTROL.test(c) && !(prose && c === "\n"));
  if (typeof v === "string") {
    const c = bad(v, PROSE_FIELDS.includes(path.split(/[.[]/)[0]));
    return c ? [path, `holds a control character (${escape(c)})`] : null;
  }
  const entries = Array.isArray(v) ? v.map((x, i) => [i, x]) : isObject(v) ? Object.entries(v) : [];
  for (const [k, x] of entries) {
    const where = typeof k === "number" ? `${path}[${k}]` : path ? `${path}.${k}` : k;
    const c = typeof k === "string" ? bad(k, false) : undefined;
    if (c) return [where, `has a key holding a control character (${escape(c)})`];
    const found = textProblem(x, where, depth + 1);
    if (found) return found;
  }
  return null;
}

/** Why the card's writer sealed it ("" when it may be from before integrity hashes). */
function mustBeSealed(d) {
  const newer = SEALED_ERA_FIELDS.find((k) => has(d, k));
  if (newer) return `it has the field '${newer}', which only versions that seal their cards write`;
  const m = /^(\d+)\.(\d+)/.exec(String(d.software?.skinedge ?? ""));
  if (m && (Number(m[1]) > SEALED_SINCE[0] || (Number(m[1]) === SEALED_SINCE[0] && Number(m[2]) >= SEALED_SINCE[1]))) {
    return `it was written by skinedge ${d.software.skinedge}, which seals every card it writes`;
  }
  return "";
}

/**
 * Card JSON text -> the card object with defaults filled in; ModelError naming `source` and the
 * first problem (not JSON, another schema, a missing or malformed field).
 */
export function parseCard(text, source = "<card>") {
  let d;
  try {
    d = JSON.parse(text);
  } catch (err) {
    throw new ModelError(`${source}: model card is not valid JSON (${err.message})`);
  }
  if (!isObject(d) || d.schema !== CARD_SCHEMA) {
    const found = isObject(d) ? JSON.stringify(d.schema ?? null) : "none";
    throw new ModelError(`${source}: not a skinedge model card this page reads (schema ${found}; ` +
      `it reads ${CARD_SCHEMA}): export the model again with a skinedge version that writes it, ` +
      "or use a page that matches the model");
  }
  const missing = ["architecture", "input_size", "mean", "std", "params", "flops", "labels"].filter((k) => !has(d, k));
  if (missing.length) throw new ModelError(`${source}: model card lacks ${missing.sort().join(", ")}`);
  const found = textProblem(d);
  if (found) {
    const [where, what] = found, field = String(where).split(/[.[]/)[0];
    throw new ModelError(`${source}: model card field '${field}' ${what}${where !== field ? ` at ${where}` : ""}; ` +
      "card text is shown as it is, so control characters (line breaks outside prose, terminal escapes, direction marks) are refused");
  }
  for (const [field, rule] of Object.entries(RULES)) {
    const problem = has(d, field) ? rule(d[field]) : "";
    if (problem) throw new ModelError(`${source}: model card field '${field}' ${problem}, not ${JSON.stringify(d[field]).slice(0, 60)}`);
  }
  const card = {
    label_names: d.labels, views: 1, quantization: "none", format: "checkpoint",
    calibration: {}, referral: {}, gate: {}, intended_use: {}, integrity_sha256: "",
    malignant_labels: DEFAULT_MALIGNANT.every((c) => d.labels.includes(c)) ? DEFAULT_MALIGNANT : [], ...d,
    image_limits: { ...DEFAULT_LIMITS, ...(isObject(d.image_limits) ? d.image_limits : {}) },
  };
  if (card.label_names.length !== card.labels.length) {
    throw new ModelError(`${source}: model card field 'label_names' must give one per label ` +
      `(${card.labels.length} labels, ${card.label_names.length} names)`);
  }
  for (const [field, problem] of [
    ["calibration", checkCalibration(card.calibration, card.labels.length)],
    ["referral", checkReferral(card.referral, card.labels)],
    ["malignant_labels", checkMalignantLabels(card.malignant_labels, card.labels)],
    ["image_limits", checkImageLimits(has(d, "image_limits") ? d.image_limits : {})],
    ["gate", checkGate(card.gate)],
    ["intended_use", checkIntendedUse(card.intended_use)],
  ]) {
    if (problem) throw new ModelError(`${source}: model card field '${field}' ${problem}`);
  }
  card.must_be_sealed = mustBeSealed(d);
  return card;
}

/** card.integrity_sha: sha256 of the bytes with every occurrence of `digest` read as zeros. */
export function integritySha(bytes, digest) {
  const needle = new TextEncoder().encode(digest);
  const zero = "0".charCodeAt(0);
  const copy = bytes.slice();
  for (let i = copy.indexOf(needle[0]); i >= 0 && i + needle.length <= copy.length; i = copy.indexOf(needle[0], i + 1)) {
    let match = true;
    for (let j = 1; j < needle.length && match; j++) match = copy[i + j] === needle[j];
    if (match) {
      copy.fill(zero, i, i + needle.length);
      i += needle.length - 1;
    }
  }
  return sha256Hex(copy);
}

/**
 * An .onnx file's bytes -> {card, inputDims, warnings}: the card read and checked, its integrity
 * hash verified, the graph's input checked against the card's input size. ModelError otherwise,
 * naming `name` and what to do.
 */
export function readModel(bytes, name = "<model>") {
  const { metadata, inputs } = readOnnx(bytes, name);
  if (!has(metadata, CARD_KEY)) {
    throw new ModelError(`${name}: no skinedge model card in its metadata_props (not exported by ` +
      "`skinedge export`, or cut short); export it with `skinedge export --target onnx`");
  }
  const card = parseCard(metadata[CARD_KEY], `${name} metadata`);
  const warnings = [];
  if (card.integrity_sha256) {
    if (integritySha(bytes, card.integrity_sha256) !== card.integrity_sha256) {
      throw new ModelError(`${name}: integrity sha256 does not match its model card: the card, ` +
        "graph or weights were changed, corrupted or truncated after export; export it again");
    }
  } else if (card.must_be_sealed) {
    throw new ModelError(`${name}: its model card has no integrity_sha256, but ${card.must_be_sealed}: ` +
      "the hash was removed, so its labels or preprocessing may have been edited; refused. Use " +
      "the file as skinedge wrote it, or export it again");
  } else {
    warnings.push(`${name}: written before integrity hashes: its model card is not covered by a ` +
      "hash, so an edited card would go unnoticed; export it again to add one");
  }
  const s = card.input_size;
  const image = inputs[0]?.dims ?? [];
  if (image.length !== 4 || image[1] !== 3 || image[2] !== s || image[3] !== s) {
    throw new ModelError(`${name}: its model card says input ${s} px (${card.labels.length} ` +
      `labels), but the graph takes [${image.join(", ")}]; the card does not belong to this ` +
      "graph: export the model again");
  }
  return { card, inputName: inputs[0].name, warnings };
}
