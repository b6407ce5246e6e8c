import Foundation

/// Pillow's antialiased bilinear resize (`Image.resize(size, BILINEAR, reducing_gap=None)`,
/// libImaging/Resample.c), bit for bit: a horizontal then a vertical pass, each with weights
/// from a triangle filter whose support grows with the downscale factor, normalised, turned
/// into 22-bit fixed point and accumulated in integers. A platform scaler (vImage, Core Image,
/// Vision) filters differently and does not give the model the pixels Python gives it.
enum PillowResize {
    /// Fixed-point fraction bits of the weights (Resample.c PRECISION_BITS = 32 - 8 - 2).
    static let precisionBits = 22

    struct Taps {
        /// First input index and number of inputs of each output index.
        var bounds: [(start: Int, count: Int)]
        /// Weights, `stride` per output index.
        var weights: [Int]
        var stride: Int
    }

    /// Resample.c precompute_coeffs + normalize_coeffs_8bpc for the box (0, inSize).
    static func taps(inSize: Int, outSize: Int) -> Taps {
        let scale = Double(inSize) / Double(outSize)
        let filterScale = max(scale, 1.0)
        let support = 1.0 * filterScale  // the bilinear filter's support is 1
        let stride = Int(support.rounded(.up)) * 2 + 1
        var bounds: [(start: Int, count: Int)] = []
        var weights = [Int](repeating: 0, count: outSize * stride)
        for xx in 0..<outSize {
            let center = 0.0 + (Double(xx) + 0.5) * scale
            let ss = 1.0 / filterScale
            // C's (int) cast truncates toward zero, as Int(_:) does.
            let xmin = max(Int(center - support + 0.5), 0)
            let count = min(Int(center + support + 0.5), inSize) - xmin
            var k = [Double](repeating: 0, count: count)
            var ww = 0.0
            for x in 0..<count {
                let w = triangle((Double(x + xmin) - center + 0.5) * ss)
                k[x] = w
                ww += w
            }
            for x in 0..<count {
                let w = ww != 0.0 ? k[x] / ww : k[x]
                let fixed = w * Double(1 << precisionBits)
                weights[xx * stride + x] = w < 0 ? Int(-0.5 + fixed) : Int(0.5 + fixed)
            }
            bounds.append((xmin, count))
        }
        return Taps(bounds: bounds, weights: weights, stride: stride)
    }

    static func triangle(_ x: Double) -> Double {
        let a = abs(x)
        return a < 1.0 ? 1.0 - a : 0.0
    }

    /// Resample.c clip8: the accumulator's integer part clamped to 0...255.
    @inline(__always)
    static func clip8(_ acc: Int) -> UInt8 {
        UInt8(clamping: acc >> precisionBits)
    }

    /// RGB8 `pixels` (width x height x 3, row-major) -> newWidth x newHeight x 3.
    static func resize(_ pixels: [UInt8], width: Int, height: Int,
                       newWidth: Int, newHeight: Int) -> [UInt8] {
        var src = pixels
        var w = width
        let half = 1 << (precisionBits - 1)
        if newWidth != width {
            let t = taps(inSize: width, outSize: newWidth)
            var out = [UInt8](repeating: 0, count: newWidth * height * 3)
            for y in 0..<height {
                let row = y * width * 3
                for xx in 0..<newWidth {
                    let (start, count) = t.bounds[xx]
                    var r = half, g = half, b = half
                    for x in 0..<count {
                        let k = t.weights[xx * t.stride + x]
                        let p = row + (start + x) * 3
                        r += Int(src[p]) * k
                        g += Int(src[p + 1]) * k
                        b += Int(src[p + 2]) * k
                    }
                    let o = (y * newWidth + xx) * 3
                    out[o] = clip8(r)
                    out[o + 1] = clip8(g)
                    out[o + 2] = clip8(b)
                }
            }
            src = out
            w = newWidth
        }
        if newHeight != height {
            let t = taps(inSize: height, outSize: newHeight)
            var out = [UInt8](repeating: 0, count: w * newHeight * 3)
            for yy in 0..<newHeight {
                let (start, count) = t.bounds[yy]
                for x in 0..<w {
                    var r = half, g = half, b = half
                    for y in 0..<count {
                        let k = t.weights[yy * t.stride + y]
                        let p = ((start + y) * w + x) * 3
                        r += Int(src[p]) * k
                        g += Int(src[p + 1]) * k
                        b += Int(src[p + 2]) * k
                    }
                    let o = (yy * w + x) * 3
                    out[o] = clip8(r)
                    out[o + 1] = clip8(g)
                    out[o + 2] = clip8(b)
                }
            }
            src = out
        }
        return src
    }
}
