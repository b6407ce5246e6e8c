// The page: wires the file inputs, the result view and the benchmark to WebClassifier. Every
// label, name and threshold shown comes from the loaded model's card.

import { benchDocument } from "./bench.js";
import { BACKEND, ORT_VERSION, THREADS, WebClassifier } from "./classifier.js";
import { ImageError, ModelError } from "./errors.js";
import { toModelInput } from "./preprocess.js";
import { pyFixed } from "./pyformat.js";

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
};
let classifier = null;
let lastImage = null;

function showMessage(text, kind = "error") {
  const box = $("message");
  box.textContent = text;
  box.className = kind;
  box.hidden = !text;
}

/** A user-facing line for any error: ours already say what to do; others are unexpected. */
function describe(err) {
  if (err instanceof ImageError || err instanceof ModelError) return err.message;
  return `Unexpected error: ${err && err.message ? err.message : err}`;
}

const percent = (p) => `${pyFixed(100 * p, 1)}%`;

async function loadModel(bytes, name) {
  showMessage("");
  $("model-status").textContent = `Loading ${name} ...`;
  for (const id of ["image-file", "image-camera", "bench-run"]) $(id).disabled = true;
  classifier = null;
  $("model-info").hidden = true;
  $("intended-use").hidden = true;
  $("results").replaceChildren();
  try {
    classifier = await WebClassifier.load(bytes, name);
  } catch (err) {
    $("model-status").textContent = "No model loaded.";
    showMessage(describe(err));
    document.body.dataset.model = "error";
    return;
  }
  const c = classifier.card;
  if (classifier.warnings.length) showMessage(classifier.warnings.join("\n"), "warning");
  $("model-status").textContent = `Loaded ${name} in ${pyFixed(classifier.loadS, 2)} s.`;
  const info = [
    ["architecture", `${c.architecture} (${pyFixed(c.params / 1e6, 2)} M parameters, ${pyFixed(c.flops / 1e6, 0)} MFLOP)`],
    ["input", `${c.input_size} x ${c.input_size} px, ${c.resize.replaceAll("_", " ")}, ${c.interpolation}`],
    ["quantization", c.quantization],
    ["classes", c.labels.map((l, i) => `${l} (${c.label_names[i]})`).join(", ")],
    ["calibration", Object.keys(c.calibration).length ? `temperature ${c.calibration.temperature} + prior correction` : "none (plain softmax)"],
    ["referral", Object.keys(c.referral).length ? `${c.referral.score} probability at least ${c.referral.tasks[c.referral.score].threshold}` : "none"],
    ["input gate", Object.keys(c.gate).length ? "on" : "none"],
    ["integrity", c.integrity_sha256 ? `sha256 ${c.integrity_sha256.slice(0, 16)}... verified` : "not sealed"],
  ];
  $("model-info").replaceChildren(...info.flatMap(([k, v]) => [el("dt", { textContent: k }), el("dd", { textContent: v })]));
  $("model-info").hidden = false;
  if (c.intended_use.summary) {
    $("intended-summary").textContent = c.intended_use.summary;
    $("intended-limitations").replaceChildren(...(c.intended_use.limitations || []).map((t) => el("li", { textContent: t })));
    $("intended-use").hidden = false;
  }
  for (const id of ["image-file", "image-camera", "bench-run"]) $(id).disabled = false;
  document.body.dataset.model = "ready";
}

function drawImage(image, s) {
  const canvas = el("canvas", { width: s, height: s });
  const rgba = new ImageData(s, s);
  for (let p = 0; p < s * s; p++) {
    rgba.data.set([image[3 * p], image[3 * p + 1], image[3 * p + 2], 255], 4 * p);
  }
  canvas.getContext("2d").putImageData(rgba, 0, 0);
  return canvas;
}

function resultView(r) {
  const c = classifier.card, p = r.prediction;
  const name = (l) => c.label_names[c.labels.indexOf(l)];
  const bars = el("div", { className: "bars" }, ...p.top_k.map((t) => el("div", { className: "bar" },
    el("span", { textContent: t.label, title: name(t.label) }),
    el("span", { className: "track" }, el("span", { className: "fill", style: `display:block;width:${100 * t.probability}%` })),
    el("span", { textContent: percent(t.probability) }))));
  const body = el("div", {},
    el("h3", { textContent: `Model's pick: ${p.label} (${name(p.label)})` }),
    el("div", { className: "source", textContent: p.source }),
    el("div", { textContent: p.calibrated ? "Probabilities calibrated to the card's prevalence" +
      (p.top_k[0].label !== p.label ? ` (the pick is the class the image is most typical of; ${p.top_k[0].label} is more common):` : ":")
      : "Probabilities (the model's softmax):" }),
    bars);
  if (p.refer !== null) {
    body.append(el("div", {},
      el("span", { className: `verdict ${p.refer ? "refer" : "no-refer"}`, textContent: p.refer ? "Refer: show a doctor" : "No referral" }),
      el("span", { textContent: `malignant probability ${percent(p.malignant_probability)} (threshold ${percent(p.threshold)})` })));
  } else if (p.malignant_probability !== null) {
    body.append(el("div", { textContent: `malignant probability ${percent(p.malignant_probability)} (the card sets no referral threshold)` }));
  }
  if (p.gate) {
    body.append(el("div", {}, el("span", { className: `verdict ${p.gate.usable ? "usable" : "unusable"}`,
      textContent: p.gate.usable ? "Input check: usable" : "Input check: not usable" })));
    if (p.gate.reasons.length) body.append(el("ul", { className: "reasons" }, ...p.gate.reasons.map((t) => el("li", { textContent: t }))));
  }
  body.append(el("div", { className: "latency",
    textContent: `latency: ${pyFixed(r.inferenceMs, 1)} ms inference, ${pyFixed(r.preprocessMs, 1)} ms decode + preprocessing` }));
  const json = el("pre", { className: "prediction-json", textContent: JSON.stringify(p, null, 1) });
  body.append(el("details", {}, el("summary", { textContent: "prediction JSON (as skinedge predict)" }), json));
  const view = el("div", { className: "result" }, drawImage(r.image, c.input_size), body);
  view.dataset.source = p.source;
  view.dataset.modelImageSha256 = r.imageSha256;
  view.dataset.inferenceMs = String(r.inferenceMs);
  return view;
}

function errorView(source, err) {
  const view = el("div", { className: "result error" }, el("div", { textContent: describe(err) }));
  view.dataset.source = source;
  view.dataset.error = describe(err);
  return view;
}

async function classify(files) {
  showMessage("");
  document.body.dataset.busy = "1";
  const views = [];
  for (const file of files) {
    try {
      const r = await classifier.predict(new Uint8Array(await file.arrayBuffer()), file.name);
      lastImage = r.image;
      views.push(resultView(r));
    } catch (err) {
      views.push(errorView(file.name, err));
    }
  }
  $("results").replaceChildren(...views);
  const failed = views.filter((v) => v.dataset.error);
  if (failed.length) showMessage(failed.map((v) => v.dataset.error).join("\n"));
  delete document.body.dataset.busy;
  document.body.dataset.classified = String(Number(document.body.dataset.classified || 0) + 1);
}

async function benchmark() {
  const warmup = Math.max(0, Number($("bench-warmup").value) | 0);
  const runs = Math.max(1, Number($("bench-runs").value) | 0);
  const c = classifier.card, s = c.input_size;
  const image = lastImage ?? new Uint8Array(s * s * 3).fill(128);
  const input = toModelInput(image, s);
  $("bench-run").disabled = true;
  $("bench-summary").textContent = `Running ${warmup} warm-up and ${runs} timed runs ...`;
  const startedAt = new Date(), t0 = performance.now();
  try {
    for (let i = 0; i < warmup; i++) await classifier.run(input);
    const timings = [];
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      await classifier.run(input);
      timings.push(performance.now() - t);
    }
    const ua = navigator.userAgent;
    const doc = benchDocument({ modelName: classifier.name, sizeBytes: classifier.sizeBytes, card: c,
      loadS: classifier.loadS, timingsMs: timings, warmup, runs, startedAt, seconds: (performance.now() - t0) / 1e3 },
    { userAgent: ua, platform: navigator.userAgentData?.platform || navigator.platform || "unknown",
      cores: navigator.hardwareConcurrency || null, ortVersion: ORT_VERSION, backend: BACKEND, threads: THREADS,
      deviceName: $("bench-device").value.trim() || ua });
    const lat = doc.rows[0].latency_ms[1];
    $("bench-summary").replaceChildren(el("table", {},
      el("tr", {}, ...["model", "runs", "median ms", "p90 ms", "min ms", "load s"].map((h) => el("th", { textContent: h }))),
      el("tr", {}, ...[doc.rows[0].name, String(lat.n), pyFixed(lat.median, 2), pyFixed(lat.p90, 2), pyFixed(lat.min, 2),
        pyFixed(classifier.loadS, 2)].map((v) => el("td", { textContent: v })))));
    const text = JSON.stringify(doc, null, 2);
    $("bench-json").textContent = text;
    $("bench-json").hidden = false;
    const link = $("bench-download");
    if (link.href) URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(new Blob([text], { type: "application/json" }));
    link.hidden = false;
    document.body.dataset.bench = "done";
  } catch (err) {
    showMessage(describe(err));
    $("bench-summary").textContent = "";
  } finally {
    $("bench-run").disabled = false;
  }
}

async function fileBytes(input) {
  const file = input.files[0];
  return file ? [new Uint8Array(await file.arrayBuffer()), file.name] : [null, null];
}

$("runtime").textContent = `onnxruntime-web ${ORT_VERSION}, ${BACKEND}, ${THREADS} thread`;
// Each input is cleared once read, so choosing the same file again runs again.
$("model-file").addEventListener("change", async (e) => {
  const [bytes, name] = await fileBytes(e.target);
  e.target.value = "";
  if (bytes) await loadModel(bytes, name);
});
for (const id of ["image-file", "image-camera"]) {
  $(id).addEventListener("change", (e) => {
    const files = Array.from(e.target.files);
    e.target.value = "";
    if (files.length) classify(files);
  });
}
$("bench-run").addEventListener("click", benchmark);

// ?model=URL loads a model served beside the page (the phone benchmark: one link to open).
const modelUrl = new URLSearchParams(location.search).get("model");
if (modelUrl) {
  fetch(modelUrl).then(async (resp) => {
    if (!resp.ok) throw new ModelError(`${modelUrl}: the server answered ${resp.status} ${resp.statusText}`);
    await loadModel(new Uint8Array(await resp.arrayBuffer()), modelUrl.split("/").pop());
  }).catch((err) => showMessage(describe(err)));
}
if ("serviceWorker" in navigator && !new URLSearchParams(location.search).has("nosw")) {
  navigator.serviceWorker.register("sw.js").catch(() => {});
}
document.body.dataset.app = "ready";
