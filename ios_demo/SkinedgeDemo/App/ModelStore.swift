import CoreML
import Foundation
import SkinedgeCore
import SkinedgeCoreML

/// Which model the app runs: the first one bundled (Xcode compiles an .mlpackage added to the
/// target into .mlmodelc), or one opened from Files. Loading checks the model against its card;
/// a failure is kept as a message to show, never a crash.
@MainActor
final class ModelStore: ObservableObject {
    @Published private(set) var classifier: CoreMLClassifier?
    @Published private(set) var loadError: String?
    @Published private(set) var bundled: [URL] = []
    @Published private(set) var loadSeconds: Double?
    @Published var computeUnits: MLComputeUnits = .all

    func loadBundled() {
        bundled = (Bundle.main.urls(forResourcesWithExtension: "mlmodelc", subdirectory: nil) ?? [])
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        guard let first = bundled.first else {
            loadError = "No model in the app. Export one with `skinedge export --target coreml "
                + "--out ios_demo/Models`, then regenerate the Xcode project (see ios_demo/README.md), "
                + "or open an .mlpackage from Files on the Model tab."
            return
        }
        load(compiled: first)
    }

    func load(compiled url: URL) {
        let started = Date()
        do {
            classifier = try CoreMLClassifier(compiledModelAt: url, computeUnits: computeUnits)
            loadSeconds = Date().timeIntervalSince(started)
            loadError = nil
        } catch {
            classifier = nil
            loadError = error.localizedDescription
        }
    }

    /// An .mlpackage picked in Files: compiled on the phone, then checked like a bundled one.
    func open(package url: URL) async {
        let scoped = url.startAccessingSecurityScopedResource()
        defer { if scoped { url.stopAccessingSecurityScopedResource() } }
        let started = Date()
        do {
            classifier = try await CoreMLClassifier.compileAndLoad(url, computeUnits: computeUnits)
            loadSeconds = Date().timeIntervalSince(started)
            loadError = nil
        } catch {
            classifier = nil
            loadError = "\(url.lastPathComponent): \(error.localizedDescription)"
        }
    }
}
