import Foundation

/// What the model sees: S x S RGB pixels made by the card's resize policy
/// (`shorter_side_then_center_crop`, bilinear), and the size of the original as displayed.
public struct ModelImage: Equatable {
    public let size: Int
    /// uint8 [S, S, 3], row-major HWC, RGB: golden `model_image/<name>.u8` byte for byte.
    public let pixels: [UInt8]
    /// The decoded original after its EXIF orientation (what the input gate's min_side sees).
    public let originalWidth: Int
    public let originalHeight: Int

    public init(size: Int, pixels: [UInt8], originalWidth: Int, originalHeight: Int) {
        self.size = size
        self.pixels = pixels
        self.originalWidth = originalWidth
        self.originalHeight = originalHeight
    }
}

/// skinedge/preprocess.py `model_image` for decoded pixels: EXIF orientation, 8-bit RGB (alpha
/// composited on white, grey and 16-bit converted as Pillow converts them), shorter side
/// resized to S with Pillow's filter, centre crop. Nothing here comes from anywhere but the
/// card (S) and Pillow's arithmetic.
public enum Preprocessor {
    public static func modelImage(_ raw: RawImage, card: ModelCard, source: String) throws -> ModelImage {
        try modelImage(raw, size: card.inputSize, source: source, limits: card.imageLimits)
    }

    /// `limits`: the card's image_limits (the defaults for a card without them).
    public static func modelImage(_ raw: RawImage, size: Int, source: String,
                                  limits: ImageLimits = .defaults) throws -> ModelImage {
        try limits.check(width: raw.width, height: raw.height, source: source)
        let (oriented, w, h) = orient(rgb8(raw), width: raw.width, height: raw.height,
                                      orientation: raw.orientation)
        let (nw, nh) = resizedShape(width: w, height: h, size: size)
        if nw * nh > limits.maxResizedPixels {
            throw SkinedgeError.badImage(source: source, problem: "a \(w)x\(h) image resized to "
                + "the model's \(size) px input would be \(nw)x\(nh) before the crop, over the "
                + "\(limits.maxResizedPixels / 1_000_000) MP limit; crop it to the lesion first")
        }
        let resized = PillowResize.resize(oriented, width: w, height: h, newWidth: nw, newHeight: nh)
        let left = (nw - size) / 2, top = (nh - size) / 2
        var pixels = [UInt8](repeating: 0, count: size * size * 3)
        for y in 0..<size {
            let from = ((top + y) * nw + left) * 3
            pixels.replaceSubrange((y * size * 3)..<((y + 1) * size * 3),
                                   with: resized[from..<(from + size * 3)])
        }
        return ModelImage(size: size, pixels: pixels, originalWidth: w, originalHeight: h)
    }

    /// float32 [1, 3, S, S] NCHW in [0, 1]: `pixel / 255` (golden `model_input/<name>.f32`).
    public static func modelInput(_ image: ModelImage) -> [Float] {
        let s = image.size, plane = s * s
        var out = [Float](repeating: 0, count: 3 * plane)
        for i in 0..<plane {
            for c in 0..<3 {
                out[c * plane + i] = Float(image.pixels[i * 3 + c]) / 255.0
            }
        }
        return out
    }

    /// (width, height) after the shorter side is scaled to `size` (preprocess.py
    /// resized_shape; Python's round() is round-half-to-even).
    static func resizedShape(width: Int, height: Int, size: Int) -> (Int, Int) {
        let scale = Double(size) / Double(min(width, height))
        let w = (Double(width) * scale).rounded(.toNearestOrEven)
        let h = (Double(height) * scale).rounded(.toNearestOrEven)
        return (max(size, Int(w)), max(size, Int(h)))
    }

    /// Any RawImage -> RGB8 as preprocess.py `_to_rgb` makes it. 16-bit data follows Pillow's
    /// PNG reader: greyscale (mode I;16) is scaled, `v / 65535 * 255 + 0.5` truncated (the
    /// numpy path of `_to_uint8`); grey + alpha, RGB and RGBA keep the high byte, as Pillow's
    /// `;16B` unpackers do.
    static func rgb8(_ raw: RawImage) -> [UInt8] {
        let n = raw.width * raw.height, c = raw.channels
        var eight: [UInt8]
        switch raw.samples {
        case let .eight(v):
            eight = v
        case let .sixteen(v) where c == 1:
            eight = v.map { UInt8(min(max(Double($0) / 65535.0 * 255.0 + 0.5, 0), 255)) }
        case let .sixteen(v):
            eight = v.map { UInt8($0 >> 8) }
        }
        if c == 3 { return eight }
        var out = [UInt8](repeating: 0, count: n * 3)
        for i in 0..<n {
            let base = i * c
            let (r, g, b) = c <= 2 ? (eight[base], eight[base], eight[base])
                : (eight[base], eight[base + 1], eight[base + 2])
            if c == 2 || c == 4 {
                let a = Int(eight[base + c - 1])
                out[i * 3] = onWhite(r, a)
                out[i * 3 + 1] = onWhite(g, a)
                out[i * 3 + 2] = onWhite(b, a)
            } else {
                out[i * 3] = r
                out[i * 3 + 1] = g
                out[i * 3 + 2] = b
            }
        }
        return out
    }

    /// Pillow's `alpha_composite` of one channel `v` with alpha `a` over opaque white
    /// (libImaging/AlphaComposite.c, 7 extra bits of precision, rounded division by 255).
    @inline(__always)
    static func onWhite(_ v: UInt8, _ a: Int) -> UInt8 {
        if a == 0 { return 255 }
        // blend = 255 * (255 - a); outa255 = a * 255 + blend = 255 * 255, so
        // coef1 = a * 255 * 255 * 128 / outa255 = a * 128 and coef2 = (255 - a) * 128.
        let tmp = Int(v) * (a << 7) + 255 * ((255 - a) << 7) + (0x80 << 7)
        return UInt8(clamping: (((tmp >> 8) + tmp) >> 8) >> 7)
    }

    /// Pillow's `ImageOps.exif_transpose` of RGB8 pixels: (pixels, width, height) as displayed.
    static func orient(_ p: [UInt8], width w: Int, height h: Int,
                       orientation: Int) -> ([UInt8], Int, Int) {
        if orientation == 1 { return (p, w, h) }
        let swaps = orientation >= 5
        let ow = swaps ? h : w, oh = swaps ? w : h
        var out = [UInt8](repeating: 0, count: p.count)
        for y in 0..<oh {
            for x in 0..<ow {
                let (sx, sy) = source(x, y, width: w, height: h, orientation: orientation)
                let from = (sy * w + sx) * 3, to = (y * ow + x) * 3
                out[to] = p[from]
                out[to + 1] = p[from + 1]
                out[to + 2] = p[from + 2]
            }
        }
        return (out, ow, oh)
    }

    /// The stored pixel shown at (x, y) under `orientation` (Pillow's transpose methods).
    @inline(__always)
    static func source(_ x: Int, _ y: Int, width w: Int, height h: Int,
                       orientation: Int) -> (Int, Int) {
        switch orientation {
        case 2: return (w - 1 - x, y)          // FLIP_LEFT_RIGHT
        case 3: return (w - 1 - x, h - 1 - y)  // ROTATE_180
        case 4: return (x, h - 1 - y)          // FLIP_TOP_BOTTOM
        case 5: return (y, x)                  // TRANSPOSE
        case 6: return (y, h - 1 - x)          // ROTATE_270 (90 degrees clockwise)
        case 7: return (w - 1 - y, h - 1 - x)  // TRANSVERSE
        case 8: return (w - 1 - y, x)          // ROTATE_90 (90 degrees anticlockwise)
        default: return (x, y)
        }
    }
}
