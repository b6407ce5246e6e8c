import CoreGraphics
import Foundation
import SkinedgeCore
import SkinedgeCoreML
import SkinedgeImageIO

/// One classified photo: the model image, the prediction and how long each step took.
struct ClassifiedPhoto {
    let source: String
    let prediction: Prediction
    let modelImage: ModelImage
    /// false when the photo's pixel layout needed a Core Graphics conversion (see ImageDecoder).
    let exactDecode: Bool
    let decodeMs: Double
    let preprocessMs: Double
    let predictMs: Double

    var totalMs: Double { decodeMs + preprocessMs + predictMs }
}

/// Runs decode -> preprocessing -> Core ML -> card logic off the main thread and publishes the
/// result, or a message saying what went wrong.
@MainActor
final class ClassifySession: ObservableObject {
    @Published private(set) var result: ClassifiedPhoto?
    @Published private(set) var error: String?
    @Published private(set) var running = false

    /// A photo file's bytes (PhotosPicker hands over the original JPEG/HEIC/PNG).
    func classify(data: Data, source: String, with classifier: CoreMLClassifier) async {
        await run(source, classifier) { try ImageDecoder.decode(data, source: source) }
    }

    /// A camera capture, shown with `orientation` (EXIF numbering).
    func classify(image: CGImage, orientation: Int, with classifier: CoreMLClassifier) async {
        await run("camera", classifier) {
            try ImageDecoder.decode(image, orientation: orientation, source: "camera")
        }
    }

    /// Shows `message` instead of a result (a photo that could not even be read).
    func report(_ message: String) {
        result = nil
        error = message
    }

    private func run(_ source: String, _ classifier: CoreMLClassifier,
                     decode: @escaping @Sendable () throws -> ImageDecoder.Decoded) async {
        running = true
        defer { running = false }
        do {
            result = try await Task.detached(priority: .userInitiated) {
                try Self.pipeline(source, decode: decode, classifier: classifier)
            }.value
            error = nil
        } catch {
            result = nil
            self.error = error.localizedDescription
        }
    }

    private nonisolated static func pipeline(_ source: String, decode: () throws -> ImageDecoder.Decoded,
                                             classifier: CoreMLClassifier) throws -> ClassifiedPhoto {
        let t0 = DispatchTime.now()
        let decoded = try decode()
        let t1 = DispatchTime.now()
        let image = try Preprocessor.modelImage(decoded.raw, card: classifier.card, source: source)
        let t2 = DispatchTime.now()
        let probabilities = try classifier.probabilities(image)
        let t3 = DispatchTime.now()
        let prediction = try Predictor.predict(softmax: probabilities, card: classifier.card, image: image)
        return ClassifiedPhoto(source: source, prediction: prediction, modelImage: image,
                               exactDecode: decoded.exact, decodeMs: milliseconds(t0, t1),
                               preprocessMs: milliseconds(t1, t2), predictMs: milliseconds(t2, t3))
    }
}

/// Milliseconds between two monotonic clock readings.
func milliseconds(_ a: DispatchTime, _ b: DispatchTime) -> Double {
    Double(b.uptimeNanoseconds - a.uptimeNanoseconds) / 1e6
}
