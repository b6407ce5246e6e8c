// The page's shared logic against golden vectors (skinedge/golden.py): every golden image
// decoded and preprocessed here must give exactly model_image/<name>.u8 (and model_input/*.f32),
// and the probabilities, calibration, referral and gate computed here from the recorded softmax
// must match each model's expected/<model>.json `prediction`.
//
// SKINEDGE_GOLDEN: golden folders (written by `skinedge export`), separated by ":"; each may
// sit beside the exported .onnx files, which are then read as the page reads them.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync, existsSync } from "node:fs";
import { join, dirname, basename } from "node:path";
import { inflateSync } from "node:zlib";

import { decodeImage } from "../src/decode.js";
import { modelImage, toModelInput } from "../src/preprocess.js";
import { parseCard, readModel } from "../src/card.js";
import { prediction } from "../src/predict.js";
import { assess } from "../src/gate.js";

const folders = (process.env.SKINEDGE_GOLDEN || "").split(":").filter(Boolean);
const inflate = async (b) => new Uint8Array(inflateSync(b));
const bytesOf = (p) => new Uint8Array(readFileSync(p));

if (!folders.length) {
  test("golden vectors", { skip: "SKINEDGE_GOLDEN is not set: point it at a golden/ folder written by `skinedge export`" }, () => {});
}

for (const root of folders) {
  const index = JSON.parse(readFileSync(join(root, "index.json"), "utf8"));
  const s = index.input_size;
  const prepared = {};
  const prepare = (e) => (prepared[e.name] ??= decodeImage(bytesOf(join(root, e.file)), e.file, { inflate })
    .then(({ decoded, orientation }) => modelImage(decoded, orientation, s, e.file)));

  for (const e of index.images) {
    test(`${basename(dirname(root))}: ${e.name} preprocesses to the golden model image`, async () => {
      const { image } = await prepare(e);
      const want = bytesOf(join(root, e.model_image.file));
      assert.equal(image.length, want.length);
      const diff = image.reduce((n, v, i) => n + (v !== want[i] ? 1 : 0), 0);
      assert.equal(diff, 0, `${diff} of ${want.length} model-image bytes differ from ${e.model_image.file}`);
      if (e.model_input) {
        const f = new Float32Array(readFileSync(join(root, e.model_input.file)).buffer.slice(0));
        const got = toModelInput(image, s);
        assert.deepEqual(Array.from(got), Array.from(f), `model input differs from ${e.model_input.file}`);
      }
    });
  }

  for (const m of index.models || []) {
    test(`${basename(dirname(root))}: ${m.name} predictions from the recorded probabilities match`, async () => {
      const card = parseCard(readFileSync(join(root, m.card), "utf8"), m.card);
      const expected = JSON.parse(readFileSync(join(root, m.expected), "utf8"));
      for (const e of index.images) {
        const want = expected[e.name].prediction;
        // the model image: the golden bytes (checked equal to ours above)
        const image = bytesOf(join(root, e.model_image.file));
        const { size } = await prepare(e);
        const verdict = Object.keys(card.gate).length ? assess(image, s, size, card.gate) : null;
        const got = prediction(card, expected[e.name].probabilities, verdict, want.source, card.labels.length);
        const where = `${m.name} / ${e.name}`;
        assert.equal(got.label, want.label, `${where}: label`);
        assert.equal(got.calibrated, want.calibrated, `${where}: calibrated`);
        for (const c of card.labels) {
          assert.ok(Math.abs(got.probabilities[c] - want.probabilities[c]) <= 1e-9,
            `${where}: probability of ${c} ${got.probabilities[c]} vs ${want.probabilities[c]}`);
        }
        assert.deepEqual(got.top_k.map((t) => t.label), want.top_k.map((t) => t.label), `${where}: top_k order`);
        if (want.malignant_probability === null) assert.equal(got.malignant_probability, null);
        else assert.ok(Math.abs(got.malignant_probability - want.malignant_probability) <= 1e-9, `${where}: malignant`);
        assert.equal(got.refer, want.refer, `${where}: refer`);
        assert.equal(got.threshold, want.threshold, `${where}: threshold`);
        if (want.gate === null) {
          assert.equal(got.gate, null, `${where}: gate`);
        } else {
          assert.equal(got.gate.usable, want.gate.usable, `${where}: gate usable`);
          assert.deepEqual(got.gate.reasons, want.gate.reasons, `${where}: gate reasons`);
          for (const [k, v] of Object.entries(want.gate.scores)) {
            assert.ok(Math.abs(got.gate.scores[k] - v) <= 1.01e-4, `${where}: gate score ${k} ${got.gate.scores[k]} vs ${v}`);
          }
        }
      }
    });
  }

  const beside = dirname(root);
  const onnx = existsSync(beside) ? readdirSync(beside).filter((f) => f.endsWith(".onnx")) : [];
  for (const f of onnx) {
    test(`${basename(beside)}: ${f} carries the card golden/cards records, and passes its checks`, () => {
      const { card, warnings } = readModel(bytesOf(join(beside, f)), f);
      const recorded = join(root, "cards", `${f}.json`);
      if (existsSync(recorded)) {
        const want = JSON.parse(readFileSync(recorded, "utf8"));
        assert.deepEqual(card.labels, want.labels);
        assert.equal(card.input_size, want.input_size);
        assert.equal(card.integrity_sha256, want.integrity_sha256);
        assert.deepEqual(card.calibration, want.calibration);
      }
      assert.deepEqual(warnings, []);
    });
  }
}
