import Foundation

/// One class and its probability.
public struct ClassProbability: Equatable {
    public let label: String
    public let probability: Double
}

/// What skinedge's `predict` returns for one image (api.py Prediction), computed from the
/// model's softmax and the card.
public struct Prediction: Equatable {
    /// The class the model picks: argmax of its own softmax (calibration never changes it).
    public let label: String
    /// The model's own softmax, in the card's label order.
    public let rawProbabilities: [Double]
    /// Every class, calibrated per the card when `calibrated` (else the model's softmax).
    public let probabilities: [String: Double]
    /// Every class, most probable first (ties: the earlier label first, as numpy's argsort).
    public let ranked: [ClassProbability]
    public let calibrated: Bool
    /// Summed calibrated probability of the card's referral classes, or without a referral
    /// field of its `malignant_labels`; nil when the card names neither (an older card: Python
    /// then sums a built-in list of malignant classes, and the app names no class itself).
    public let malignantProbability: Double?
    /// `malignantProbability >= threshold`; nil without a referral field.
    public let refer: Bool?
    public let threshold: Double?
    /// The input gate's verdict; nil when the card has no gate.
    public let gate: InputGate.Verdict?

    public func topK(_ k: Int) -> [ClassProbability] { Array(ranked.prefix(k)) }
}

public enum Predictor {
    /// log-softmax as calibration.py computes it: z - max, minus log of the summed exps.
    public static func logSoftmax(_ z: [Double]) -> [Double] {
        let m = z.max() ?? 0
        let shifted = z.map { $0 - m }
        let lse = log(shifted.map { exp($0) }.reduce(0, +))
        return shifted.map { $0 - lse }
    }

    public static func softmax(_ z: [Double]) -> [Double] { logSoftmax(z).map { exp($0) } }

    /// Probabilities per the card's calibration from the model's softmax `raw`
    /// (calibration.py apply_card on log(raw)); `raw` itself without calibration.
    public static func calibrated(_ raw: [Double], _ calibration: Calibration?) -> [Double] {
        guard let c = calibration else { return raw }
        return softmax(zip(raw, c.bias).map { log($0.0) / c.temperature + $0.1 })
    }

    /// A classifier's reported probabilities as skinedge's CoreML runtime reads them: each
    /// floored at 1e-12 and renormalised (a float16 model's outputs need not sum to 1).
    public static func normalised(_ p: [Double]) -> [Double] {
        softmax(p.map { log(max($0, 1e-12)) })
    }

    /// The Prediction for the model's softmax `raw` (label order) of `image` under `card`.
    public static func predict(softmax raw: [Double], card: ModelCard,
                               image: ModelImage?) throws -> Prediction {
        guard raw.count == card.labels.count else {
            throw SkinedgeError.badOutput(source: card.source, problem: "the model gave "
                + "\(raw.count) outputs but its card has \(card.labels.count) labels")
        }
        guard raw.allSatisfy({ $0.isFinite }) else {
            throw SkinedgeError.badOutput(source: card.source, problem: "the model's output is "
                + "not finite (NaN or inf), so no label is given; the model may be corrupt")
        }
        let probs = calibrated(raw, card.calibration)
        let best = raw.indices.max { raw[$0] < raw[$1] || (raw[$0] == raw[$1] && $0 > $1) } ?? 0
        let order = probs.indices.sorted { probs[$0] > probs[$1] || (probs[$0] == probs[$1] && $0 < $1) }
        var malignant: Double?
        var refer: Bool?
        if let r = card.referral {
            let p = r.positives.reduce(0.0) { $0 + probs[card.labels.firstIndex(of: $1)!] }
            malignant = p
            refer = p >= r.threshold
        } else if !card.malignantLabels.isEmpty {
            malignant = card.malignantLabels.reduce(0.0) { $0 + probs[card.labels.firstIndex(of: $1)!] }
        }
        return Prediction(
            label: card.labels[best], rawProbabilities: raw,
            probabilities: Dictionary(uniqueKeysWithValues: zip(card.labels, probs)),
            ranked: order.map { ClassProbability(label: card.labels[$0], probability: probs[$0]) },
            calibrated: card.calibration != nil, malignantProbability: malignant, refer: refer,
            threshold: card.referral?.threshold,
            gate: card.gate.flatMap { g in image.map { InputGate.assess($0, gate: g) } })
    }
}
