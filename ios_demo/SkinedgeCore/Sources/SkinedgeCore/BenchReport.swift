import Foundation

/// Benchmark results as a `skinedge.bench/2` document (skinedge/bench/report.py,
/// benchmarks/README.md): the same top-level keys and the same row keys as the host bench,
/// so `skinedge bench --import FILE --device ios` reads a phone's run like a host row. What
/// a phone does not measure (matmul peak, accuracy, graph FLOPs, baselines) is null or empty.
public enum BenchReport {
    public static let schema = "skinedge.bench/2"

    /// report.py stats: n, median, p90, p99, trimmed mean (10% cut each side), min, in ms.
    public static func stats(_ ms: [Double]) -> JSONValue {
        let a = ms.sorted()
        let n = a.count
        let k = Int(Double(n) * 0.1)
        let trimmed = n > 2 * k ? Array(a[k..<(n - k)]) : a
        return .object([
            "n": .int(n),
            "median": .double(percentile(a, 50)),
            "p90": .double(percentile(a, 90)),
            "p99": .double(percentile(a, 99)),
            "trimmed_mean": .double(trimmed.reduce(0, +) / Double(max(trimmed.count, 1))),
            "min": .double(a.first ?? .nan),
        ])
    }

    /// numpy's default (linear) percentile of sorted values.
    static func percentile(_ sorted: [Double], _ q: Double) -> Double {
        guard let last = sorted.indices.last else { return .nan }
        let pos = q / 100 * Double(last)
        let lo = Int(pos.rounded(.down)), hi = min(lo + 1, last)
        let t = pos - Double(lo)
        return sorted[lo] + (sorted[hi] - sorted[lo]) * t
    }

    /// The device a run was measured on.
    public struct Device: Equatable {
        /// Hardware identifier, e.g. "iPhone15,2".
        public let model: String
        /// e.g. "iOS 17.5".
        public let os: String
        public let cores: Int
        /// CoreML compute units asked for: "all", "cpuAndNeuralEngine", "cpuOnly", ...
        public let computeUnits: String
        public let appVersion: String

        public init(model: String, os: String, cores: Int, computeUnits: String, appVersion: String) {
            self.model = model
            self.os = os
            self.cores = cores
            self.computeUnits = computeUnits
            self.appVersion = appVersion
        }
    }

    /// One model measured on the phone: N warm-up runs, then N timed runs at batch 1.
    public struct Run {
        public let artifact: String
        /// nil when the model could not be loaded (then `error` says why).
        public let card: ModelCard?
        public let warmup: Int
        /// Milliseconds of each timed `MLModel.prediction` (model only, as the host bench
        /// times its runtimes on ready inputs).
        public let timingsMs: [Double]
        /// Seconds from starting to load the model to the end of its first prediction.
        public let loadSeconds: Double?
        public let peakMemoryMB: Double
        public let sizeBytes: Int
        public let processID: Int
        /// Empty when the run succeeded; else why it failed.
        public let error: String

        public init(artifact: String, card: ModelCard?, warmup: Int, timingsMs: [Double],
                    loadSeconds: Double?, peakMemoryMB: Double, sizeBytes: Int, processID: Int,
                    error: String = "") {
            self.artifact = artifact
            self.card = card
            self.warmup = warmup
            self.timingsMs = timingsMs
            self.loadSeconds = loadSeconds
            self.peakMemoryMB = peakMemoryMB
            self.sizeBytes = sizeBytes
            self.processID = processID
            self.error = error
        }
    }

    /// One row, keyed as report.py `_row_doc` + `_add_ratios` key a host row (without
    /// `fraction_of_matmul_peak`, which needs the host's matmul peak).
    public static func rowDocument(_ run: Run) -> JSONValue {
        let ok = run.error.isEmpty && !run.timingsMs.isEmpty
        let latency: [String: JSONValue] = ok ? ["1": stats(run.timingsMs)] : [:]
        let median = ok ? percentile(run.timingsMs.sorted(), 50) : .nan
        let card = run.card
        func int(_ value: Int?) -> JSONValue { value.map { JSONValue.int($0) } ?? .null }
        return .object([
            "name": .string(run.artifact),
            "kind": .string("artifact"),
            "target": .string("coreml"),
            "quantization": .string(card?.quantization ?? "?"),
            "path": .string(run.artifact),
            "role": .string("candidate"),
            "status": .string(ok ? "ok" : "failed"),
            "error": .string(run.error),
            "peak_rss_mb": .double(run.peakMemoryMB),
            "pids": .array([.int(run.processID)]),
            "accuracy": .null,
            "accuracy_error": .string("not measured on the phone: the app has no labelled images"),
            "size_bytes": .int(run.sizeBytes),
            "architecture": card.map { JSONValue.string($0.architecture) } ?? .null,
            "input_size": int(card?.inputSize),
            "params": int(card?.params),
            "flops": int(card?.flops),
            "macs": int(card?.macs),
            "flops_graph": .null,
            "flops_graph_from": .null,
            "load_s": run.loadSeconds.map { JSONValue.double($0) } ?? .null,
            "latency_ms": .object(latency),
            "throughput_img_s": .object(ok ? ["1": .double(1 / (median / 1e3))] : [:]),
            "gflops_achieved": ok && (card?.flops ?? 0) > 0
                ? .double(Double(card?.flops ?? 0) / (median / 1e3) / 1e9) : .null,
            "ratios": .object([:]),
        ])
    }

    /// The whole document, keyed as report.py `assemble`, plus `device` (what was measured on).
    public static func document(_ runs: [Run], device: Device, date: Date, seconds: Double) -> JSONValue {
        let warmup = runs.first?.warmup ?? 0
        let timed = runs.first?.timingsMs.count ?? 0
        var software: [String: JSONValue] = ["skinedge_ios": .string(device.appVersion),
                                             "os": .string(device.os)]
        for (name, version) in runs.compactMap(\.card).first?.software ?? [:] {
            software["export_" + name] = .string(version)
        }
        return .object([
            "schema": .string(schema),
            "date": .string(isoDate(date)),
            "host": .object([
                "cpu": .string(device.model),
                "cores": .int(device.cores),
                "threads": .int(device.cores),
                "os": .string(device.os),
                "machine": .string(device.model),
            ]),
            "device": .object([
                "platform": .string("ios"),
                "manufacturer": .string("Apple"),
                "model": .string(device.model),
                "os": .string(device.os),
                "cores": .int(device.cores),
                "runtime": .string("coreml"),
                "compute_units": .string(device.computeUnits),
            ]),
            "software": .object(software),
            "matmul_peak_gflops": .null,
            "matmul_gflops_by_library": .object([:]),
            "batches": .array([.int(1)]),
            "settings": .object([
                "rounds": .int(1),
                "warmup": .int(warmup),
                "runs_per_round": .int(timed),
                "data": .null,
                "split": .null,
                "baselines": .object([:]),
            ]),
            "accuracy_data": .object(["data": .null, "split": .null, "shipped_sample": .bool(false)]),
            "seconds": .double((seconds * 10).rounded() / 10),
            "rows": .array(runs.map(rowDocument)),
            "exports": .array([]),
        ])
    }

    /// UTC ISO 8601 to the second, as Python's `isoformat(timespec="seconds")` writes it.
    static func isoDate(_ date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd'T'HH:mm:ss'+00:00'"
        return f.string(from: date)
    }

    /// The file name the app shares: `bench-ios-<UTC stamp>.json`, like the host's
    /// `bench-<stamp>.json`.
    public static func fileName(_ date: Date) -> String {
        let stamp = isoDate(date).prefix(19).replacingOccurrences(of: "-", with: "")
            .replacingOccurrences(of: ":", with: "")
        return "bench-ios-\(stamp).json"
    }
}
