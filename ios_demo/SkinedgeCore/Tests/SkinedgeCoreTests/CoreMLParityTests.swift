import Foundation
import SkinedgeCore
import XCTest
#if canImport(CoreML)
import CoreML
import SkinedgeCoreML
#endif

/// Core ML on this Mac against the eager checkpoint, on the golden model images. No CoreML
/// outputs are recorded in golden/ (Python cannot run Core ML off macOS), so each .mlpackage
/// exported beside golden/ is compared with the checkpoint's probabilities within its export
/// recipe's parity tolerance (`max_abs_diff` of export/coreml-<quantization>.toml).
final class CoreMLParityTests: XCTestCase {
    static let recipeMaxAbsDiff: [String: Double] = ["fp32": 1e-3, "fp16": 0.02, "int8": 0.2]

    func testCoreMLMatchesTheCheckpoint() async throws {
        #if canImport(CoreML)
        let golden = try GoldenFolder.open()
        let folder = golden.root.deletingLastPathComponent()
        let packages = try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "mlpackage" }
        if packages.isEmpty {
            throw XCTSkip("no .mlpackage beside \(golden.root.path): export with --target coreml")
        }
        let reference = try golden.json("expected/\(GoldenFolder.checkpoint).json")
        for package in packages {
            let classifier = try await CoreMLClassifier.compileAndLoad(package, computeUnits: .cpuOnly)
            let card = classifier.card
            let atol = try XCTUnwrap(Self.recipeMaxAbsDiff[card.quantization], card.quantization)
            for image in golden.images {
                let got = try classifier.probabilities(try golden.modelImage(image))
                let want = try XCTUnwrap(reference[image.name]?["probabilities"]?.numbers(count: got.count))
                let worst = zip(got, want).map { abs($0 - $1) }.max() ?? .nan
                XCTAssertLessThanOrEqual(worst, atol, "\(package.lastPathComponent) / \(image.name)")
                let sorted = want.sorted(by: >)
                if sorted[0] - sorted[1] > 2 * atol {
                    XCTAssertEqual(got.firstIndex(of: got.max()!), want.firstIndex(of: sorted[0]),
                                   "\(package.lastPathComponent) / \(image.name): top-1 differs")
                }
            }
        }
        #else
        throw XCTSkip("Core ML runs only on Apple platforms")
        #endif
    }
}
