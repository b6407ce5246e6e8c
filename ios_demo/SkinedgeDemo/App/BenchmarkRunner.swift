import CoreML
import Foundation
import SkinedgeCore
import SkinedgeCoreML

/// The benchmark mode: N warm-up then N timed `MLModel.prediction` calls on one ready pixel
/// buffer (the model alone, as the host bench times its runtimes), written as a
/// `skinedge.bench/2` file in Documents (visible in Files, shareable) for
/// `skinedge bench --import FILE --device ios`.
enum BenchmarkRunner {
    struct Outcome {
        let run: BenchReport.Run
        let file: URL
    }

    /// Runs off the main thread; `image` is any model image (e.g. the last classified photo,
    /// else mid-grey: timing does not depend on the pixels).
    static func measure(_ classifier: CoreMLClassifier, warmup: Int, runs: Int,
                        loadSeconds: Double?, image: ModelImage?,
                        computeUnits: MLComputeUnits) async throws -> Outcome {
        try await Task.detached(priority: .userInitiated) {
            let started = Date()
            let s = classifier.card.inputSize
            let input = image ?? ModelImage(size: s, pixels: [UInt8](repeating: 128, count: s * s * 3),
                                            originalWidth: s, originalHeight: s)
            let buffer = try PixelBuffer.make(input)
            var timings: [Double] = []
            var failure = ""
            do {
                for _ in 0..<warmup { _ = try classifier.probabilities(pixelBuffer: buffer) }
                for _ in 0..<runs {
                    let t0 = DispatchTime.now()
                    _ = try classifier.probabilities(pixelBuffer: buffer)
                    timings.append(milliseconds(t0, DispatchTime.now()))
                }
            } catch {
                failure = error.localizedDescription
            }
            let run = BenchReport.Run(
                artifact: classifier.card.source, card: classifier.card, warmup: warmup,
                timingsMs: timings, loadSeconds: loadSeconds, peakMemoryMB: DeviceInfo.peakMemoryMB(),
                sizeBytes: DeviceInfo.bytes(of: classifier.url),
                processID: Int(ProcessInfo.processInfo.processIdentifier), error: failure)
            let date = Date()
            let doc = BenchReport.document([run], device: DeviceInfo.current(computeUnits: computeUnits),
                                           date: date, seconds: date.timeIntervalSince(started))
            let folder = try FileManager.default.url(for: .documentDirectory, in: .userDomainMask,
                                                     appropriateFor: nil, create: true)
            let file = folder.appendingPathComponent(BenchReport.fileName(date))
            try doc.serialized().write(to: file, options: .atomic)
            return Outcome(run: run, file: file)
        }.value
    }
}
