import Foundation
@testable import SkinedgeCore
import XCTest

/// Issue 24: the hostile trust fields every app must refuse (the cases of the repository's
/// tests/fixtures/hostile_cards.json, copied below; tests/test_hostile.py checks that the copy
/// is the fixture), an OOD score that is not finite and so never "usable", card text that could
/// forge what the app shows, and the image limits and malignant labels read from the card.
final class HostileCardTests: XCTestCase {
    private struct Fixture: Decodable {
        struct Gate: Decodable {
            let name: String
            let edit: [String: JSONValue]
        }
        struct Referral: Decodable {
            let name: String
            let referral: JSONValue
        }
        let gates: [Gate]
        let nanGate: [String: JSONValue]
        let referrals: [Referral]
        enum CodingKeys: String, CodingKey { case gates, nanGate = "nan_gate", referrals }
    }

    static let fixtureJSON = """
        {"gates": [
         {"name": "precision 1e308", "edit": {"ood.precision": {"fill": 1e+308}}},
         {"name": "precision -1e308", "edit": {"ood.precision": {"fill": -1e+308}}},
         {"name": "mean 1e308", "edit": {"ood.mean": [1e+308, 1e+308, 1e+308, 1e+308, 1e+308, 1e+308, 1e+308, 1e+308, 1e+308, 1e+308, 1e+308, 1e+308, 1e+308, 1e+308]}},
         {"name": "threshold negative", "edit": {"ood.threshold": -1}},
         {"name": "threshold 1e308", "edit": {"ood.threshold": 1e+308}},
         {"name": "min_side -5", "edit": {"min_side": -5}},
         {"name": "min_side 1e12", "edit": {"min_side": 1000000000000}},
         {"name": "luminance reversed", "edit": {"luminance": [0.9, 0.1]}},
         {"name": "luminance outside [0, 1]", "edit": {"luminance": [-0.5, 2]}},
         {"name": "sharpness_min 1e308", "edit": {"sharpness_min": 1e+308}}
        ], "nan_gate": {"ood.mean": [1e+308, -1e+308, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], "ood.precision": {"fill": 1e+308}},
        "referrals": [
         {"name": "score 'constructor'", "referral": {"score": "constructor", "tasks": {}}},
         {"name": "score 'toString'", "referral": {"score": "toString", "tasks": {}}},
         {"name": "score 'hasOwnProperty'", "referral": {"score": "hasOwnProperty", "tasks": {}}}
        ]}
        """

    private func fixture() throws -> Fixture {
        try JSONDecoder().decode(Fixture.self, from: Data(HostileCardTests.fixtureJSON.utf8))
    }

    /// A valid gate over this version's features (identity precision), the edits' base.
    private func validGate() -> [String: JSONValue] {
        let n = InputGate.featureNames.count
        let identity: [JSONValue] = (0..<n).map { i in .array((0..<n).map { .double($0 == i ? 1 : 0) }) }
        return ["version": .int(1), "min_side": .int(64),
                "luminance": .array([.double(0.3), .double(0.9)]), "sharpness_min": .double(0.5),
                "ood": .object(["features": .array(InputGate.featureNames.map { .string($0) }),
                                "mean": .array(Array(repeating: .double(0.25), count: n)),
                                "precision": .array(identity), "threshold": .double(40)])]
    }

    /// A minimal valid card document with `extra` fields.
    private func card(_ extra: [String: JSONValue] = [:]) -> [String: JSONValue] {
        let three = JSONValue.array([.double(0.5), .double(0.5), .double(0.5)])
        let base: [String: JSONValue] = [
            "schema": .string(ModelCard.schema), "architecture": .string("net"), "input_size": .int(64),
            "mean": three, "std": three, "params": .int(1), "flops": .int(1),
            "labels": .array(["a", "b", "c"].map { .string($0) }),
            "label_names": .array(["A", "B", "C"].map { .string($0) }),
        ]
        return base.merging(extra) { _, new in new }
    }

    /// The fixture's edit: "a.b" sets gate.a.b; a value {"fill": x} fills a matrix.
    private func edited(_ gate: [String: JSONValue], _ edit: [String: JSONValue]) -> JSONValue {
        var g = JSONValue.object(gate)
        for (path, value) in edit.sorted(by: { $0.key < $1.key }) {
            g = set(g, path.split(separator: ".").map(String.init), value)
        }
        return g
    }

    private func set(_ doc: JSONValue, _ keys: [String], _ value: JSONValue) -> JSONValue {
        guard var o = doc.object, let key = keys.first else { return doc }
        if keys.count > 1 {
            o[key] = set(o[key] ?? .null, Array(keys.dropFirst()), value)
        } else if let fill = value.object?.first(where: { $0.key == "fill" })?.value,
                  let rows = o[key]?.array {
            o[key] = .array(rows.map { .array(($0.array ?? []).map { _ in fill }) })
        } else {
            o[key] = value
        }
        return .object(o)
    }

    private func refusedField(_ doc: [String: JSONValue]) -> String? {
        do {
            _ = try ModelCard(document: .object(doc), source: "hostile.json")
            return nil
        } catch let SkinedgeError.badCard(_, field, _) {
            return field
        } catch {
            return "\(error)"
        }
    }

    func testEveryHostileGateIsRefused() throws {
        XCTAssertNotNil(try ModelCard(document: .object(card(["gate": .object(validGate())])),
                                      source: "valid.json").gate)
        for c in try fixture().gates {
            XCTAssertEqual(refusedField(card(["gate": edited(validGate(), c.edit)])), "gate", c.name)
        }
    }

    func testNonFiniteOodScoreIsNotUsable() throws {
        let g = edited(validGate(), try fixture().nanGate)
        let ood = try XCTUnwrap(g.object?.first { $0.key == "ood" }?.value.object)
        let mean = try XCTUnwrap(ood.first { $0.key == "mean" }?.value.numbers())
        let precision = try XCTUnwrap(ood.first { $0.key == "precision" }?.value.array?.compactMap { $0.numbers() })
        // Past the card check (which refuses these statistics): the verdict itself must hold.
        let gate = GateSpec(minSide: 64, luminance: (0, 1), sharpnessMin: -1, oodMean: mean,
                            oodPrecision: precision, oodThreshold: 40)
        let pixels: [UInt8] = (0..<(64 * 64 * 3)).map { (i: Int) -> UInt8 in UInt8(100 + (i * 13) % 90) }
        let image = ModelImage(size: 64, pixels: pixels, originalWidth: 600, originalHeight: 450)
        XCTAssertTrue(InputGate.oodScore(InputGate.features(image), gate).isNaN)
        let verdict = InputGate.assess(image, gate: gate)
        XCTAssertFalse(verdict.usable)
        XCTAssertTrue(verdict.reasons.contains { $0.contains("not finite") }, "\(verdict.reasons)")
    }

    func testReferralScoreThatIsNoTaskIsRefused() throws {
        for c in try fixture().referrals {
            XCTAssertEqual(refusedField(card(["referral": c.referral])), "referral", c.name)
        }
    }

    func testCardTextWithControlCharactersIsRefused() throws {
        let forged = JSONValue.array(["a", "b\n/fake/other.jpg: no referral", "c"].map { .string($0) })
        XCTAssertEqual(refusedField(card(["labels": forged])), "labels")
        let escape = JSONValue.array(["A", "\u{1B}[2Ksha256 ok", "C"].map { .string($0) })
        XCTAssertEqual(refusedField(card(["label_names": escape])), "label_names")
        XCTAssertEqual(refusedField(card(["architecture": .string("net\u{202E}")])), "architecture")
        let prose = JSONValue.object(["summary": .string("Research.\nNot a medical device."),
                                      "limitations": .array([])])
        XCTAssertEqual(try ModelCard(document: .object(card(["intended_use": prose])),
                                     source: "prose.json").intendedUse?.summary,
                       "Research.\nNot a medical device.")
    }

    func testImageLimitsAndMalignantLabelsComeFromTheCard() throws {
        XCTAssertEqual(try ModelCard(document: .object(card()), source: "old.json").imageLimits, .defaults)
        let doc = card(["malignant_labels": .array([.string("c")]),
                        "image_limits": .object(["min_side": .int(12)])])
        let mine = try ModelCard(document: .object(doc), source: "mine.json")
        XCTAssertEqual(mine.malignantLabels, ["c"])
        let p = try Predictor.predict(softmax: [0.25, 0.25, 0.5], card: mine, image: nil)
        XCTAssertEqual(p.malignantProbability, 0.5)
        XCTAssertNil(p.refer)
        let small = try RawImage(width: 12, height: 10, channels: 1, samples: .eight([UInt8](repeating: 9, count: 120)))
        XCTAssertThrowsError(try Preprocessor.modelImage(small, card: mine, source: "s.png")) { error in
            XCTAssertTrue(error.localizedDescription.contains("too small to classify (min side 12 px)"), "\(error)")
        }
        let wide = try RawImage(width: 1001, height: 100, channels: 1,
                                samples: .eight([UInt8](repeating: 9, count: 100_100)))
        XCTAssertThrowsError(try Preprocessor.modelImage(wide, card: mine, source: "w.png")) { error in
            XCTAssertTrue(error.localizedDescription.contains("aspect ratio 1001:100, over the 10:1 limit"), "\(error)")
        }
        XCTAssertEqual(refusedField(card(["image_limits": .object(["max_pixels": .int(1_000_000_000_000)])])),
                       "image_limits")
        XCTAssertEqual(refusedField(card(["malignant_labels": .array([.string("zzz")])])), "malignant_labels")
    }
}
