import Foundation
import SkinedgeCore
import XCTest

/// skinedge's golden vectors (skinedge/golden.py; the format is in the folder's README.md),
/// found through SKINEDGE_GOLDEN: `SKINEDGE_GOLDEN=/path/to/export/golden swift test`.
/// `skinedge export` writes the folder beside the artifacts it exports.
struct GoldenFolder {
    static let variable = "SKINEDGE_GOLDEN"
    static let indexFile = "index.json"
    /// The eager checkpoint's key among the models: the reference every app compares with.
    static let checkpoint = "checkpoint"

    struct Image {
        let name: String
        /// images/<name>.png
        let file: String
        /// Width and height as stored, before the EXIF orientation.
        let storedSize: (width: Int, height: Int)
        /// model_image/<name>.u8: uint8 [S, S, 3] HWC RGB.
        let modelImage: String
        /// model_input/<name>.f32: float32 little-endian [1, 3, S, S], for some images.
        let modelInput: String?
    }

    struct Model {
        let name: String
        let card: String
        let expected: String
        let probabilitiesAtol: Double
        let integritySha256: String
    }

    let root: URL
    let index: JSONValue

    /// The folder SKINEDGE_GOLDEN names; skips the calling test when it is not set.
    static func open() throws -> GoldenFolder {
        guard let path = ProcessInfo.processInfo.environment[variable], !path.isEmpty else {
            throw XCTSkip("set \(variable) to a golden folder written by `skinedge export` "
                          + "(e.g. \(variable)=/tmp/export/golden swift test)")
        }
        let root = URL(fileURLWithPath: path, isDirectory: true)
        let index = try JSONValue.parse(Data(contentsOf: root.appendingPathComponent(indexFile)))
        return GoldenFolder(root: root, index: index)
    }

    var inputSize: Int { index["input_size"]!.int! }
    var labels: [String] { index["labels"]!.strings! }

    var images: [Image] {
        index["images"]!.array!.map { e in
            let size = e["stored_size"]!.numbers(count: 2)!
            return Image(name: e["name"]!.string!, file: e["file"]!.string!,
                         storedSize: (Int(size[0]), Int(size[1])),
                         modelImage: e["model_image"]!["file"]!.string!,
                         modelInput: e["model_input"]?["file"]?.string)
        }
    }

    var models: [Model] {
        index["models"]!.array!.map { m in
            Model(name: m["name"]!.string!, card: m["card"]!.string!,
                  expected: m["expected"]!.string!,
                  probabilitiesAtol: m["tolerance"]!["probabilities_atol"]!.number!,
                  integritySha256: m["integrity_sha256"]!.string!)
        }
    }

    func data(_ relative: String) throws -> Data {
        try Data(contentsOf: root.appendingPathComponent(relative))
    }

    func json(_ relative: String) throws -> JSONValue {
        try JSONValue.parse(data(relative))
    }

    func card(_ model: Model) throws -> ModelCard {
        try ModelCard(json: data(model.card), source: model.card)
    }

    /// The stored model image of `image`, with its original's size as displayed (the EXIF
    /// orientation read from the PNG itself, Foundation only).
    func modelImage(_ image: Image) throws -> ModelImage {
        let pixels = [UInt8](try data(image.modelImage))
        let orientation = ExifOrientation.read(from: try data(image.file)) ?? 1
        let (w, h) = image.storedSize
        let swapped = orientation >= 5
        return ModelImage(size: inputSize, pixels: pixels, originalWidth: swapped ? h : w,
                          originalHeight: swapped ? w : h)
    }

    /// float32 little-endian values of a raw file.
    func floats(_ relative: String) throws -> [Float] {
        let bytes = [UInt8](try data(relative))
        var values: [Float] = []
        for i in stride(from: 0, to: bytes.count - 3, by: 4) {
            var bits: UInt32 = 0
            for k in 0..<4 {
                bits |= UInt32(bytes[i + k]) << (8 * k)
            }
            values.append(Float(bitPattern: bits))
        }
        return values
    }
}
