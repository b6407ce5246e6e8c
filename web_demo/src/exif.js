// The EXIF orientation Pillow's ImageOps.exif_transpose applies (preprocess.py decodes with
// it): the Orientation tag (0x0112) of IFD0 in the image's EXIF block, else a
// `tiff:Orientation` in its XMP packet, as Image.getexif reads them.

const ORIENTATION = 0x0112;
const XMP_ORIENTATION = /tiff:Orientation(="|>)([0-9])/;
const latin1 = (bytes) => Array.from(bytes, (b) => String.fromCharCode(b)).join("");

/** The Orientation entry of an EXIF block (TIFF header, optionally after "Exif\0\0"):
 * {value, offset, width} with the value's byte offset in `block`, or null if none. */
function orientationEntry(block) {
  if (!block || block.length < 8) return null;
  let skip = 0;
  // Pillow's Exif.load strips the "Exif\0\0" header once or twice (some writers double it)
  for (let i = 0; i < 2 && latin1(block.subarray(skip, skip + 6)) === "Exif\0\0"; i++) skip += 6;
  const b = block.subarray(skip);
  const order = latin1(b.subarray(0, 2));
  if (order !== "II" && order !== "MM") return null;
  const le = order === "II";
  const u16 = (o) => (le ? b[o] | (b[o + 1] << 8) : (b[o] << 8) | b[o + 1]);
  const u32 = (o) => (le ? (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16)) + b[o + 3] * 2 ** 24
    : b[o] * 2 ** 24 + ((b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]));
  if (b.length < 8 || u16(2) !== 42) return null;
  const ifd = u32(4);
  if (ifd + 2 > b.length) return null;
  const count = u16(ifd);
  for (let i = 0; i < count; i++) {
    const e = ifd + 2 + 12 * i;
    if (e + 12 > b.length) return null;
    if (u16(e) !== ORIENTATION) continue;
    const type = u16(e + 2), n = u32(e + 4);
    if (n !== 1) return null; // a tuple: Pillow's lookup of it finds no transpose
    const at = skip + e + 8;
    if (type === 3 || type === 8) return { value: u16(e + 8), offset: at, width: 2, le }; // SHORT
    if (type === 4 || type === 9) return { value: u32(e + 8), offset: at, width: 4, le }; // LONG
    if (type === 1 || type === 6) return { value: b[e + 8], offset: at, width: 1, le }; // BYTE
    return null;
  }
  return null;
}

/** Orientation in an EXIF block; null if none. */
export function exifOrientation(block) {
  return orientationEntry(block)?.value ?? null;
}

/** Orientation in an XMP packet (string or bytes); null if none. */
export function xmpOrientation(xmp) {
  if (!xmp) return null;
  const m = XMP_ORIENTATION.exec(typeof xmp === "string" ? xmp : latin1(xmp));
  return m ? Number(m[2]) : null;
}

/** The EXIF block of Pillow's "Raw profile type exif" text chunk (ImageMagick writes it). */
export function rawProfileExif(text) {
  if (!text) return null;
  const hex = text.split("\n").slice(3).join("");
  if (!/^([0-9a-fA-F]{2})*$/.test(hex)) return null;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(2 * i, 2), 16);
  return out;
}

/** Orientation of a decoded PNG (png.js): eXIf, else the raw-profile text, else XMP. */
export function pngOrientation(png) {
  const block = png.exif || rawProfileExif(png.text["Raw profile type exif"]);
  const o = block ? exifOrientation(block) : null;
  return o ?? xmpOrientation(png.text["XML:com.adobe.xmp"]);
}

/** The EXIF and XMP blocks of JPEG bytes (first APP1 of each kind), as subarrays. */
function jpegBlocks(bytes) {
  let exif = null, xmp = null;
  for (let o = 2; o + 4 <= bytes.length && bytes[o] === 0xff;) {
    const marker = bytes[o + 1];
    if (marker === 0xda || marker === 0xd9) break; // start of scan / end of image
    const len = (bytes[o + 2] << 8) | bytes[o + 3];
    const seg = bytes.subarray(o + 4, o + 2 + len);
    if (marker === 0xe1) {
      if (!exif && latin1(seg.subarray(0, 6)) === "Exif\0\0") exif = seg;
      const ns = "http://ns.adobe.com/xap/1.0/\0";
      if (!xmp && latin1(seg.subarray(0, ns.length)) === ns) xmp = seg.subarray(ns.length);
    }
    o += 2 + len;
  }
  return { exif, xmp };
}

/** The EXIF ("EXIF") and XMP ("XMP ") chunks of WebP bytes. */
function webpBlocks(bytes) {
  let exif = null, xmp = null;
  if (latin1(bytes.subarray(0, 4)) !== "RIFF" || latin1(bytes.subarray(8, 12)) !== "WEBP") return { exif, xmp };
  for (let o = 12; o + 8 <= bytes.length;) {
    const type = latin1(bytes.subarray(o, o + 4));
    const len = bytes[o + 4] | (bytes[o + 5] << 8) | (bytes[o + 6] << 16) | (bytes[o + 7] << 24);
    const data = bytes.subarray(o + 8, o + 8 + len);
    if (type === "EXIF") exif = data;
    if (type === "XMP ") xmp = data;
    o += 8 + len + (len & 1);
  }
  return { exif, xmp };
}

const blocksOf = (bytes) => (bytes[0] === 0xff && bytes[1] === 0xd8 ? jpegBlocks(bytes) : webpBlocks(bytes));

/** Orientation of JPEG or WebP bytes as Pillow reads it (EXIF, else XMP); 1 when none. */
export function fileOrientation(bytes) {
  const { exif, xmp } = blocksOf(bytes);
  return (exif ? exifOrientation(exif) : null) ?? xmpOrientation(xmp) ?? 1;
}

/**
 * A copy of JPEG or WebP bytes whose EXIF orientation reads 1. Browsers rotate by EXIF whatever
 * createImageBitmap's imageOrientation says (Chromium 150 does), so the browser gets the stored
 * pixels this way and preprocess applies the orientation once, as Pillow does.
 */
export function withoutOrientation(bytes) {
  const { exif } = blocksOf(bytes);
  const entry = exif ? orientationEntry(exif) : null;
  if (!entry) return bytes;
  const out = bytes.slice();
  const at = exif.byteOffset - bytes.byteOffset + entry.offset;
  out.fill(0, at, at + entry.width);
  out[entry.le ? at : at + entry.width - 1] = 1;
  return out;
}
