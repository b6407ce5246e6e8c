// The model card's preprocessing (resize "shorter_side_then_center_crop", interpolation
// "bilinear"), ported from skinedge/preprocess.py so the page feeds the model the same bytes as
// skinedge.load(path).predict(image): EXIF orientation, conversion to 8-bit RGB (alpha
// composited on white, 16-bit grey scaled to 0..255), shorter side resized to the card's input
// size with Pillow's antialiased bilinear filter, centre crop, then /255 in NCHW order.

import { ImageError } from "./errors.js";
import { resizeBilinear } from "./resample.js";

// Bounds on the work per image: preprocess.py's defaults. The card carries its own
// (`image_limits`, card.js fills these in for older cards; a card may only tighten them).
export const MAX_PIXELS = 50_000_000;
export const MIN_SIDE = 8;
export const MAX_ASPECT_RATIO = 10;
export const MAX_RESIZED_PIXELS = 16_000_000;
export const DEFAULT_LIMITS = Object.freeze({ max_pixels: MAX_PIXELS, min_side: MIN_SIDE,
  max_aspect_ratio: MAX_ASPECT_RATIO, max_resized_pixels: MAX_RESIZED_PIXELS });

const gcd = (a, b) => (b ? gcd(b, a % b) : a);

/** preprocess.aspect_ratio: the longer side over the shorter, exactly ("1001:100"). */
export function aspectRatio(w, h) {
  const g = gcd(w, h) || 1;
  return `${Math.max(w, h) / g}:${Math.min(w, h) / g}`;
}

/** preprocess._check_size: ImageError for an image too large, too small or too elongated per
 * the card's `limits`. */
export function checkSize(w, h, name, limits = DEFAULT_LIMITS) {
  if (w * h > limits.max_pixels) {
    throw new ImageError(`${name}: image is ${w}x${h} (${Math.round(w * h / 1e6)} MP), over the ` +
      `${limits.max_pixels / 1e6} MP limit (possible decompression bomb); downscale it first`);
  }
  if (Math.min(w, h) < limits.min_side) {
    throw new ImageError(`${name}: image is ${w}x${h}, too small to classify (min side ${limits.min_side} px)`);
  }
  if (Math.max(w, h) > limits.max_aspect_ratio * Math.min(w, h)) {
    throw new ImageError(`${name}: image is ${w}x${h}, aspect ratio ${aspectRatio(w, h)}, over the ` +
      `${limits.max_aspect_ratio}:1 limit (a lesion photo is about 4:3); crop it to the lesion first`);
  }
}

/** White background composite of one channel value over alpha (Pillow's alpha_composite onto
 * opaque white: (c*a + 255*(255-a)) / 255 rounded half up, by its shift-divide). */
function onWhite(c, a) {
  const t = c * a + 255 * (255 - a) + 128;
  return ((t >> 8) + t) >> 8;
}

/**
 * preprocess._to_rgb of a decoded image {width, height, mode, data, palette, transparency}
 * (png.js modes, or "RGBA" from the browser's decoder) -> {width, height, rgb: Uint8Array w*h*3}.
 */
export function toRgb(img) {
  const { width, height, mode, data } = img;
  const n = width * height;
  const rgb = new Uint8Array(n * 3);
  const set = (p, r, g, b) => { rgb[p * 3] = r; rgb[p * 3 + 1] = g; rgb[p * 3 + 2] = b; };
  if (mode === "RGB") {
    rgb.set(data.subarray(0, n * 3));
  } else if (mode === "L" || mode === "1") {
    for (let p = 0; p < n; p++) set(p, data[p], data[p], data[p]);
  } else if (mode === "I;16") {
    // _to_uint8(arr, 65535.0): clip(v / 65535 * 255 + 0.5) truncated, in float64
    for (let p = 0; p < n; p++) {
      const v = Math.floor((data[p] / 65535) * 255 + 0.5);
      set(p, v, v, v);
    }
  } else if (mode === "LA") {
    for (let p = 0; p < n; p++) {
      const v = onWhite(data[2 * p], data[2 * p + 1]);
      set(p, v, v, v);
    }
  } else if (mode === "RGBA") {
    for (let p = 0; p < n; p++) {
      const a = data[4 * p + 3];
      set(p, onWhite(data[4 * p], a), onWhite(data[4 * p + 1], a), onWhite(data[4 * p + 2], a));
    }
  } else if (mode === "P") {
    const pal = img.palette, trns = img.transparency;
    // Entries PLTE does not give keep Pillow's initial palette: a grey ramp.
    const entry = (i, c) => (3 * i + c < pal.length ? pal[3 * i + c] : i);
    for (let p = 0; p < n; p++) {
      const i = data[p];
      const r = entry(i, 0), g = entry(i, 1), b = entry(i, 2);
      if (trns) {
        const a = i < trns.length ? trns[i] : 255;
        set(p, onWhite(r, a), onWhite(g, a), onWhite(b, a));
      } else {
        set(p, r, g, b);
      }
    }
  } else {
    throw new ImageError(`image mode ${mode} is not supported`);
  }
  return { width, height, rgb };
}

/** ImageOps.exif_transpose of RGB pixels for EXIF orientation 1..8 (others: unchanged). */
export function orient(img, orientation) {
  const { width: w, height: h, rgb } = img;
  // Source (x, y) of output (u, v) for each orientation; 5..8 swap width and height.
  const maps = {
    2: (u, v) => [w - 1 - u, v], // FLIP_LEFT_RIGHT
    3: (u, v) => [w - 1 - u, h - 1 - v], // ROTATE_180
    4: (u, v) => [u, h - 1 - v], // FLIP_TOP_BOTTOM
    5: (u, v) => [v, u], // TRANSPOSE
    6: (u, v) => [v, h - 1 - u], // ROTATE_270 (90 degrees clockwise)
    7: (u, v) => [w - 1 - v, h - 1 - u], // TRANSVERSE
    8: (u, v) => [w - 1 - v, u], // ROTATE_90 (90 degrees counter-clockwise)
  };
  const map = maps[orientation];
  if (!map) return img;
  const [ow, oh] = orientation >= 5 ? [h, w] : [w, h];
  const out = new Uint8Array(rgb.length);
  for (let v = 0; v < oh; v++) {
    for (let u = 0; u < ow; u++) {
      const [x, y] = map(u, v);
      const s = (y * w + x) * 3, d = (v * ow + u) * 3;
      out[d] = rgb[s]; out[d + 1] = rgb[s + 1]; out[d + 2] = rgb[s + 2];
    }
  }
  return { width: ow, height: oh, rgb: out };
}

/** Python's round(): to nearest, ties to even. */
export function roundHalfEven(x) {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** preprocess.resized_shape: [width, height] after the shorter side is scaled to `size`. */
export function resizedShape(w, h, size) {
  const scale = size / Math.min(w, h);
  return [Math.max(size, roundHalfEven(w * scale)), Math.max(size, roundHalfEven(h * scale))];
}

/** preprocess.resize_center_crop: RGB image -> uint8 [size, size, 3] (HWC). */
export function resizeCenterCrop(img, size, name = "<image>", limits = DEFAULT_LIMITS) {
  const { width: w, height: h } = img;
  const [nw, nh] = resizedShape(w, h, size);
  if (nw * nh > limits.max_resized_pixels) {
    throw new ImageError(`${name}: a ${w}x${h} image resized to the model's ${size} px input would ` +
      `be ${nw}x${nh} (${Math.round(nw * nh / 1e6)} MP) before the crop, over the ` +
      `${limits.max_resized_pixels / 1e6} MP limit; crop it to the lesion first`);
  }
  const resized = resizeBilinear(img.rgb, w, h, nw, nh);
  const left = Math.floor((nw - size) / 2), top = Math.floor((nh - size) / 2);
  const out = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    const s = ((top + y) * nw + left) * 3;
    out.set(resized.subarray(s, s + size * 3), y * size * 3);
  }
  return out;
}

/** A decoded image (png.js or the browser's RGBA) and its EXIF orientation -> the model image
 * uint8 [size, size, 3] and the original's (width, height) after orientation, as
 * Classifier._prepare returns them; `limits`: the card's image_limits. */
export function modelImage(decoded, orientation, size, name = "<image>", limits = DEFAULT_LIMITS) {
  checkSize(decoded.width, decoded.height, name, limits);
  const rgb = orient(toRgb(decoded), orientation);
  return { image: resizeCenterCrop(rgb, size, name, limits), size: [rgb.width, rgb.height] };
}

/** preprocess.to_model_input of one image: uint8 [S, S, 3] -> float32 [1, 3, S, S] in [0, 1]. */
export function toModelInput(hwc, size) {
  const plane = size * size;
  const out = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) out[c * plane + p] = hwc[p * 3 + c] / 255;
  }
  return out;
}
