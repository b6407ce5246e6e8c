import Foundation
import SkinedgeCore
import XCTest

/// Every golden card parses as Python reads it; a card Python refuses is refused here, with
/// the field named ("Bad input" of issue 13: no card, another schema, a size mismatch).
final class CardTests: XCTestCase {
    func testEveryGoldenCardParses() throws {
        let golden = try GoldenFolder.open()
        XCTAssertFalse(golden.models.isEmpty)
        for model in golden.models {
            let card = try golden.card(model)
            XCTAssertEqual(card.labels, golden.labels, model.name)
            XCTAssertEqual(card.inputSize, golden.inputSize, model.name)
            XCTAssertEqual(card.labelNames.count, card.labels.count, model.name)
            XCTAssertEqual(card.integritySha256, model.integritySha256, model.name)
        }
    }

    /// The checkpoint's card, as a mutable JSON object, for the refusal tests.
    private func checkpointDocument() throws -> [String: JSONValue] {
        let golden = try GoldenFolder.open()
        let model = try XCTUnwrap(golden.models.first { $0.name == GoldenFolder.checkpoint })
        return try XCTUnwrap(golden.json(model.card).object)
    }

    private func assertRefused(_ doc: [String: JSONValue], field: String,
                               file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try ModelCard(document: .object(doc), source: "edited.json"),
                             file: file, line: line) { error in
            guard case let SkinedgeError.badCard(source, named, _) = error else {
                return XCTFail("expected a bad-card error, got \(error)", file: file, line: line)
            }
            XCTAssertEqual(source, "edited.json", file: file, line: line)
            XCTAssertEqual(named, field, file: file, line: line)
            XCTAssertTrue(error.localizedDescription.contains(field), file: file, line: line)
        }
    }

    func testNoCardInMetadataIsRefused() {
        XCTAssertThrowsError(try ModelCard.fromMetadata(["com.apple.coreml.model.preview.type": "x"],
                                                        source: "plain.mlmodelc")) { error in
            XCTAssertEqual(error as? SkinedgeError, .noCard(source: "plain.mlmodelc"))
            XCTAssertTrue(error.localizedDescription.contains("skinedge export"))
        }
    }

    func testCardFromMetadataParses() throws {
        let golden = try GoldenFolder.open()
        let model = try XCTUnwrap(golden.models.first)
        let text = try XCTUnwrap(String(data: golden.data(model.card), encoding: .utf8))
        let card = try ModelCard.fromMetadata([ModelCard.metadataKey: text], source: model.name)
        XCTAssertEqual(card.labels, golden.labels)
    }

    func testOtherSchemaIsRefused() throws {
        var doc = try checkpointDocument()
        doc["schema"] = .string("skinedge.model_card/2")
        XCTAssertThrowsError(try ModelCard(document: .object(doc), source: "future.json")) { error in
            XCTAssertEqual(error as? SkinedgeError,
                           .otherSchema(source: "future.json", found: "skinedge.model_card/2"))
        }
        doc["schema"] = nil
        XCTAssertThrowsError(try ModelCard(document: .object(doc), source: "none.json")) { error in
            XCTAssertEqual(error as? SkinedgeError, .otherSchema(source: "none.json", found: ""))
        }
    }

    func testNotJSONIsRefused() {
        XCTAssertThrowsError(try ModelCard(json: Data("{not json".utf8), source: "broken.json")) { error in
            guard case SkinedgeError.badCard(source: "broken.json", field: _, problem: _) = error else {
                return XCTFail("expected a bad-card error, got \(error)")
            }
        }
    }

    func testMalformedFieldsAreRefused() throws {
        let doc = try checkpointDocument()
        var edited = doc
        edited["labels"] = nil
        assertRefused(edited, field: "labels")
        edited = doc
        edited["labels"] = .array([.string("only_one")])
        assertRefused(edited, field: "labels")
        edited = doc
        edited["input_size"] = .double(128.5)
        assertRefused(edited, field: "input_size")
        edited = doc
        edited["input_size"] = .bool(true)
        assertRefused(edited, field: "input_size")
        edited = doc
        edited["resize"] = .string("stretch")
        assertRefused(edited, field: "resize")
        edited = doc
        edited["normalization"] = .string("none")
        assertRefused(edited, field: "normalization")
        edited = doc
        edited["label_names"] = .array([.string("one name")])
        assertRefused(edited, field: "label_names")
    }

    func testMalformedTrustFieldsAreRefused() throws {
        let doc = try checkpointDocument()
        let labels = try XCTUnwrap(doc["labels"]?.strings)
        var edited = doc
        edited["calibration"] = .object(["temperature": .double(0), "bias": .array(labels.map { _ in JSONValue.double(0) })])
        assertRefused(edited, field: "calibration")
        edited["calibration"] = .object(["temperature": .double(1), "bias": .array([.double(0)])])
        assertRefused(edited, field: "calibration")
        edited = doc
        edited["referral"] = .object(["score": .string("nowhere"), "tasks": .object([:])])
        assertRefused(edited, field: "referral")
        edited = doc
        edited["gate"] = .object(["min_side": .string("big")])
        assertRefused(edited, field: "gate")
        edited = doc
        edited["intended_use"] = .object(["summary": .string("")])
        assertRefused(edited, field: "intended_use")
    }

    func testEmptyTrustFieldsMeanNone() throws {
        var doc = try checkpointDocument()
        for field in ["calibration", "referral", "gate", "intended_use"] {
            doc[field] = .object([:])
        }
        let card = try ModelCard(document: .object(doc), source: "plain.json")
        XCTAssertNil(card.calibration)
        XCTAssertNil(card.referral)
        XCTAssertNil(card.gate)
        XCTAssertNil(card.intendedUse)
    }

    func testModelOfAnotherInputSizeIsRefused() throws {
        let golden = try GoldenFolder.open()
        let card = try golden.card(try XCTUnwrap(golden.models.first))
        let s = card.inputSize
        XCTAssertNoThrow(try card.checkModel(width: s, height: s, classLabels: card.labels.reversed()))
        XCTAssertNoThrow(try card.checkModel(width: s, height: s, classLabels: nil))
        XCTAssertThrowsError(try card.checkModel(width: s + 32, height: s + 32, classLabels: card.labels)) { error in
            guard case SkinedgeError.inputMismatch = error else { return XCTFail("\(error)") }
            XCTAssertTrue(error.localizedDescription.contains("\(s + 32)x\(s + 32)"))
        }
        XCTAssertThrowsError(try card.checkModel(width: s, height: s,
                                                 classLabels: Array(card.labels.dropLast())))
    }
}
