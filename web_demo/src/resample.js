// Pillow's Image.resize(size, Image.BILINEAR, reducing_gap=None) on an 8-bit RGB image, bit for
// bit (libImaging/Resample.c): a separable filter whose support is scaled by the downscale factor
// (so a downscale is antialiased), coefficients normalised to sum 1 in double precision, then
// fixed point with 22 fractional bits; a horizontal pass over the rows the vertical pass needs,
// then a vertical pass; each output rounded by adding half and shifting, clipped to 0..255.

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;
const HALF = 2 ** (PRECISION_BITS - 1);
const SUPPORT = 1.0; // the bilinear (triangle) filter

function triangle(x) {
  if (x < 0) x = -x;
  return x < 1 ? 1 - x : 0;
}

/** precompute_coeffs + normalize_coeffs_8bpc: per output index [xmin, n] and n integer weights. */
export function coefficients(inSize, outSize) {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = SUPPORT * filterscale;
  const bounds = new Int32Array(outSize * 2);
  const ksize = Math.ceil(support) * 2 + 1;
  const kk = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterscale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      w[x] = triangle((x + xmin - center + 0.5) * ss);
      ww += w[x];
    }
    for (let x = 0; x < xmax; x++) {
      const k = ww !== 0 ? w[x] / ww : w[x];
      // C's (int) cast truncates toward zero
      kk[xx * ksize + x] = k < 0 ? Math.trunc(-0.5 + k * ONE) : Math.trunc(0.5 + k * ONE);
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { bounds, kk, ksize };
}

function clip8(ss) {
  const v = Math.floor(ss / ONE); // C's arithmetic shift right
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/**
 * RGB bytes (w*h*3, row-major) -> RGB bytes of nw x nh, as Pillow resizes.
 */
export function resizeBilinear(rgb, w, h, nw, nh) {
  if (nw === w && nh === h) return rgb.slice();
  const vert = coefficients(h, nh);
  let src = rgb, sw = w;
  const first = vert.bounds[0];
  const last = vert.bounds[nh * 2 - 2] + vert.bounds[nh * 2 - 1];
  let rowOffset = 0; // first source row the vertical pass reads from `src`
  if (nw !== w) {
    const horiz = coefficients(w, nw);
    const rows = last - first;
    const tmp = new Uint8Array(nw * rows * 3);
    for (let y = 0; y < rows; y++) {
      const inRow = (y + first) * w * 3;
      for (let xx = 0; xx < nw; xx++) {
        const xmin = horiz.bounds[xx * 2], n = horiz.bounds[xx * 2 + 1], k = xx * horiz.ksize;
        let s0 = HALF, s1 = HALF, s2 = HALF;
        for (let x = 0; x < n; x++) {
          const p = inRow + (x + xmin) * 3, c = horiz.kk[k + x];
          s0 += rgb[p] * c;
          s1 += rgb[p + 1] * c;
          s2 += rgb[p + 2] * c;
        }
        const o = (y * nw + xx) * 3;
        tmp[o] = clip8(s0);
        tmp[o + 1] = clip8(s1);
        tmp[o + 2] = clip8(s2);
      }
    }
    src = tmp;
    sw = nw;
    rowOffset = first;
  }
  if (nh === h) return src;
  const out = new Uint8Array(sw * nh * 3);
  for (let yy = 0; yy < nh; yy++) {
    const ymin = vert.bounds[yy * 2] - rowOffset, n = vert.bounds[yy * 2 + 1], k = yy * vert.ksize;
    for (let xx = 0; xx < sw; xx++) {
      let s0 = HALF, s1 = HALF, s2 = HALF;
      for (let y = 0; y < n; y++) {
        const p = ((y + ymin) * sw + xx) * 3, c = vert.kk[k + y];
        s0 += src[p] * c;
        s1 += src[p + 1] * c;
        s2 += src[p + 2] * c;
      }
      const o = (yy * sw + xx) * 3;
      out[o] = clip8(s0);
      out[o + 1] = clip8(s1);
      out[o + 2] = clip8(s2);
    }
  }
  return out;
}
