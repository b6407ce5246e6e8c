import Foundation

/// An automated benchmark asked for at launch by `skinedge bench --device ios`
/// (skinedge/bench/ios.py): `xcrun devicectl` copies the .mlpackages into
/// `Documents/<folder>/` and launches the app with the UserDefaults arguments
/// `-skinedgeBenchmark <folder> -warmup W -runs N -resultFile NAME`; the app times every model in
/// the folder and writes one `skinedge.bench/2` document to `Documents/<folder>/NAME`.
public struct BenchRequest: Equatable {
    /// The launch arguments, as the harness passes them.
    public static let folderArgument = "-skinedgeBenchmark"
    public static let warmupArgument = "-warmup"
    public static let runsArgument = "-runs"
    public static let resultArgument = "-resultFile"

    /// A folder name inside Documents.
    public let folder: String
    public let warmup: Int
    public let runs: Int
    /// A file name inside `folder`.
    public let resultFile: String

    public init(folder: String, warmup: Int, runs: Int, resultFile: String) {
        self.folder = folder
        self.warmup = warmup
        self.runs = runs
        self.resultFile = resultFile
    }

    /// The request in a process's `arguments`; nil when it was not launched for one.
    public static func parse(_ arguments: [String]) throws -> BenchRequest? {
        var values: [String: String] = [:]
        for (i, arg) in arguments.enumerated() where arg.hasPrefix("-") && i + 1 < arguments.count {
            values[arg] = arguments[i + 1]
        }
        guard let folder = values[folderArgument] else { return nil }
        func bad(_ what: String) -> SkinedgeError { SkinedgeError.badRequest(problem: what) }
        guard let warmup = Int(values[warmupArgument] ?? "10"), warmup >= 0 else {
            throw bad("\(warmupArgument) must be a whole number of at least 0")
        }
        guard let runs = Int(values[runsArgument] ?? "50"), runs >= 1 else {
            throw bad("\(runsArgument) must be a whole number of at least 1")
        }
        let result = values[resultArgument] ?? "results.json"
        for (name, value) in [(folderArgument, folder), (resultArgument, result)]
            where value.isEmpty || value.contains("/") || value.hasPrefix(".") {
            throw bad("\(name) must be a plain file name, not '\(value)'")
        }
        return BenchRequest(folder: folder, warmup: warmup, runs: runs, resultFile: result)
    }
}
