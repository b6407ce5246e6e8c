#if canImport(CoreML) && canImport(CoreVideo)
import CoreML
import CoreVideo
import Foundation
import SkinedgeCore

/// An exported skinedge .mlpackage run by Core ML on a model image made by `Preprocessor`.
///
/// The package (`skinedge export --target coreml`) has one ImageType input of S x S RGB that
/// Core ML scales by 1/255 (the graph normalizes), classifier outputs whose probabilities are
/// keyed by the card's labels, and the card in its creator-defined metadata. Names are read
/// from the model's description, never assumed. The pixel buffer is filled with the exact model
/// image, so Core ML does no scaling of its own: the model sees the pixels Python feeds it.
/// Predictions are serialised by a lock (an MLModel is used from one thread at a time), so one
/// classifier may be shared by the classify and benchmark screens.
public final class CoreMLClassifier: @unchecked Sendable {
    public let card: ModelCard
    public let model: MLModel
    public let name: String
    /// The compiled model (.mlmodelc) it was loaded from.
    public let url: URL
    let inputName: String
    let probabilitiesName: String
    private let lock = NSLock()

    /// Loads a compiled model (.mlmodelc, as Xcode bundles an .mlpackage) and checks it
    /// against its card: card present and of this schema, input size, classes.
    public init(compiledModelAt url: URL, computeUnits: MLComputeUnits = .all) throws {
        let config = MLModelConfiguration()
        config.computeUnits = computeUnits
        name = url.deletingPathExtension().lastPathComponent
        self.url = url
        model = try MLModel(contentsOf: url, configuration: config)
        let description = model.modelDescription
        let meta = description.metadata[MLModelMetadataKey.creatorDefinedKey] as? [String: String] ?? [:]
        card = try ModelCard.fromMetadata(meta, source: name)
        guard let input = description.inputDescriptionsByName.first(where: { $0.value.type == .image }),
              let constraint = input.value.imageConstraint else {
            throw SkinedgeError.inputMismatch(source: name, problem: "the model has no image input")
        }
        try card.checkModel(width: constraint.pixelsWide, height: constraint.pixelsHigh,
                            classLabels: description.classLabels?.compactMap { $0 as? String })
        guard let probs = description.predictedProbabilitiesName else {
            throw SkinedgeError.inputMismatch(source: name, problem: "the model is not a classifier "
                                              + "(no class probabilities output)")
        }
        inputName = input.key
        probabilitiesName = probs
    }

    /// Compiles an .mlpackage (e.g. one opened from Files) and loads it.
    public static func compileAndLoad(_ package: URL, computeUnits: MLComputeUnits = .all) async throws -> CoreMLClassifier {
        let compiled = try await MLModel.compileModel(at: package)
        return try CoreMLClassifier(compiledModelAt: compiled, computeUnits: computeUnits)
    }

    /// The model's softmax in the card's label order (renormalised as skinedge's CoreML
    /// runtime reads it).
    public func probabilities(_ image: ModelImage) throws -> [Double] {
        try probabilities(pixelBuffer: try PixelBuffer.make(image))
    }

    /// As `probabilities(_:)` for a buffer made once (the benchmark times this alone).
    public func probabilities(pixelBuffer: CVPixelBuffer) throws -> [Double] {
        let input = try MLDictionaryFeatureProvider(
            dictionary: [inputName: MLFeatureValue(pixelBuffer: pixelBuffer)])
        lock.lock()
        defer { lock.unlock() }
        let output = try model.prediction(from: input)
        guard let dict = output.featureValue(for: probabilitiesName)?.dictionaryValue else {
            throw SkinedgeError.badOutput(source: name, problem: "no '\(probabilitiesName)' output")
        }
        let byLabel = Dictionary(uniqueKeysWithValues: dict.compactMap { key, value in
            (key as? String).map { ($0, value.doubleValue) }
        })
        let missing = card.labels.filter { byLabel[$0] == nil }
        guard missing.isEmpty else {
            throw SkinedgeError.badOutput(source: name, problem: "no probability for "
                                          + missing.joined(separator: ", "))
        }
        return Predictor.normalised(card.labels.map { byLabel[$0]! })
    }

    /// The whole pipeline for one decoded image: preprocessing, Core ML, calibration,
    /// referral and the input gate.
    public func predict(_ raw: RawImage, source: String) throws -> (Prediction, ModelImage) {
        let image = try Preprocessor.modelImage(raw, card: card, source: source)
        let prediction = try Predictor.predict(softmax: try probabilities(image), card: card, image: image)
        return (prediction, image)
    }
}

/// A model image as the 32BGRA pixel buffer Core ML's image input takes.
public enum PixelBuffer {
    public static func make(_ image: ModelImage) throws -> CVPixelBuffer {
        let s = image.size
        var made: CVPixelBuffer?
        let attrs = [kCVPixelBufferCGImageCompatibilityKey: true,
                     kCVPixelBufferCGBitmapContextCompatibilityKey: true] as CFDictionary
        guard CVPixelBufferCreate(kCFAllocatorDefault, s, s, kCVPixelFormatType_32BGRA, attrs, &made)
                == kCVReturnSuccess, let buffer = made else {
            throw SkinedgeError.badImage(source: "model image", problem: "cannot allocate a \(s)x\(s) pixel buffer")
        }
        CVPixelBufferLockBaseAddress(buffer, [])
        defer { CVPixelBufferUnlockBaseAddress(buffer, []) }
        let row = CVPixelBufferGetBytesPerRow(buffer)
        let base = CVPixelBufferGetBaseAddress(buffer)!.assumingMemoryBound(to: UInt8.self)
        for y in 0..<s {
            for x in 0..<s {
                let from = (y * s + x) * 3, to = y * row + x * 4
                base[to] = image.pixels[from + 2]      // B
                base[to + 1] = image.pixels[from + 1]  // G
                base[to + 2] = image.pixels[from]      // R
                base[to + 3] = 255
            }
        }
        return buffer
    }
}
#endif
