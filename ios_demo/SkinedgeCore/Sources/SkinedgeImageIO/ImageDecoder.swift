#if canImport(ImageIO) && canImport(CoreGraphics)
import CoreGraphics
import Foundation
import ImageIO
import SkinedgeCore

/// Decodes an image file to the raw pixels it stores (`RawImage`), without colour management,
/// premultiplication or scaling, so that `Preprocessor` sees what Pillow sees. The pixels come
/// straight from the CGImage's data provider; only layouts that are not plain grey/RGB(A) of
/// 8 or 16 bits (palette, CMYK, float, packed) are drawn into an 8-bit RGB context instead, and
/// such an image is marked `exact == false`: it may differ from Python in the last bits.
public enum ImageDecoder {
    public struct Decoded {
        public let raw: RawImage
        /// false when the pixels went through a Core Graphics conversion.
        public let exact: Bool
    }

    /// The first frame of an image file's bytes, with its EXIF orientation.
    public static func decode(_ data: Data, source: String) throws -> Decoded {
        guard let src = CGImageSourceCreateWithData(data as CFData, nil),
              CGImageSourceGetCount(src) > 0 else {
            throw SkinedgeError.badImage(source: source, problem: "not a readable image (unknown "
                                         + "or unsupported format)")
        }
        let props = CGImageSourceCopyPropertiesAtIndex(src, 0, nil) as? [CFString: Any] ?? [:]
        if let w = props[kCGImagePropertyPixelWidth] as? Int,
           let h = props[kCGImagePropertyPixelHeight] as? Int {
            try ImageLimits.check(width: w, height: h, source: source)  // before decoding pixels
        }
        let options = [kCGImageSourceShouldCache: false] as CFDictionary
        guard let image = CGImageSourceCreateImageAtIndex(src, 0, options) else {
            throw SkinedgeError.badImage(source: source, problem: "corrupt or truncated image")
        }
        // Pillow reads the orientation from a JPEG's APP1 or a PNG's eXIf; ImageIO's
        // property covers the containers Pillow does not read the same way (HEIC).
        let orientation = ExifOrientation.read(from: data)
            ?? (props[kCGImagePropertyOrientation] as? Int) ?? 1
        return try decode(image, orientation: orientation, source: source)
    }

    /// A CGImage (e.g. a camera capture) with the EXIF `orientation` it is shown with.
    public static func decode(_ image: CGImage, orientation: Int, source: String) throws -> Decoded {
        try ImageLimits.check(width: image.width, height: image.height, source: source)
        if let raw = try direct(image, orientation: orientation) {
            return Decoded(raw: raw, exact: true)
        }
        return Decoded(raw: try drawn(image, orientation: orientation, source: source), exact: false)
    }

    /// The data provider's bytes read as they are, for grey / RGB with optional alpha, 8 or
    /// 16 bits, straight (not premultiplied) alpha; nil for any other layout.
    static func direct(_ image: CGImage, orientation: Int) throws -> RawImage? {
        let info = image.bitmapInfo
        let alpha = image.alphaInfo
        let model = image.colorSpace?.model
        let bits = image.bitsPerComponent
        guard !info.contains(.floatComponents), bits == 8 || bits == 16,
              model == .monochrome || model == .rgb,
              ![CGImageAlphaInfo.premultipliedFirst, .premultipliedLast, .alphaOnly].contains(alpha),
              let data = image.dataProvider?.data else { return nil }
        let colours = model == .monochrome ? 1 : 3
        let hasAlpha = alpha == .first || alpha == .last
        let skips = alpha == .noneSkipFirst || alpha == .noneSkipLast
        let stored = colours + (hasAlpha || skips ? 1 : 0)  // components per pixel in memory
        let bytesPer = bits / 8
        guard image.bitsPerPixel == stored * bits else { return nil }
        let order = info.intersection(.byteOrderMask)
        let known: [CGBitmapInfo] = bits == 8 ? [[], .byteOrder32Big, .byteOrder32Little]
            : [[], .byteOrder16Big, .byteOrder16Little]
        guard known.contains(order), bits == 16 || order.isEmpty || stored == 4 else { return nil }
        // A 32-bit little-endian pixel stores its components in reverse (BGRA for ARGB).
        let reversed = order == .byteOrder32Little && bits == 8
        let little16 = bits == 16 && order == .byteOrder16Little
        let alphaFirst = alpha == .first || alpha == .noneSkipFirst
        // Memory index of each output component (colours..., then alpha).
        var slots = Array(0..<stored)
        if alphaFirst { slots = Array(1..<stored) + [0] }
        if reversed { slots = slots.map { stored - 1 - $0 } }
        if !hasAlpha { slots.removeLast(skips ? 1 : 0) }
        let channels = colours + (hasAlpha ? 1 : 0)
        let w = image.width, h = image.height, rowBytes = image.bytesPerRow
        let bytes = CFDataGetBytePtr(data)!
        let count = w * h * channels
        if bits == 8 {
            var out = [UInt8](repeating: 0, count: count)
            for y in 0..<h {
                for x in 0..<w {
                    let p = y * rowBytes + x * stored
                    for c in 0..<channels { out[(y * w + x) * channels + c] = bytes[p + slots[c]] }
                }
            }
            return try RawImage(width: w, height: h, channels: channels, samples: .eight(out),
                                orientation: orientation)
        }
        var out = [UInt16](repeating: 0, count: count)
        for y in 0..<h {
            for x in 0..<w {
                let p = y * rowBytes + x * stored * bytesPer
                for c in 0..<channels {
                    let q = p + slots[c] * bytesPer
                    let (hi, lo) = little16 ? (bytes[q + 1], bytes[q]) : (bytes[q], bytes[q + 1])
                    out[(y * w + x) * channels + c] = UInt16(hi) << 8 | UInt16(lo)
                }
            }
        }
        return try RawImage(width: w, height: h, channels: channels, samples: .sixteen(out),
                            orientation: orientation)
    }

    /// Any other layout drawn into 8-bit RGB over white (alpha is flattened the way Python
    /// composites it, but through Core Graphics' arithmetic, so not bit for bit).
    static func drawn(_ image: CGImage, orientation: Int, source: String) throws -> RawImage {
        let w = image.width, h = image.height
        var rgbx = [UInt8](repeating: 255, count: w * h * 4)
        let space = image.colorSpace?.model == .rgb ? image.colorSpace! : CGColorSpaceCreateDeviceRGB()
        let ok = rgbx.withUnsafeMutableBytes { buf -> Bool in
            guard let ctx = CGContext(data: buf.baseAddress, width: w, height: h, bitsPerComponent: 8,
                                      bytesPerRow: w * 4, space: space,
                                      bitmapInfo: CGImageAlphaInfo.noneSkipLast.rawValue) else {
                return false
            }
            ctx.setFillColor(CGColor(red: 1, green: 1, blue: 1, alpha: 1))
            ctx.fill(CGRect(x: 0, y: 0, width: w, height: h))
            ctx.draw(image, in: CGRect(x: 0, y: 0, width: w, height: h))
            return true
        }
        guard ok else {
            throw SkinedgeError.badImage(source: source, problem: "image layout not supported "
                + "(\(image.bitsPerComponent) bits per component, colour model "
                + "\(String(describing: image.colorSpace?.model)))")
        }
        var rgb = [UInt8](repeating: 0, count: w * h * 3)
        for i in 0..<(w * h) {
            rgb[3 * i] = rgbx[4 * i]
            rgb[3 * i + 1] = rgbx[4 * i + 1]
            rgb[3 * i + 2] = rgbx[4 * i + 2]
        }
        return try RawImage(width: w, height: h, channels: 3, samples: .eight(rgb),
                            orientation: orientation)
    }
}
#endif
