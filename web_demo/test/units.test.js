// Bad input and the small pieces the page relies on: card parsing, ONNX metadata, integrity,
// undecodable images, Python-compatible rounding, the bench schema.

import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { deflateSync, inflateSync } from "node:zlib";

import { CARD_KEY, CARD_SCHEMA, integritySha, parseCard, readModel } from "../src/card.js";
import { decodeImage } from "../src/decode.js";
import { ImageError, ModelError } from "../src/errors.js";
import { exifOrientation } from "../src/exif.js";
import { modelImage, resizedShape, roundHalfEven } from "../src/preprocess.js";
import { pyFixed } from "../src/pyformat.js";
import { sha256Hex } from "../src/sha256.js";
import { benchDocument, SCHEMA, stats } from "../src/bench.js";
import { applyCalibration, referral, softmax } from "../src/predict.js";
import { assess, checkGate, features, oodScore } from "../src/gate.js";

const inflate = async (b) => new Uint8Array(inflateSync(b));
const enc = new TextEncoder();

function card(overrides = {}) {
  return { schema: CARD_SCHEMA, architecture: "tiny", input_size: 16, mean: [0.5, 0.5, 0.5],
    std: [0.2, 0.2, 0.2], params: 10, flops: 20, labels: ["akiec", "bcc", "mel", "nv"],
    label_names: ["a", "b", "m", "n"], integrity_sha256: "", software: { skinedge: "0.1.0" }, ...overrides };
}

// --- a minimal protobuf writer for synthetic .onnx files -----------------------------------
const varint = (n) => { const out = []; do { let b = n % 128; n = Math.floor(n / 128); if (n) b |= 128; out.push(b); } while (n); return out; };
const field = (num, bytes) => [...varint(num * 8 + 2), ...varint(bytes.length), ...bytes];
const intField = (num, v) => [...varint(num * 8), ...varint(v)];
const str = (num, s) => field(num, [...enc.encode(s)]);
function onnxBytes({ cardJson = null, dims = [null, 3, 16, 16] } = {}) {
  const dimMsgs = dims.flatMap((d) => field(1, d === null ? str(2, "batch") : intField(1, d)));
  const type = field(1, [...intField(1, 1), ...field(2, dimMsgs)]);
  const input = field(11, [...str(1, "image"), ...field(2, type)]);
  const graph = field(7, [...str(2, "g"), ...input]);
  const meta = cardJson === null ? [] : field(14, [...str(1, CARD_KEY), ...str(2, cardJson)]);
  return new Uint8Array([...intField(1, 8), ...graph, ...meta]);
}
/** An .onnx sealed as `skinedge export` seals it: card written with 64 zeros, hashed, patched. */
function sealed(c, dims) {
  const zeros = "0".repeat(64);
  const bytes = onnxBytes({ cardJson: JSON.stringify({ ...c, integrity_sha256: zeros }), dims });
  const digest = integritySha(bytes, zeros);
  const text = new TextDecoder("latin1").decode(bytes).replace(zeros, digest);
  return Uint8Array.from(text, (ch) => ch.charCodeAt(0));
}

test("a sealed model's card is read; labels and input size come from it", () => {
  const { card: c, inputName, warnings } = readModel(sealed(card()), "m.onnx");
  assert.deepEqual(c.labels, ["akiec", "bcc", "mel", "nv"]);
  assert.equal(c.input_size, 16);
  assert.equal(inputName, "image");
  assert.deepEqual(warnings, []);
});

test("a model without a card is refused with a message saying how to get one", () => {
  assert.throws(() => readModel(onnxBytes(), "plain.onnx"),
    (e) => e instanceof ModelError && /plain\.onnx: no skinedge model card/.test(e.message) && /skinedge export/.test(e.message));
});

test("a card of another schema version is refused, naming both schemas", () => {
  const bytes = sealed(card({ schema: "skinedge.model_card/2" }));
  assert.throws(() => readModel(bytes, "new.onnx"),
    (e) => e instanceof ModelError && /skinedge\.model_card\/2/.test(e.message) && /skinedge\.model_card\/1/.test(e.message));
  assert.throws(() => parseCard("{\"labels\": []}", "c.json"), /not a skinedge model card.*schema null/);
  assert.throws(() => parseCard("not json", "c.json"), /c\.json: model card is not valid JSON/);
});

test("a card whose input size differs from the graph's input is refused", () => {
  const bytes = sealed(card({ input_size: 32 }), [null, 3, 16, 16]);
  assert.throws(() => readModel(bytes, "odd.onnx"),
    (e) => e instanceof ModelError && /card says input 32 px/.test(e.message) && /\[batch, 3, 16, 16\]/.test(e.message));
});

test("an edited card fails the integrity hash; a removed hash is refused on a sealed-era card", () => {
  const bytes = sealed(card());
  const text = new TextDecoder("latin1").decode(bytes).replace('"tiny"', '"tinz"');
  const edited = Uint8Array.from(text, (ch) => ch.charCodeAt(0));
  assert.throws(() => readModel(edited, "e.onnx"), /integrity sha256 does not match/);
  const unsealed = onnxBytes({ cardJson: JSON.stringify(card({ calibration: {} })) });
  assert.throws(() => readModel(unsealed, "u.onnx"), /has no integrity_sha256, but it has the field 'calibration'/);
  const old = readModel(onnxBytes({ cardJson: JSON.stringify(card()) }), "old.onnx");
  assert.match(old.warnings[0], /written before integrity hashes/);
});

test("card fields the preprocessing cannot honour are refused, not misread", () => {
  assert.throws(() => parseCard(JSON.stringify(card({ interpolation: "bicubic" }))), /field 'interpolation' must be "bilinear"/);
  assert.throws(() => parseCard(JSON.stringify(card({ labels: ["a", "a"] , label_names: ["x", "y"]}))), /field 'labels' has a duplicate/);
  assert.throws(() => parseCard(JSON.stringify(card({ calibration: { temperature: 1, bias: [0] } }))), /field 'calibration' must have a bias of 4/);
  const { input_size, ...noSize } = card();
  assert.throws(() => parseCard(JSON.stringify(noSize)), /model card lacks input_size/);
});

test("bytes that are not an ONNX model are refused", () => {
  assert.throws(() => readModel(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f]), "x.onnx"), ModelError);
  assert.throws(() => readModel(enc.encode("hello world, not a model"), "t.onnx"), ModelError);
  assert.throws(() => readModel(new Uint8Array(0), "empty.onnx"), /holds no graph/);
});

function png(w, h, colorType, depth, rows, extra = []) {
  const chunk = (type, data) => {
    const len = new Uint8Array(4); new DataView(len.buffer).setUint32(0, data.length);
    return [...len, ...enc.encode(type), ...data, 0, 0, 0, 0];
  };
  const ihdr = new Uint8Array(13); const v = new DataView(ihdr.buffer);
  v.setUint32(0, w); v.setUint32(4, h); ihdr[8] = depth; ihdr[9] = colorType;
  return new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10, ...chunk("IHDR", [...ihdr]), ...extra.flatMap(([t, d]) => chunk(t, d)),
    ...chunk("IDAT", [...deflateSync(Buffer.from(rows))]), ...chunk("IEND", [])]);
}

test("an image the page cannot decode gives an ImageError naming the file, never a label", async () => {
  await assert.rejects(decodeImage(new Uint8Array(0), "empty.png", { inflate }), /empty\.png: file is empty/);
  await assert.rejects(decodeImage(enc.encode("GIF89a garbage"), "x.gif", { inflate }), ImageError);
  await assert.rejects(decodeImage(enc.encode("GIF89a garbage"), "x.gif", { inflate, platformDecode: async () => { throw new Error("decode failed"); } }),
    /x\.gif: not a readable image: the browser cannot decode it/);
  const good = png(8, 8, 0, 8, Array.from({ length: 8 }, () => [0, ...Array(8).fill(7)]).flat());
  await assert.rejects(decodeImage(good.subarray(0, 40), "cut.png", { inflate }), /cut\.png: corrupt or truncated PNG/);
  const badZlib = good.slice(); badZlib.fill(0x55, 45, 60);
  await assert.rejects(decodeImage(badZlib, "bad.png", { inflate }), /bad\.png: corrupt or truncated PNG/);
  const { decoded, orientation } = await decodeImage(good, "good.png", { inflate });
  assert.equal(orientation, 1);
  assert.equal(modelImage(decoded, 1, 16, "good.png").image[0], 7);
  const tiny = await decodeImage(png(4, 4, 0, 8, Array.from({ length: 4 }, () => [0, 1, 2, 3, 4]).flat()), "tiny.png", { inflate });
  assert.throws(() => modelImage(tiny.decoded, 1, 16, "tiny.png"), /tiny\.png: image is 4x4, too small/);
});

test("EXIF orientation is read from little- and big-endian TIFF blocks", () => {
  const le = [0x49, 0x49, 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0];
  const be = [0x4d, 0x4d, 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 8, 0, 0, 0, 0, 0, 0];
  assert.equal(exifOrientation(new Uint8Array(le)), 6);
  assert.equal(exifOrientation(new Uint8Array([...enc.encode("Exif\0\0"), ...be])), 8);
  assert.equal(exifOrientation(new Uint8Array([1, 2, 3])), null);
});

test("Python rounding: round half to even, exact binary values", () => {
  assert.equal(roundHalfEven(2.5), 2);
  assert.equal(roundHalfEven(3.5), 4);
  assert.equal(roundHalfEven(170.66666666666666), 171);
  assert.deepEqual(resizedShape(13, 9, 64), [92, 64]);
  assert.deepEqual(resizedShape(200, 150, 128), [171, 128]);
  assert.equal(pyFixed(0.125, 2), "0.12");
  assert.equal(pyFixed(0.375, 2), "0.38");
  assert.equal(pyFixed(2.675, 2), "2.67"); // 2.67499999... in binary
  assert.equal(pyFixed(21.25, 1), "21.2");
  assert.equal(pyFixed(-0.5, 0), "-0");
  assert.equal(pyFixed(9.99, 1), "10.0");
});

test("SHA-256 matches node's crypto", () => {
  for (const n of [0, 3, 55, 56, 64, 1000, 70001]) {
    const b = Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) & 255);
    assert.equal(sha256Hex(b), createHash("sha256").update(b).digest("hex"));
  }
});

test("softmax, calibration and referral follow the card", () => {
  const p = softmax([1, 2, 3, 4]);
  assert.ok(Math.abs(p.reduce((a, b) => a + b) - 1) < 1e-15);
  const c = parseCard(JSON.stringify(card({
    calibration: { temperature: 2, bias: [0, 0, 0, Math.log(3)] },
    referral: { score: "malignant", tasks: { malignant: { labels: ["akiec", "bcc", "mel"], threshold: 0.5 } } },
  })));
  const q = applyCalibration([0, 0, 0, 0], c.calibration);
  assert.ok(Math.abs(q[3] - 0.5) < 1e-12 && Math.abs(q[0] - 1 / 6) < 1e-12);
  assert.deepEqual(referral(c, [0.2, 0.2, 0.1, 0.5]), { malignant_probability: 0.5, refer: true, threshold: 0.5 });
  const plain = parseCard(JSON.stringify(card()));
  assert.deepEqual(referral(plain, [0.1, 0.1, 0.1, 0.7]).refer, undefined);
});

test("bench results are in the host schema", () => {
  const s = stats([10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
  assert.deepEqual(s, { n: 10, median: 5.5, p90: 9.1, p99: 9.91, trimmed_mean: 5.5, min: 1 });
  const doc = benchDocument({ modelName: "m.onnx", sizeBytes: 123, card: parseCard(JSON.stringify(card({ quantization: "int8" }))),
    loadS: 0.2, timingsMs: [1, 2, 3], warmup: 2, runs: 3, startedAt: new Date(0), seconds: 1.23 },
  { userAgent: "UA", platform: "Linux", cores: 4, ortVersion: "1.30.0", backend: "wasm", threads: 1, deviceName: "phone" });
  assert.equal(doc.schema, SCHEMA);
  assert.equal(doc.date, "1970-01-01T00:00:00+00:00");
  for (const k of ["host", "software", "batches", "settings", "rows", "seconds", "accuracy_data", "exports"]) assert.ok(k in doc, k);
  const row = doc.rows[0];
  for (const k of ["name", "kind", "target", "quantization", "path", "role", "status", "error", "load_s", "latency_ms",
    "throughput_img_s", "size_bytes", "params", "flops", "macs", "architecture", "input_size"]) assert.ok(k in row, k);
  assert.equal(row.quantization, "int8");
  assert.equal(row.latency_ms[1].median, 2);
  assert.match(row.runtime, /onnxruntime-web 1\.30\.0 \(wasm, 1 thread\)/);
  assert.deepEqual(row.device, doc.device);
  assert.equal(row.device.model, "phone");
  assert.equal(row.device.platform, "web");
});

// --- issue 24: the hostile trust fields every app must refuse (tests/fixtures/hostile_cards.json)
const HOSTILE = JSON.parse(readFileSync(new URL("../../tests/fixtures/hostile_cards.json", import.meta.url), "utf8"));
const SHIPPED = JSON.parse(readFileSync(new URL("../../skinedge/assets/default_model/card.json", import.meta.url), "utf8"));

/** The fixture's edit: {"a.b": value} sets gate.a.b; {"fill": x} fills a matrix. */
function editGate(gate, edit) {
  const out = JSON.parse(JSON.stringify(gate));
  for (const [path, value] of Object.entries(edit)) {
    const keys = path.split(".");
    const parent = keys.slice(0, -1).reduce((d, k) => d[k], out);
    const last = keys[keys.length - 1];
    parent[last] = value && typeof value === "object" && Object.hasOwn(value, "fill")
      ? parent[last].map((row) => row.map(() => value.fill)) : value;
  }
  return out;
}

test("every hostile gate field is refused by the card check", () => {
  assert.equal(checkGate(SHIPPED.gate), "");
  parseCard(JSON.stringify(SHIPPED), "shipped.json");
  for (const c of HOSTILE.gates) {
    const bad = editGate(SHIPPED.gate, c.edit);
    assert.notEqual(checkGate(bad), "", c.name);
    assert.throws(() => parseCard(JSON.stringify({ ...SHIPPED, gate: bad }), "h.json"), /field 'gate'/, c.name);
  }
});

test("a non-finite OOD score is not usable", () => {
  const image = new Uint8Array(128 * 128 * 3).fill(150);
  for (let i = 0; i < image.length; i += 7) image[i] = (i * 13) % 256;
  const gate = editGate(SHIPPED.gate, HOSTILE.nan_gate);
  const v = assess(image, 128, [600, 450], gate);
  assert.ok(Number.isNaN(oodScore(features(image, 128), gate.ood)));
  assert.equal(v.usable, false);
  assert.ok(v.reasons.some((r) => /not finite/.test(r)), v.reasons.join("; "));
});

test("a referral whose score names a prototype member is refused, not crashed on", () => {
  for (const c of HOSTILE.referrals) {
    assert.throws(() => parseCard(JSON.stringify({ ...SHIPPED, referral: c.referral }), "r.json"),
      /field 'referral' must name its 'score' among its tasks/, c.name);
  }
});

test("card text with control characters is refused; prose may break lines", () => {
  const forged = "mel\n/fake/other.jpg: nv";
  assert.throws(() => parseCard(JSON.stringify(card({ labels: ["akiec", "bcc", forged, "nv"] }))),
    /field 'labels' holds a control character \(\\n\)/);
  assert.throws(() => parseCard(JSON.stringify(card({ training: { data: "x\u001b[2K" } }))),
    /field 'training' holds a control character \(\\x1b\)/);
  assert.throws(() => parseCard(JSON.stringify(card({ architecture: "tiny\u202e" }))), /field 'architecture'/);
  const prose = parseCard(JSON.stringify(card({ intended_use: { summary: "Research.\nNot a device.", limitations: [] } })));
  assert.equal(prose.intended_use.summary, "Research.\nNot a device.");
});

test("image limits and the fallback malignant labels come from the card", () => {
  const old = parseCard(JSON.stringify(card()));
  assert.deepEqual(old.malignant_labels, ["akiec", "bcc", "mel"]);
  assert.deepEqual(old.image_limits, { max_pixels: 50000000, min_side: 8, max_aspect_ratio: 10, max_resized_pixels: 16000000 });
  const mine = parseCard(JSON.stringify(card({ malignant_labels: ["mel"], image_limits: { min_side: 12 } })));
  assert.deepEqual(referral(mine, [0.1, 0.1, 0.3, 0.5]), { malignant_probability: 0.3 });
  assert.equal(mine.image_limits.min_side, 12);
  const other = parseCard(JSON.stringify(card({ labels: ["a", "b", "c", "d"] })));
  assert.deepEqual(referral(other, [0.1, 0.1, 0.3, 0.5]), {});
  assert.throws(() => parseCard(JSON.stringify(card({ image_limits: { max_pixels: 1e12 } }))), /field 'image_limits'/);
  assert.throws(() => parseCard(JSON.stringify(card({ malignant_labels: ["zzz"] }))), /field 'malignant_labels'/);
  const grey = { width: 12, height: 10, mode: "L", data: new Uint8Array(120).fill(9) };
  assert.throws(() => modelImage(grey, 1, 16, "small.png", mine.image_limits), /small\.png: image is 12x10, too small to classify \(min side 12 px\)/);
  const wide = { width: 1001, height: 100, mode: "L", data: new Uint8Array(100100) };
  assert.throws(() => modelImage(wide, 1, 16, "wide.png"), /aspect ratio 1001:100, over the 10:1 limit/);
});
