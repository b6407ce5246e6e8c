import Foundation

/// Decoded pixels as the file stores them, before any conversion: what a platform decoder
/// (ImageIO on iOS, see SkinedgeImageIO) hands to `Preprocessor`. Alpha is straight (not
/// premultiplied), as PNG stores it and Pillow reads it.
public struct RawImage {
    public enum Samples {
        case eight([UInt8])
        case sixteen([UInt16])
    }

    /// Stored width and height, before the EXIF orientation is applied.
    public let width: Int
    public let height: Int
    /// 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA (alpha last).
    public let channels: Int
    /// Row-major, channels interleaved: width * height * channels values.
    public let samples: Samples
    /// EXIF orientation 1...8 (1: as stored).
    public let orientation: Int

    public init(width: Int, height: Int, channels: Int, samples: Samples, orientation: Int = 1) throws {
        guard (1...4).contains(channels) else {
            throw SkinedgeError.badImage(source: "<image>", problem: "\(channels) channels per pixel; "
                                         + "expected 1 to 4 (grey, grey + alpha, RGB, RGBA)")
        }
        let count: Int
        switch samples {
        case let .eight(v): count = v.count
        case let .sixteen(v): count = v.count
        }
        guard width > 0, height > 0, count == width * height * channels else {
            throw SkinedgeError.badImage(source: "<image>", problem: "\(count) samples for a "
                                         + "\(width)x\(height) image of \(channels) channels")
        }
        self.width = width
        self.height = height
        self.channels = channels
        self.samples = samples
        self.orientation = (1...8).contains(orientation) ? orientation : 1
    }

    /// Width and height as displayed: orientations 5 to 8 swap them.
    public var orientedSize: (width: Int, height: Int) {
        orientation >= 5 ? (height, width) : (width, height)
    }
}

/// The bounds preprocess.py checks before any pixel is allocated (its MAX_PIXELS, MIN_SIDE,
/// MAX_ASPECT_RATIO, MAX_RESIZED_PIXELS), so the app refuses the same images Python does. A
/// card carries its own (`image_limits`, preprocess.ImageLimits): it may tighten them, never
/// loosen them past these defaults; a card without the field gets the defaults.
public struct ImageLimits: Equatable {
    public static let maxPixels = 50_000_000
    public static let minSide = 8
    public static let maxAspectRatio = 10
    public static let maxResizedPixels = 16_000_000
    /// preprocess.MAX_MIN_SIDE: how far a card may raise min_side.
    static let maxMinSide = 65536
    public static let defaults = ImageLimits(maxPixels: maxPixels, minSide: minSide,
                                             maxAspectRatio: maxAspectRatio,
                                             maxResizedPixels: maxResizedPixels)

    public let maxPixels: Int
    public let minSide: Int
    public let maxAspectRatio: Int
    public let maxResizedPixels: Int

    /// Throws a message naming `source` when a `width` x `height` image is outside the defaults.
    public static func check(width: Int, height: Int, source: String) throws {
        try defaults.check(width: width, height: height, source: source)
    }

    /// Throws a message naming `source` when a `width` x `height` image is outside these limits.
    public func check(width: Int, height: Int, source: String) throws {
        let short = min(width, height), long = max(width, height)
        if width * height > maxPixels {
            throw SkinedgeError.badImage(source: source, problem: "image is \(width)x\(height) "
                + "(\(width * height / 1_000_000) MP), over the \(maxPixels / 1_000_000) MP limit; "
                + "downscale it first")
        }
        if short < minSide {
            throw SkinedgeError.badImage(source: source, problem: "image is \(width)x\(height), "
                + "too small to classify (min side \(minSide) px)")
        }
        if long > maxAspectRatio * short {
            throw SkinedgeError.badImage(source: source, problem: "image is \(width)x\(height), "
                + "aspect ratio \(ImageLimits.aspectRatio(width, height)), over the "
                + "\(maxAspectRatio):1 limit (a lesion photo is about 4:3); crop it to the lesion first")
        }
    }

    /// preprocess.aspect_ratio: the longer side over the shorter, exactly ("1001:100").
    static func aspectRatio(_ w: Int, _ h: Int) -> String {
        var (a, b) = (max(w, h), min(w, h))
        while b != 0 { (a, b) = (b, a % b) }
        let g = max(a, 1)
        return "\(max(w, h) / g):\(min(w, h) / g)"
    }

    /// preprocess.check_image_limits: known keys, integers from 1 to the default (min_side: to
    /// maxMinSide).
    static func parse(_ v: JSONValue?, bad: CardProblem) throws -> ImageLimits {
        guard let v else { return defaults }
        guard let o = v.object else { throw bad("image_limits", "must be a JSON object") }
        var values = [defaults.maxPixels, defaults.minSide, defaults.maxAspectRatio,
                      defaults.maxResizedPixels]
        let keys = ["max_pixels", "min_side", "max_aspect_ratio", "max_resized_pixels"]
        let tops = [maxPixels, maxMinSide, maxAspectRatio, maxResizedPixels]
        for (key, value) in o.sorted(by: { $0.key < $1.key }) {
            guard let i = keys.firstIndex(of: key) else {
                throw bad("image_limits", "has unknown key(s) \(key)")
            }
            guard let n = value.int, n >= 1, n <= tops[i] else {
                throw bad("image_limits", "must have \(key) an integer from 1 to \(tops[i])")
            }
            values[i] = n
        }
        return ImageLimits(maxPixels: values[0], minSide: values[1], maxAspectRatio: values[2],
                           maxResizedPixels: values[3])
    }
}
