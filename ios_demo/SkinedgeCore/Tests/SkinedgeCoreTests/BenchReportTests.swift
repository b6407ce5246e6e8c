import Foundation
import SkinedgeCore
import XCTest

/// The phone's benchmark file is a `skinedge.bench/2` document the host bench can import.
final class BenchReportTests: XCTestCase {
    func testStatsAreTheHostBenchStats() {
        let s = BenchReport.stats((1...10).map(Double.init).reversed())
        XCTAssertEqual(s["n"]?.int, 10)
        XCTAssertEqual(s["median"]?.number, 5.5)
        XCTAssertEqual(s["p90"]?.number ?? 0, 9.1, accuracy: 1e-12)
        XCTAssertEqual(s["p99"]?.number ?? 0, 9.91, accuracy: 1e-12)
        XCTAssertEqual(s["trimmed_mean"]?.number, 5.5)  // 2...9: one cut each side
        XCTAssertEqual(s["min"]?.number, 1)
    }

    private func run(error: String = "") throws -> BenchReport.Run {
        let golden = try GoldenFolder.open()
        let card = try golden.card(try XCTUnwrap(golden.models.first))
        return BenchReport.Run(artifact: "model_coreml_fp16.mlpackage", card: card, warmup: 5,
                               timingsMs: [2, 1, 3, 4], loadSeconds: 0.25, peakMemoryMB: 80,
                               sizeBytes: 1000, processID: 42, error: error)
    }

    func testDocumentRoundTripsWithTheDevice() throws {
        let device = BenchReport.Device(model: "iPhone15,2", os: "iOS 17.5", cores: 6,
                                        computeUnits: "all", appVersion: "1.0")
        let date = Date(timeIntervalSince1970: 1_800_000_000)
        let doc = BenchReport.document([try run()], device: device, date: date, seconds: 1.23)
        let back = try JSONValue.parse(try doc.serialized())
        XCTAssertEqual(back["schema"]?.string, BenchReport.schema)
        XCTAssertEqual(back["date"]?.string, "2027-01-15T08:00:00+00:00")
        XCTAssertEqual(back["device"]?["platform"]?.string, "ios")
        XCTAssertEqual(back["device"]?["model"]?.string, "iPhone15,2")
        XCTAssertEqual(back["host"]?["machine"]?.string, "iPhone15,2")
        XCTAssertEqual(back["settings"]?["warmup"]?.int, 5)
        XCTAssertEqual(back["settings"]?["runs_per_round"]?.int, 4)
        let row = try XCTUnwrap(back["rows"]?.array?.first)
        XCTAssertEqual(row["status"]?.string, "ok")
        XCTAssertEqual(row["target"]?.string, "coreml")
        XCTAssertEqual(row["latency_ms"]?["1"]?["median"]?.number, 2.5)
        XCTAssertEqual(row["throughput_img_s"]?["1"]?.number, 400)
        XCTAssertEqual(BenchReport.fileName(date), "bench-ios-20270115T080000.json")
    }

    func testFailedRunSaysWhy() throws {
        let row = BenchReport.rowDocument(try run(error: "model failed to load"))
        XCTAssertEqual(row["status"]?.string, "failed")
        XCTAssertEqual(row["error"]?.string, "model failed to load")
        XCTAssertEqual(row["latency_ms"], .object([:]))
        let unloaded = BenchReport.rowDocument(BenchReport.Run(
            artifact: "broken.mlpackage", card: nil, warmup: 1, timingsMs: [], loadSeconds: nil,
            peakMemoryMB: 1, sizeBytes: 1, processID: 1, error: "no skinedge model card"))
        XCTAssertEqual(unloaded["status"]?.string, "failed")
        XCTAssertEqual(unloaded["architecture"], .null)
        XCTAssertEqual(unloaded.object?.keys.sorted(), row.object?.keys.sorted())
    }

    func testLaunchArgumentsOfSkinedgeBenchDeviceIos() throws {
        XCTAssertNil(try BenchRequest.parse(["SkinedgeDemo"]))
        let request = try BenchRequest.parse(["SkinedgeDemo", "-skinedgeBenchmark", "skinedge-bench",
                                              "-warmup", "3", "-runs", "20", "-resultFile", "results-1.json"])
        XCTAssertEqual(request, BenchRequest(folder: "skinedge-bench", warmup: 3, runs: 20,
                                             resultFile: "results-1.json"))
        XCTAssertThrowsError(try BenchRequest.parse(["-skinedgeBenchmark", "b", "-runs", "0"]))
        XCTAssertThrowsError(try BenchRequest.parse(["-skinedgeBenchmark", "b", "-warmup", "x"]))
        XCTAssertThrowsError(try BenchRequest.parse(["-skinedgeBenchmark", "../elsewhere"]))
        XCTAssertThrowsError(try BenchRequest.parse(["-skinedgeBenchmark", "b", "-resultFile", "a/b.json"]))
    }
}
