import SkinedgeCore
import SwiftUI

/// The skinedge iOS demo: classify a photo with an exported CoreML model, read what its card
/// says about it, and benchmark it. All logic lives in the SkinedgeCore package; the app only
/// holds state and shows it.
@main
struct SkinedgeDemoApp: App {
    @StateObject private var models = ModelStore()
    @State private var automated: String?

    var body: some Scene {
        WindowGroup {
            TabView {
                ClassifyView()
                    .tabItem { Label("Classify", systemImage: "camera.viewfinder") }
                BenchmarkView()
                    .tabItem { Label("Benchmark", systemImage: "speedometer") }
                ModelView()
                    .tabItem { Label("Model", systemImage: "doc.text.magnifyingglass") }
            }
            .environmentObject(models)
            .safeAreaInset(edge: .top) {
                if let automated {
                    Text(automated).font(.footnote).padding(6).frame(maxWidth: .infinity)
                        .background(Color.yellow.opacity(0.3))
                }
            }
            .task {
                models.loadBundled()
                await runRequestedBenchmark()
            }
        }
    }

    /// `skinedge bench --device ios` launches the app with a BenchRequest: run it, say so.
    @MainActor
    private func runRequestedBenchmark() async {
        do {
            guard let request = try BenchRequest.parse(ProcessInfo.processInfo.arguments) else { return }
            automated = "Benchmarking the models in Documents/\(request.folder) for skinedge bench…"
            let outcome = try await BenchmarkRunner.measureFolder(request, computeUnits: models.computeUnits)
            automated = "Benchmark done: \(outcome.runs.count) models, results in \(outcome.file.lastPathComponent)"
        } catch {
            automated = "Benchmark not run: \(error.localizedDescription)"
        }
    }
}
