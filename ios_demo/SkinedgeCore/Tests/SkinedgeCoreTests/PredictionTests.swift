import Foundation
import SkinedgeCore
import XCTest

/// From each model's recorded softmax, the app computes what `skinedge.load(model).predict`
/// returned: label, calibrated probabilities, ranking, referral and the input gate's verdict.
final class PredictionTests: XCTestCase {
    /// Gate scores are rounded to 4 decimals; numpy sums pairwise, Swift in order.
    static let scoreAtol = 2e-4

    func testPredictionsMatchPython() throws {
        let golden = try GoldenFolder.open()
        XCTAssertFalse(golden.models.isEmpty)
        for model in golden.models {
            let card = try golden.card(model)
            let expected = try golden.json(model.expected)
            for image in golden.images {
                let want = try XCTUnwrap(expected[image.name], "\(model.expected) lacks \(image.name)")
                let raw = try XCTUnwrap(want["probabilities"]?.numbers(count: card.labels.count))
                let got = try Predictor.predict(softmax: raw, card: card, image: try golden.modelImage(image))
                try check(got, against: try XCTUnwrap(want["prediction"]), card: card,
                          what: "\(model.name) / \(image.name)")
            }
        }
    }

    private func check(_ got: Prediction, against want: JSONValue, card: ModelCard, what: String) throws {
        XCTAssertEqual(got.label, want["label"]?.string, what)
        XCTAssertEqual(got.calibrated, want["calibrated"]?.bool, what)
        let probs = try XCTUnwrap(want["probabilities"]?.object)
        for label in card.labels {
            let p = try XCTUnwrap(probs[label]?.number)
            XCTAssertEqual(got.probabilities[label] ?? .nan, p, accuracy: 1e-9, "\(what): \(label)")
        }
        let ranked = try XCTUnwrap(want["top_k"]?.array).compactMap { $0["label"]?.string }
        XCTAssertEqual(got.ranked.map(\.label), ranked, what)
        if card.referral != nil {
            XCTAssertEqual(got.malignantProbability ?? .nan, want["malignant_probability"]?.number ?? -1,
                           accuracy: 1e-9, what)
            XCTAssertEqual(got.refer, want["refer"]?.bool, what)
            XCTAssertEqual(got.threshold, want["threshold"]?.number, what)
        } else {
            XCTAssertNil(got.refer, what)
        }
        guard let gate = want["gate"], gate != .null else {
            return XCTAssertNil(got.gate, what)
        }
        let verdict = try XCTUnwrap(got.gate, what)
        XCTAssertEqual(verdict.usable, gate["usable"]?.bool, what)
        XCTAssertEqual(verdict.reasons, gate["reasons"]?.strings, what)
        let scores = try XCTUnwrap(gate["scores"]?.object)
        XCTAssertEqual(Set(verdict.scores.keys), Set(scores.keys), what)
        for (key, value) in scores {
            let v = try XCTUnwrap(value.number)
            XCTAssertEqual(verdict.scores[key] ?? .nan, v, accuracy: Self.scoreAtol * max(1, abs(v)),
                           "\(what): gate score \(key)")
        }
    }

    func testNonFiniteOrMisshapedOutputIsRefused() throws {
        let golden = try GoldenFolder.open()
        let card = try golden.card(try XCTUnwrap(golden.models.first))
        var raw = [Double](repeating: 1 / Double(card.labels.count), count: card.labels.count)
        raw[0] = .nan
        XCTAssertThrowsError(try Predictor.predict(softmax: raw, card: card, image: nil)) { error in
            XCTAssertTrue(error.localizedDescription.contains("not finite"), "\(error)")
        }
        XCTAssertThrowsError(try Predictor.predict(softmax: [0.5, 0.5, 0], card: card, image: nil)) { error in
            XCTAssertTrue(error.localizedDescription.contains("labels"), "\(error)")
        }
    }

    func testCalibrationIsSoftmaxOfScaledLogsPlusBias() throws {
        let cal = try XCTUnwrap(try ModelCard(document: .object([
            "schema": .string(ModelCard.schema), "architecture": .string("toy"), "input_size": .int(16),
            "mean": .array([.double(0.5), .double(0.5), .double(0.5)]),
            "std": .array([.double(0.25), .double(0.25), .double(0.25)]),
            "params": .int(0), "flops": .int(0), "labels": .array([.string("a"), .string("b")]),
            "calibration": .object(["temperature": .double(2), "bias": .array([.double(0), .double(log(3))])]),
        ]), source: "toy.json").calibration)
        // softmax(log([0.2, 0.8]) / 2 + [0, log 3]) = [sqrt(.2), 3 sqrt(.8)] / sum
        let p = Predictor.calibrated([0.2, 0.8], cal)
        let a = 0.2.squareRoot(), b = 3 * 0.8.squareRoot()
        XCTAssertEqual(p[0], a / (a + b), accuracy: 1e-12)
        XCTAssertEqual(p[1], b / (a + b), accuracy: 1e-12)
        let halves = Predictor.normalised([0.25, 0.25])
        XCTAssertEqual(halves[0], 0.5, accuracy: 1e-15)
        XCTAssertEqual(halves[1], 0.5, accuracy: 1e-15)
    }
}
