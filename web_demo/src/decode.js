// Image bytes -> decoded pixels and EXIF orientation, for preprocess.modelImage. PNG (what the
// golden vectors and lossless photos use) is decoded here, exactly as Pillow decodes it, 16-bit
// and alpha included; any other format goes to the platform's decoder (the browser's), whose
// pixels are Pillow's only as far as both use the same codec (see README.md).

import { ImageError } from "./errors.js";
import { fileOrientation, pngOrientation, withoutOrientation } from "./exif.js";
import { decodePng, isPng } from "./png.js";

/**
 * bytes: Uint8Array of an image file; inflate: zlib inflate (Uint8Array -> Promise<Uint8Array>);
 * platformDecode: bytes -> Promise<{width, height, data: RGBA Uint8Array (not premultiplied)}>
 * or null where there is none (node); it is given the bytes with their EXIF orientation set to
 * 1, so it cannot rotate them before preprocess does. Returns {decoded, orientation}; ImageError when the bytes
 * are not an image this page can decode.
 */
export async function decodeImage(bytes, name, { inflate, platformDecode = null }) {
  if (!bytes.length) throw new ImageError(`${name}: file is empty (0 bytes)`);
  if (isPng(bytes)) {
    const decoded = await decodePng(bytes, inflate, name);
    return { decoded, orientation: pngOrientation(decoded) ?? 1 };
  }
  if (!platformDecode) throw new ImageError(`${name}: not a PNG, and no other decoder here`);
  let rgba;
  try {
    rgba = await platformDecode(withoutOrientation(bytes));
  } catch (err) {
    throw new ImageError(`${name}: not a readable image: the browser cannot decode it ` +
      `(${err && err.message ? err.message : err}); use a JPEG or PNG file`);
  }
  return { decoded: { ...rgba, mode: "RGBA" }, orientation: fileOrientation(bytes) };
}
