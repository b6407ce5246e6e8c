// A PNG decoder that gives the pixels Pillow gives (PngImagePlugin), so the page and the node
// tests feed the card's preprocessing the same values as Python: 16-bit grey stays 16-bit (I;16),
// 16-bit colour keeps its high byte (Pillow's RGB;16B / RGBA;16B / LA;16B unpackers), 1/2/4-bit
// grey is scaled to 0..255, palette images keep their indices, PLTE and tRNS. Gamma and colour
// profiles are ignored, as Pillow ignores them. Inflate is injected: node's zlib in the tests,
// DecompressionStream in the browser.

import { ImageError } from "./errors.js";

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];
// Adam7 passes: x0, y0, dx, dy
const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]];
const CHANNELS = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const DEPTHS = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };

export function isPng(bytes) {
  return bytes.length >= 8 && SIGNATURE.every((b, i) => bytes[i] === b);
}

function u32(b, o) {
  return ((b[o] << 24) >>> 0) + (b[o + 1] << 16) + (b[o + 2] << 8) + b[o + 3];
}

function latin1(bytes) {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

/** The chunks of a PNG: {type, data} in file order (CRCs are not checked, as Pillow does not
 * check them on load either). */
function chunks(bytes, name) {
  const out = [];
  let o = 8;
  while (o + 8 <= bytes.length) {
    const len = u32(bytes, o);
    const type = latin1(bytes.subarray(o + 4, o + 8));
    if (o + 12 + len > bytes.length) {
      throw new ImageError(`${name}: corrupt or truncated PNG (chunk ${type} runs past the end)`);
    }
    out.push({ type, data: bytes.subarray(o + 8, o + 8 + len) });
    o += 12 + len;
    if (type === "IEND") break;
  }
  return out;
}

function paeth(a, b, c) {
  const p = a + b - c;
  const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

/** Undo the scanline filters of one (sub)image of w x h; returns the raw rows and bytes read. */
function unfilter(src, offset, w, h, bpp, bitsPerPixel, name) {
  const stride = Math.ceil((w * bitsPerPixel) / 8);
  const out = new Uint8Array(stride * h);
  let o = offset;
  for (let y = 0; y < h; y++) {
    if (o + 1 + stride > src.length) throw new ImageError(`${name}: corrupt or truncated PNG (image data ends early)`);
    const filter = src[o++];
    const row = y * stride, prev = row - stride;
    for (let x = 0; x < stride; x++) {
      const raw = src[o++];
      const a = x >= bpp ? out[row + x - bpp] : 0;
      const b = y > 0 ? out[prev + x] : 0;
      const c = x >= bpp && y > 0 ? out[prev + x - bpp] : 0;
      let v;
      switch (filter) {
        case 0: v = raw; break;
        case 1: v = raw + a; break;
        case 2: v = raw + b; break;
        case 3: v = raw + ((a + b) >> 1); break;
        case 4: v = raw + paeth(a, b, c); break;
        default: throw new ImageError(`${name}: corrupt PNG (unknown filter type ${filter})`);
      }
      out[row + x] = v & 255;
    }
  }
  return { rows: out, stride, next: o };
}

/** Samples of row data: 1/2/4/8-bit -> integers, 16-bit -> big-endian integers. */
function sample(rows, stride, y, i, depth) {
  const row = y * stride;
  if (depth === 8) return rows[row + i];
  if (depth === 16) return (rows[row + 2 * i] << 8) | rows[row + 2 * i + 1];
  const perByte = 8 / depth;
  const byte = rows[row + Math.floor(i / perByte)];
  const shift = 8 - depth * ((i % perByte) + 1);
  return (byte >> shift) & ((1 << depth) - 1);
}

/**
 * Decode PNG bytes. Returns {width, height, mode, data, palette, transparency, text, exif} where
 * mode and data follow Pillow: "1" and "L" (Uint8Array, 0/255 and 0..255), "I;16" (Uint16Array),
 * "LA", "RGB", "RGBA" (Uint8Array, interleaved), "P" (indices, with `palette` RGB bytes and
 * `transparency` the tRNS alpha per index or null). `exif`: the eXIf chunk's bytes or null;
 * `text`: tEXt/zTXt/iTXt keyword -> text.
 * inflate(Uint8Array) -> Promise<Uint8Array>: zlib-wrapped deflate.
 */
export async function decodePng(bytes, inflate, name = "<image>") {
  if (!isPng(bytes)) throw new ImageError(`${name}: not a PNG file`);
  const list = chunks(bytes, name);
  const ihdr = list.find((c) => c.type === "IHDR");
  if (!ihdr || ihdr.data.length < 13) throw new ImageError(`${name}: corrupt PNG (no IHDR header)`);
  const d = ihdr.data;
  const width = u32(d, 0), height = u32(d, 4), depth = d[8], colorType = d[9], interlace = d[12];
  if (!(colorType in CHANNELS) || !DEPTHS[colorType].includes(depth)) {
    throw new ImageError(`${name}: unsupported PNG (colour type ${colorType}, bit depth ${depth})`);
  }
  if (width === 0 || height === 0) throw new ImageError(`${name}: corrupt PNG (size ${width}x${height})`);
  const idat = list.filter((c) => c.type === "IDAT");
  if (!idat.length) throw new ImageError(`${name}: corrupt or truncated PNG (no image data)`);
  const joined = new Uint8Array(idat.reduce((n, c) => n + c.data.length, 0));
  let at = 0;
  for (const c of idat) { joined.set(c.data, at); at += c.data.length; }
  let raw;
  try {
    raw = await inflate(joined);
  } catch (err) {
    throw new ImageError(`${name}: corrupt or truncated PNG (${err.message || err})`);
  }

  const channels = CHANNELS[colorType];
  const bitsPerPixel = channels * depth;
  const bpp = Math.max(1, bitsPerPixel >> 3);
  const n = width * height;
  const out = { width, height, mode: "", data: null, palette: null, transparency: null, text: {}, exif: null };
  const mode = { 0: depth === 1 ? "1" : depth === 16 ? "I;16" : "L", 2: "RGB", 3: "P", 4: depth === 16 ? "RGBA" : "LA", 6: "RGBA" }[colorType];
  out.mode = mode;
  const outChannels = { "1": 1, L: 1, "I;16": 1, P: 1, LA: 2, RGB: 3, RGBA: 4 }[mode];
  const data = mode === "I;16" ? new Uint16Array(n) : new Uint8Array(n * outChannels);
  // One pixel of the unfiltered rows -> data[p] (Pillow's unpackers)
  const put = (rows, stride, ry, rx, p) => {
    if (colorType === 0) {
      const v = sample(rows, stride, ry, rx, depth);
      data[p] = depth === 16 ? v : depth === 8 ? v : Math.round((v * 255) / ((1 << depth) - 1));
    } else if (colorType === 3) {
      data[p] = sample(rows, stride, ry, rx, depth);
    } else if (depth === 8) {
      for (let c = 0; c < channels; c++) data[p * outChannels + c] = rows[ry * stride + rx * channels + c];
    } else if (colorType === 4) { // 16-bit grey + alpha -> RGBA (LA;16B: high bytes)
      const g = rows[ry * stride + rx * 4], a = rows[ry * stride + rx * 4 + 2];
      data.set([g, g, g, a], p * 4);
    } else { // 16-bit RGB / RGBA: high byte of each sample
      for (let c = 0; c < channels; c++) data[p * outChannels + c] = rows[ry * stride + rx * channels * 2 + 2 * c];
    }
  };
  if (interlace === 0) {
    const { rows, stride } = unfilter(raw, 0, width, height, bpp, bitsPerPixel, name);
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) put(rows, stride, y, x, y * width + x);
  } else if (interlace === 1) {
    let offset = 0;
    for (const [x0, y0, dx, dy] of ADAM7) {
      const pw = Math.ceil((width - x0) / dx), ph = Math.ceil((height - y0) / dy);
      if (pw <= 0 || ph <= 0) continue;
      const { rows, stride, next } = unfilter(raw, offset, pw, ph, bpp, bitsPerPixel, name);
      offset = next;
      for (let y = 0; y < ph; y++) {
        for (let x = 0; x < pw; x++) put(rows, stride, y, x, (y0 + y * dy) * width + x0 + x * dx);
      }
    }
  } else {
    throw new ImageError(`${name}: unsupported PNG (interlace method ${interlace})`);
  }
  out.data = data;

  for (const c of list) {
    if (c.type === "PLTE") out.palette = c.data.slice();
    else if (c.type === "tRNS" && colorType === 3) out.transparency = c.data.slice();
    else if (c.type === "eXIf") out.exif = c.data.slice();
    else if (c.type === "tEXt" || c.type === "zTXt" || c.type === "iTXt") {
      const entry = await textChunk(c, inflate);
      if (entry) out.text[entry[0]] = entry[1];
    }
  }
  if (mode === "P" && !out.palette) throw new ImageError(`${name}: corrupt PNG (palette image without PLTE)`);
  return out;
}

/** [keyword, text] of a tEXt, zTXt or iTXt chunk; null when it cannot be read (Pillow skips
 * such chunks too). */
async function textChunk(c, inflate) {
  const z = c.data.indexOf(0);
  if (z < 1) return null;
  const key = latin1(c.data.subarray(0, z));
  try {
    if (c.type === "tEXt") return [key, latin1(c.data.subarray(z + 1))];
    if (c.type === "zTXt") return [key, latin1(await inflate(c.data.subarray(z + 2)))];
    const compressed = c.data[z + 1];
    let p = z + 3;
    p = c.data.indexOf(0, p) + 1; // language tag
    p = c.data.indexOf(0, p) + 1; // translated keyword
    if (p <= 0) return null;
    const body = compressed ? await inflate(c.data.subarray(p)) : c.data.subarray(p);
    return [key, new TextDecoder().decode(body)];
  } catch {
    return null;
  }
}
