import SkinedgeCore
import SwiftUI

/// One photo's result: ranked classes with calibrated probabilities, the model's label,
/// referral against the card's threshold, the input gate's verdict, latency, intended use.
struct ResultView: View {
    let result: ClassifiedPhoto
    let card: ModelCard

    private var prediction: Prediction { result.prediction }

    var body: some View {
        VStack(alignment: .leading, spacing: 16) {
            if let gate = prediction.gate {
                GateView(verdict: gate)
            }
            referral
            classes
            latency
            if let use = card.intendedUse {
                IntendedUseView(use: use)
            }
        }
    }

    @ViewBuilder private var referral: some View {
        if let refer = prediction.refer, let p = prediction.malignantProbability,
           let threshold = prediction.threshold {
            VStack(alignment: .leading, spacing: 4) {
                Label(refer ? "Refer: show a doctor" : "Below the referral threshold",
                      systemImage: refer ? "person.crop.circle.badge.exclamationmark" : "checkmark.circle")
                    .font(.headline)
                    .foregroundStyle(refer ? Color.red : Color.green)
                Text(referralLine(p, threshold)).font(.callout)
            }
        }
    }

    private var classes: some View {
        VStack(alignment: .leading, spacing: 6) {
            Text(prediction.calibrated ? "Calibrated probabilities" : "Probabilities (uncalibrated)")
                .font(.headline)
            Text("Model's class: \(name(prediction.label))").font(.callout)
            ForEach(prediction.topK(3), id: \.label) { item in
                VStack(alignment: .leading, spacing: 2) {
                    HStack {
                        Text(name(item.label))
                        Spacer()
                        Text(percent(item.probability)).monospacedDigit()
                    }
                    ProgressView(value: item.probability)
                }
            }
        }
    }

    private var latency: some View {
        VStack(alignment: .leading, spacing: 2) {
            Text("Latency").font(.headline)
            Text(String(format: "decode %.1f ms, preprocess %.1f ms, Core ML %.1f ms, total %.1f ms",
                        result.decodeMs, result.preprocessMs, result.predictMs, result.totalMs))
                .font(.callout).monospacedDigit()
            if !result.exactDecode {
                Text("This photo's pixel format was converted by Core Graphics: the model input may "
                     + "differ slightly from Python's.").font(.caption)
            }
        }
    }

    private func referralLine(_ p: Double, _ threshold: Double) -> String {
        let task = card.referral?.task ?? "referral"
        var line = "\(task) probability \(percent(p)), threshold \(percent(threshold))"
        if let target = card.referral?.targetSensitivity {
            line += " (chosen for \(percent(target)) sensitivity on validation images)"
        }
        return line
    }

    /// "Melanoma (mel)": the card's long name and code.
    private func name(_ label: String) -> String {
        guard let i = card.labels.firstIndex(of: label) else { return label }
        return "\(card.labelNames[i]) (\(label))"
    }
}

func percent(_ p: Double) -> String {
    String(format: "%.1f%%", 100 * p)
}

/// The input gate: usable or not, and why.
struct GateView: View {
    let verdict: InputGate.Verdict

    var body: some View {
        VStack(alignment: .leading, spacing: 4) {
            Label(verdict.usable ? "Input looks usable" : "Input may not be usable",
                  systemImage: verdict.usable ? "checkmark.seal" : "exclamationmark.octagon")
                .font(.headline)
                .foregroundStyle(verdict.usable ? Color.green : Color.orange)
            ForEach(verdict.reasons, id: \.self) { reason in
                Text("• " + reason).font(.callout)
            }
        }
    }
}

/// What the card says the model is for, and its limits.
struct IntendedUseView: View {
    let use: IntendedUse

    var body: some View {
        VStack(alignment: .leading, spacing: 4) {
            Text("Intended use").font(.headline)
            Text(use.summary).font(.callout)
            ForEach(use.limitations, id: \.self) { line in
                Text("• " + line).font(.caption)
            }
        }
    }
}
