import SkinedgeCore
import SwiftUI

/// Benchmark mode: N warm-up + N timed runs of the loaded model, the figures, and the
/// `skinedge.bench/2` JSON to share (AirDrop, Files) for `skinedge bench --import`.
struct BenchmarkView: View {
    @EnvironmentObject private var models: ModelStore
    @State private var warmup = 10
    @State private var runs = 50
    @State private var running = false
    @State private var outcome: BenchmarkRunner.Outcome?
    @State private var error: String?

    var body: some View {
        NavigationStack {
            Form {
                Section("Runs") {
                    Stepper("Warm-up: \(warmup)", value: $warmup, in: 0...1000, step: 5)
                    Stepper("Timed: \(runs)", value: $runs, in: 1...10_000, step: 10)
                    Button(running ? "Running…" : "Run benchmark") {
                        Task { await run() }
                    }
                    .disabled(running || models.classifier == nil)
                }
                if let message = error ?? models.loadError {
                    Section { MessageBox(title: "Benchmark not run", text: message) }
                }
                if let outcome, let run = outcome.runs.first {
                    Section("Result: \(run.artifact)") {
                        figures(run)
                        ShareLink(item: outcome.file) {
                            Label("Share \(outcome.file.lastPathComponent)", systemImage: "square.and.arrow.up")
                        }
                    }
                }
            }
            .navigationTitle("Benchmark")
        }
    }

    @ViewBuilder private func figures(_ run: BenchReport.Run) -> some View {
        if run.error.isEmpty {
            let stats = BenchReport.stats(run.timingsMs)
            ForEach(["median", "p90", "p99", "trimmed_mean", "min"], id: \.self) { key in
                LabeledContent(key, value: String(format: "%.3f ms", stats[key]?.number ?? .nan))
            }
            if let load = run.loadSeconds {
                LabeledContent("load", value: String(format: "%.2f s", load))
            }
            LabeledContent("peak memory", value: String(format: "%.0f MB", run.peakMemoryMB))
        } else {
            Text(run.error)
        }
    }

    @MainActor
    private func run() async {
        guard let classifier = models.classifier else { return }
        running = true
        defer { running = false }
        do {
            outcome = try await BenchmarkRunner.measure(
                classifier, warmup: warmup, runs: runs, loadSeconds: models.loadSeconds,
                computeUnits: models.computeUnits)
            error = nil
        } catch {
            self.error = error.localizedDescription
        }
    }
}
