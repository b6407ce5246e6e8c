import CoreML
import SkinedgeCore
import SwiftUI
import UniformTypeIdentifiers

/// The loaded model and its card: classes, input, quantization, calibration, referral,
/// intended use; and where the model comes from (bundled, or an .mlpackage from Files).
struct ModelView: View {
    @EnvironmentObject private var models: ModelStore
    @State private var importing = false

    var body: some View {
        NavigationStack {
            Form {
                if let message = models.loadError {
                    Section { MessageBox(title: "Model not loaded", text: message) }
                }
                if let card = models.classifier?.card {
                    cardSection(card)
                    if let use = card.intendedUse {
                        Section { IntendedUseView(use: use) }
                    }
                }
                Section("Source") {
                    ForEach(models.bundled, id: \.self) { url in
                        Button(url.deletingPathExtension().lastPathComponent) { models.load(compiled: url) }
                    }
                    Button("Open an .mlpackage from Files…") { importing = true }
                    Picker("Compute units (next load)", selection: $models.computeUnits) {
                        Text("All").tag(MLComputeUnits.all)
                        Text("CPU and Neural Engine").tag(MLComputeUnits.cpuAndNeuralEngine)
                        Text("CPU and GPU").tag(MLComputeUnits.cpuAndGPU)
                        Text("CPU only").tag(MLComputeUnits.cpuOnly)
                    }
                }
            }
            .navigationTitle("Model")
            .fileImporter(isPresented: $importing,
                          allowedContentTypes: [UTType(filenameExtension: "mlpackage") ?? .package]) { picked in
                if case let .success(url) = picked {
                    Task { await models.open(package: url) }
                }
            }
        }
    }

    private func cardSection(_ card: ModelCard) -> some View {
        Section("Model card") {
            LabeledContent("Architecture", value: card.architecture)
            LabeledContent("Input", value: "\(card.inputSize) x \(card.inputSize) RGB")
            LabeledContent("Quantization", value: card.quantization)
            LabeledContent("Calibrated", value: card.calibration == nil ? "no" : "yes")
            if let r = card.referral {
                LabeledContent("Referral", value: "\(r.task) ≥ \(percent(r.threshold))")
            }
            LabeledContent("Input gate", value: card.gate == nil ? "none" : "on")
            ForEach(card.labels.indices, id: \.self) { i in
                LabeledContent(card.labels[i], value: card.labelNames[i])
            }
        }
    }
}
