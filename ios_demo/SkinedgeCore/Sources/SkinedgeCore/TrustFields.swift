import Foundation

/// The card's trust fields (calibration.py, clinical.py, gate.py): parsed and checked with the
/// rules of their Python `check_*` functions. An empty object means "none": uncalibrated, no
/// referral threshold, no gate, no intended use.
typealias CardProblem = (String, String) -> SkinedgeError

private func isEmptyObject(_ v: JSONValue?) -> Bool {
    v == nil || v == .object([:])
}

/// p = softmax(z / temperature + bias) over the raw outputs z (calibration.py apply_card).
public struct Calibration: Equatable {
    /// calibration.py T_RANGE, and the largest |bias| it accepts.
    static let temperatureRange = 0.05...20.0
    static let maxAbsBias = 50.0

    public let temperature: Double
    public let bias: [Double]

    static func parse(_ v: JSONValue?, labels: [String], bad: CardProblem) throws -> Calibration? {
        if isEmptyObject(v) { return nil }
        guard let o = v?.object else { throw bad("calibration", "must be a JSON object (empty: uncalibrated)") }
        guard let t = o["temperature"]?.number, temperatureRange.contains(t) else {
            throw bad("calibration", "must have a temperature in [\(temperatureRange.lowerBound), "
                      + "\(temperatureRange.upperBound)]")
        }
        guard let b = o["bias"]?.numbers(count: labels.count), b.allSatisfy({ abs($0) < maxAbsBias }) else {
            throw bad("calibration", "must have a bias of \(labels.count) finite numbers (one per label)")
        }
        return Calibration(temperature: t, bias: b)
    }
}

/// Refer when the summed calibrated probability of `positives` is at least `threshold`.
public struct Referral: Equatable {
    /// The task the card scores (`referral.score`, e.g. malignant).
    public let task: String
    public let positives: [String]
    public let threshold: Double
    public let targetSensitivity: Double?

    static func parse(_ v: JSONValue?, labels: [String], bad: CardProblem) throws -> Referral? {
        if isEmptyObject(v) { return nil }
        guard let o = v?.object, let tasks = o["tasks"]?.object else {
            throw bad("referral", "must be a JSON object with 'tasks' (empty: no referral threshold)")
        }
        guard let score = o["score"]?.string, tasks[score] != nil else {
            throw bad("referral", "must name its 'score' among its tasks")
        }
        var chosen: Referral?
        for (name, task) in tasks.sorted(by: { $0.key < $1.key }) {
            guard let t = task["threshold"]?.number, t >= 0, t <= 1 else {
                throw bad("referral", "task '\(name)' must have a threshold in [0, 1]")
            }
            guard let pos = task["labels"]?.strings, !pos.isEmpty, Set(pos).isSubset(of: Set(labels)) else {
                throw bad("referral", "task '\(name)' must list labels of this model")
            }
            if name == score {
                chosen = Referral(task: name, positives: pos, threshold: t,
                                  targetSensitivity: o["target_sensitivity"]?.number)
            }
        }
        return chosen
    }
}

/// The input gate's thresholds and out-of-distribution statistics (gate.py fit_gate).
public struct GateSpec: Equatable {
    /// gate.py's ranges (MIN_SIDE_RANGE, SHARPNESS_RANGE, FEATURE_BOUND, PRECISION_BOUND,
    /// THRESHOLD_MAX): within them every statistic is finite (no inf - inf = NaN).
    static let minSideRange = 1...65536
    static let sharpnessRange = -1.0...10.0
    static let featureBound = 10.0
    static let precisionBound = 1e12
    static let thresholdMax = 1e12

    public let minSide: Int
    public let luminance: (low: Double, high: Double)
    public let sharpnessMin: Double
    public let oodMean: [Double]
    /// Row-major precision matrix, features x features.
    public let oodPrecision: [[Double]]
    public let oodThreshold: Double

    public static func == (a: GateSpec, b: GateSpec) -> Bool {
        a.minSide == b.minSide && a.luminance == b.luminance && a.sharpnessMin == b.sharpnessMin
            && a.oodMean == b.oodMean && a.oodPrecision == b.oodPrecision
            && a.oodThreshold == b.oodThreshold
    }

    static func parse(_ v: JSONValue?, bad: CardProblem) throws -> GateSpec? {
        if isEmptyObject(v) { return nil }
        guard let o = v?.object else { throw bad("gate", "must be a JSON object (empty: no input gate)") }
        guard let minSide = o["min_side"]?.int, let lum = o["luminance"]?.numbers(count: 2),
              let sharp = o["sharpness_min"]?.number else {
            throw bad("gate", "must have min_side (integer), luminance [low, high] and sharpness_min")
        }
        let n = InputGate.featureNames.count
        guard let ood = o["ood"], ood["features"]?.strings == InputGate.featureNames,
              let mean = ood["mean"]?.numbers(count: n), let threshold = ood["threshold"]?.number,
              let rows = ood["precision"]?.array, rows.count == n else {
            throw bad("gate", "must have ood statistics over the \(n) features this version computes")
        }
        let precision = rows.compactMap { $0.numbers(count: n) }
        guard precision.count == n else {
            throw bad("gate", "must have ood statistics over the \(n) features this version computes")
        }
        guard minSideRange.contains(minSide) else {
            throw bad("gate", "must have min_side from 1 to 65536 px")
        }
        guard lum[0] >= 0, lum[0] <= lum[1], lum[1] <= 1 else {
            throw bad("gate", "must have luminance [low, high] with 0 <= low <= high <= 1")
        }
        guard sharpnessRange.contains(sharp) else { throw bad("gate", "must have sharpness_min in [-1, 10]") }
        guard mean.allSatisfy({ abs($0) <= featureBound }),
              precision.allSatisfy({ $0.allSatisfy { abs($0) <= precisionBound } }),
              threshold > 0, threshold <= thresholdMax else {
            throw bad("gate", "must have ood mean within +-10, precision within +-1e+12 and a "
                      + "threshold in (0, 1e+12]")
        }
        return GateSpec(minSide: minSide, luminance: (lum[0], lum[1]), sharpnessMin: sharp,
                        oodMean: mean, oodPrecision: precision, oodThreshold: threshold)
    }
}

/// What the model is for and what it cannot do, shown with every result.
public struct IntendedUse: Equatable {
    public let summary: String
    public let limitations: [String]

    static func parse(_ v: JSONValue?, bad: CardProblem) throws -> IntendedUse? {
        if isEmptyObject(v) { return nil }
        guard let o = v?.object, let summary = o["summary"]?.string, !summary.isEmpty else {
            throw bad("intended_use", "must be a JSON object with a non-empty 'summary'")
        }
        let limitations = o["limitations"].map { $0.strings } ?? []
        guard let lim = limitations else {
            throw bad("intended_use", "must have 'limitations' as a list of strings")
        }
        return IntendedUse(summary: summary, limitations: lim)
    }
}
