// The browser's skinedge.load(path).predict(image): an .onnx file checked against its card,
// run with onnxruntime-web (wasm backend, one thread: no cross-origin isolation needed), and
// the card's preprocessing, calibration, referral and gate around it. No DOM here (app.js).

import * as ort from "../node_modules/onnxruntime-web/dist/ort.wasm.min.mjs";
import { readModel } from "./card.js";
import { decodeImage } from "./decode.js";
import { ModelError } from "./errors.js";
import { predictFromLogits } from "./predict.js";
import { modelImage, toModelInput } from "./preprocess.js";
import { sha256Hex } from "./sha256.js";

ort.env.wasm.numThreads = 1;
ort.env.wasm.proxy = false;
ort.env.wasm.wasmPaths = new URL("../node_modules/onnxruntime-web/dist/", import.meta.url).href;

export const ORT_VERSION = ort.env.versions?.web ?? "unknown";
export const BACKEND = "wasm";
export const THREADS = 1;

/** zlib inflate with the platform's DecompressionStream. */
export async function inflate(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** The browser's decoder for formats other than PNG -> RGBA as stored. decode.js hands it the
 * bytes with their EXIF orientation neutralised (preprocess applies it, as Pillow does): the
 * imageOrientation option alone does not stop Chromium from rotating. */
export async function platformDecode(bytes) {
  const bitmap = await createImageBitmap(new Blob([bytes]), {
    imageOrientation: "none", premultiplyAlpha: "none", colorSpaceConversion: "none",
  });
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  const { data } = ctx.getImageData(0, 0, bitmap.width, bitmap.height);
  bitmap.close();
  return { width: canvas.width, height: canvas.height, data: new Uint8Array(data.buffer) };
}

export class WebClassifier {
  /** Use WebClassifier.load. */
  constructor(session, card, inputName, name, sizeBytes, loadS, warnings) {
    Object.assign(this, { session, card, inputName, name, sizeBytes, loadS, warnings });
  }

  /** .onnx bytes -> a classifier; ModelError when the file has no usable card or does not fit it. */
  static async load(bytes, name) {
    const t0 = performance.now();
    const { card, inputName, warnings } = readModel(bytes, name);
    let session;
    try {
      session = await ort.InferenceSession.create(bytes, { executionProviders: [BACKEND] });
    } catch (err) {
      throw new ModelError(`${name}: onnxruntime-web cannot load it (${err.message || err}); export it again`);
    }
    const clf = new WebClassifier(session, card, inputName, name, bytes.length, 0, warnings);
    const probe = await clf.run(new Float32Array(3 * card.input_size * card.input_size));
    if (probe.length !== card.labels.length) {
      throw new ModelError(`${name}: the model gives ${probe.length} outputs, but its card has ` +
        `${card.labels.length} labels; export it again`);
    }
    clf.loadS = (performance.now() - t0) / 1e3;
    return clf;
  }

  /** float32 [1, 3, S, S] -> the model's logits [K]. */
  async run(input) {
    const s = this.card.input_size;
    const out = await this.session.run({ [this.inputName]: new ort.Tensor("float32", input, [1, 3, s, s]) });
    return out[this.session.outputNames[0]].data;
  }

  /** Image file bytes -> the model image (uint8 [S, S, 3]), its original size and timings. */
  async prepare(bytes, source) {
    const t0 = performance.now();
    const { decoded, orientation } = await decodeImage(bytes, source, { inflate, platformDecode });
    const { image, size } = modelImage(decoded, orientation, this.card.input_size, source, this.card.image_limits);
    return { image, size, preprocessMs: performance.now() - t0 };
  }

  /** Image file bytes -> {prediction (as Prediction.to_dict), image, timings}. Raises
   * ImageError for an image that cannot be decoded or used. */
  async predict(bytes, source, topK = this.card.labels.length) {
    const { image, size, preprocessMs } = await this.prepare(bytes, source);
    const t1 = performance.now();
    const logits = await this.run(toModelInput(image, this.card.input_size));
    const inferenceMs = performance.now() - t1;
    const prediction = predictFromLogits(this.card, image, size, logits, source, topK);
    return { prediction, image, imageSha256: sha256Hex(image), preprocessMs, inferenceMs };
  }
}
