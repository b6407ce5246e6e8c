import Foundation

/// The input gate (skinedge/gate.py): is a model image usable at all? Every statistic is
/// computed in Double as gate.py computes it in float64, so the verdict matches Python's; the
/// scores may differ from numpy's in the last bits (numpy sums pairwise).
public enum InputGate {
    /// gate.py FEATURES, in order: the card's `gate.ood.features` must equal it.
    public static let featureNames = [
        "mean_r", "mean_g", "mean_b", "std_r", "std_g", "std_b", "chroma_r", "chroma_g",
        "saturation", "grey_share", "rgb_order_share", "sharpness", "edge_density",
        "center_minus_border",
    ]
    static let eps = 1e-6

    public struct Verdict: Equatable {
        public let usable: Bool
        /// One sentence per reason, worded as gate.py words them.
        public let reasons: [String]
        /// min_side, luminance, sharpness, ood: rounded to 4 decimals as gate.py rounds them.
        public let scores: [String: Double]
    }

    /// Rec. 601 luma in [0, 1] of every pixel of an RGB8 image (gate.py luminance).
    static func luminance(_ p: [UInt8]) -> [Double] {
        (0..<(p.count / 3)).map { i in
            0.299 * (Double(p[3 * i]) / 255.0) + 0.587 * (Double(p[3 * i + 1]) / 255.0)
                + 0.114 * (Double(p[3 * i + 2]) / 255.0)
        }
    }

    static func mean(_ v: [Double]) -> Double { v.reduce(0, +) / Double(v.count) }

    /// Population standard deviation (numpy's default, ddof = 0).
    static func std(_ v: [Double]) -> Double { variance(v).squareRoot() }

    static func variance(_ v: [Double]) -> Double {
        let m = mean(v)
        return v.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(v.count)
    }

    /// log10 of the variance of the 4-neighbour Laplacian of the luma (0..255), inner pixels.
    static func sharpness(_ y01: [Double], size s: Int) -> Double {
        var lap: [Double] = []
        lap.reserveCapacity((s - 2) * (s - 2))
        let at = { (rr: Int, cc: Int) in y01[rr * s + cc] * 255.0 }
        for r in 1..<(s - 1) {
            for c in 1..<(s - 1) {
                lap.append(at(r - 1, c) + at(r + 1, c) + at(r, c - 1) + at(r, c + 1) - 4 * at(r, c))
            }
        }
        return log10(variance(lap) + 1.0)
    }

    /// gate.py features: colour, texture and layout statistics of an S x S model image.
    public static func features(_ image: ModelImage) -> [Double] {
        let p = image.pixels, s = image.size, n = s * s
        var r = [Double](), g = [Double](), b = [Double]()
        var chromaR = [Double](), chromaG = [Double](), sat = [Double]()
        var grey = 0.0, ordered = 0.0
        for i in 0..<n {
            let x = (Double(p[3 * i]) / 255.0, Double(p[3 * i + 1]) / 255.0, Double(p[3 * i + 2]) / 255.0)
            r.append(x.0)
            g.append(x.1)
            b.append(x.2)
            let total = x.0 + x.1 + x.2 + eps
            chromaR.append(x.0 / total)
            chromaG.append(x.1 / total)
            let hi = max(x.0, x.1, x.2), lo = min(x.0, x.1, x.2)
            let sv = (hi - lo) / (hi + eps)
            sat.append(sv)
            grey += sv < 0.1 ? 1 : 0
            ordered += x.0 >= x.1 && x.1 >= x.2 ? 1 : 0
        }
        let y = luminance(p)
        var gy = 0.0, gx = 0.0
        for row in 0..<s {
            for col in 0..<s {
                if row + 1 < s { gy += abs(y[(row + 1) * s + col] - y[row * s + col]) }
                if col + 1 < s { gx += abs(y[row * s + col + 1] - y[row * s + col]) }
            }
        }
        gy /= Double((s - 1) * s)
        gx /= Double(s * (s - 1))
        let q = s / 4
        var inner = [Double]()
        for row in q..<(s - q) {
            for col in q..<(s - q) { inner.append(y[row * s + col]) }
        }
        let total = y.reduce(0, +), innerSum = inner.reduce(0, +)
        let border = (total - innerSum) / Double(y.count - inner.count)
        return [mean(r), mean(g), mean(b), std(r), std(g), std(b), mean(chromaR), mean(chromaG),
                mean(sat), grey / Double(n), ordered / Double(n), sharpness(y, size: s),
                log10(gy + gx + 1e-4), mean(inner) - border]
    }

    /// Squared Mahalanobis distance of `features` from the card's OOD statistics.
    static func oodScore(_ f: [Double], _ gate: GateSpec) -> Double {
        let d = zip(f, gate.oodMean).map { $0 - $1 }
        var out = 0.0
        for (j, dj) in d.enumerated() {
            var row = 0.0  // (d @ P)[j]
            for (i, di) in d.enumerated() { row += di * gate.oodPrecision[i][j] }
            out += row * dj
        }
        return out
    }

    /// gate.py assess: the verdict on a model image per the card's `gate`.
    public static func assess(_ image: ModelImage, gate: GateSpec) -> Verdict {
        let f = features(image)
        let lum = mean(luminance(image.pixels))
        let w = image.originalWidth, h = image.originalHeight
        let sharp = f[featureNames.firstIndex(of: "sharpness")!]
        let ood = oodScore(f, gate)
        var reasons: [String] = []
        if min(w, h) < gate.minSide {
            reasons.append("too small: \(w)x\(h) px, under \(gate.minSide) px on the shorter side")
        }
        let (lo, hi) = gate.luminance
        if lum < lo || lum > hi {
            reasons.append("too \(lum < lo ? "dark" : "bright"): mean luminance \(fixed(lum, 2)), "
                           + "outside [\(fixed(lo, 2)), \(fixed(hi, 2))]")
        }
        if sharp < gate.sharpnessMin {
            reasons.append("blurred: sharpness \(fixed(sharp, 2)), under \(fixed(gate.sharpnessMin, 2))")
        }
        if !ood.isFinite {  // NaN > threshold is false: never "usable" on it
            reasons.append("does not look like a dermoscopic skin image: OOD score not finite "
                           + "(the card's gate statistics are corrupt)")
        } else if ood > gate.oodThreshold {
            reasons.append("does not look like a dermoscopic skin image: OOD score "
                           + "\(fixed(ood, 1)) over \(fixed(gate.oodThreshold, 1))")
        }
        let scores = ["min_side": Double(min(w, h)), "luminance": lum, "sharpness": sharp, "ood": ood]
        return Verdict(usable: reasons.isEmpty, reasons: reasons,
                       scores: scores.mapValues { ($0 * 10_000).rounded() / 10_000 })
    }

    /// Python's `format(v, ".Nf")`: printf rounding of the exact binary value, as Python's.
    static func fixed(_ v: Double, _ digits: Int) -> String {
        String(format: "%.\(digits)f", v)
    }
}
