import CoreML
import Foundation
import SkinedgeCore
import SkinedgeCoreML

/// The benchmark mode: N warm-up then N timed `MLModel.prediction` calls on one ready pixel
/// buffer (the model alone, as the host bench times its runtimes), written as a
/// `skinedge.bench/2` document for `skinedge bench --import FILE`. Two ways in: the Benchmark
/// screen (the loaded model; the file goes to Documents, visible in Files and shareable), and
/// `skinedge bench --device ios` (every .mlpackage of a folder; see BenchRequest).
enum BenchmarkRunner {
    struct Outcome {
        let runs: [BenchReport.Run]
        let file: URL
    }

    /// The Benchmark screen: the loaded model, written to `Documents/bench-ios-<stamp>.json`.
    static func measure(_ classifier: CoreMLClassifier, warmup: Int, runs: Int, loadSeconds: Double?,
                        computeUnits: MLComputeUnits) async throws -> Outcome {
        try await Task.detached(priority: .userInitiated) {
            let started = Date()
            let run = BenchmarkRunner.time(classifier, artifact: classifier.card.source, warmup: warmup, runs: runs,
                           loadSeconds: loadSeconds, sizeBytes: DeviceInfo.bytes(of: classifier.url))
            let file = try BenchmarkRunner.documents().appendingPathComponent(BenchReport.fileName(Date()))
            try BenchmarkRunner.write([run], to: file, started: started, computeUnits: computeUnits)
            return Outcome(runs: [run], file: file)
        }.value
    }

    /// `skinedge bench --device ios`: every .mlpackage in `Documents/<folder>/`, compiled and
    /// loaded on the phone (load_s: to the end of the first prediction), one row each named by
    /// its file name; a model that cannot load gets a failed row saying why.
    static func measureFolder(_ request: BenchRequest, computeUnits: MLComputeUnits) async throws -> Outcome {
        let started = Date()
        let folder = try documents().appendingPathComponent(request.folder, isDirectory: true)
        let packages = try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "mlpackage" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        var runs: [BenchReport.Run] = []
        for package in packages {
            let t0 = DispatchTime.now()
            do {
                let classifier = try await CoreMLClassifier.compileAndLoad(package, computeUnits: computeUnits)
                let s = classifier.card.inputSize
                _ = try classifier.probabilities(pixelBuffer: try PixelBuffer.make(grey(s)))
                let load = milliseconds(t0, DispatchTime.now()) / 1e3
                runs.append(await Task.detached(priority: .userInitiated) {
                    BenchmarkRunner.time(classifier, artifact: package.lastPathComponent, warmup: request.warmup,
                         runs: request.runs, loadSeconds: load, sizeBytes: DeviceInfo.bytes(of: package))
                }.value)
            } catch {
                runs.append(BenchReport.Run(
                    artifact: package.lastPathComponent, card: nil, warmup: request.warmup, timingsMs: [],
                    loadSeconds: nil, peakMemoryMB: DeviceInfo.peakMemoryMB(),
                    sizeBytes: DeviceInfo.bytes(of: package),
                    processID: Int(ProcessInfo.processInfo.processIdentifier),
                    error: error.localizedDescription))
            }
        }
        let file = folder.appendingPathComponent(request.resultFile)
        try write(runs, to: file, started: started, computeUnits: computeUnits)
        return Outcome(runs: runs, file: file)
    }

    /// A mid-grey model image: timing does not depend on the pixels.
    static func grey(_ size: Int) -> ModelImage {
        ModelImage(size: size, pixels: [UInt8](repeating: 128, count: size * size * 3),
                   originalWidth: size, originalHeight: size)
    }

    /// Warm-up and timed runs of one model; a failure becomes the row's error.
    static func time(_ classifier: CoreMLClassifier, artifact: String, warmup: Int, runs: Int,
                     loadSeconds: Double?, sizeBytes: Int) -> BenchReport.Run {
        var timings: [Double] = []
        var failure = ""
        do {
            let buffer = try PixelBuffer.make(grey(classifier.card.inputSize))
            for _ in 0..<warmup { _ = try classifier.probabilities(pixelBuffer: buffer) }
            for _ in 0..<runs {
                let t0 = DispatchTime.now()
                _ = try classifier.probabilities(pixelBuffer: buffer)
                timings.append(milliseconds(t0, DispatchTime.now()))
            }
        } catch {
            failure = error.localizedDescription
        }
        return BenchReport.Run(
            artifact: artifact, card: classifier.card, warmup: warmup, timingsMs: timings,
            loadSeconds: loadSeconds, peakMemoryMB: DeviceInfo.peakMemoryMB(), sizeBytes: sizeBytes,
            processID: Int(ProcessInfo.processInfo.processIdentifier), error: failure)
    }

    static func documents() throws -> URL {
        try FileManager.default.url(for: .documentDirectory, in: .userDomainMask, appropriateFor: nil,
                                    create: true)
    }

    /// The document, written whole (atomically: the harness polls for it).
    static func write(_ runs: [BenchReport.Run], to file: URL, started: Date,
                      computeUnits: MLComputeUnits) throws {
        let date = Date()
        let doc = BenchReport.document(runs, device: DeviceInfo.current(computeUnits: computeUnits),
                                       date: date, seconds: date.timeIntervalSince(started))
        try doc.serialized().write(to: file, options: .atomic)
    }
}
