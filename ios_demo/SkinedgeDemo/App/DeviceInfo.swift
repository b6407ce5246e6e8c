import CoreML
import Foundation
import SkinedgeCore

/// Facts about the phone that a benchmark row records.
enum DeviceInfo {
    /// The hardware identifier, e.g. "iPhone15,2" (the simulator reports the Mac's).
    static var model: String {
        var info = utsname()
        uname(&info)
        return withUnsafeBytes(of: &info.machine) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    static func current(computeUnits: MLComputeUnits) -> BenchReport.Device {
        let v = ProcessInfo.processInfo.operatingSystemVersion
        let app = Bundle.main.infoDictionary?["CFBundleShortVersionString"] as? String ?? "dev"
        return BenchReport.Device(
            model: model, os: "iOS \(v.majorVersion).\(v.minorVersion).\(v.patchVersion)",
            cores: ProcessInfo.processInfo.activeProcessorCount,
            computeUnits: name(of: computeUnits), appVersion: app)
    }

    static func name(of units: MLComputeUnits) -> String {
        switch units {
        case .cpuOnly: return "cpuOnly"
        case .cpuAndGPU: return "cpuAndGPU"
        case .cpuAndNeuralEngine: return "cpuAndNeuralEngine"
        default: return "all"
        }
    }

    /// Peak physical footprint of the app in MB (the phone's counterpart of the host's VmHWM).
    static func peakMemoryMB() -> Double {
        var info = task_vm_info_data_t()
        var count = mach_msg_type_number_t(MemoryLayout<task_vm_info_data_t>.size / MemoryLayout<natural_t>.size)
        let result = withUnsafeMutablePointer(to: &info) { pointer in
            pointer.withMemoryRebound(to: integer_t.self, capacity: Int(count)) {
                task_info(mach_task_self_, task_flavor_t(TASK_VM_INFO), $0, &count)
            }
        }
        guard result == KERN_SUCCESS else { return 0 }
        return Double(info.ledger_phys_footprint_peak) / 1_048_576
    }

    /// Bytes on disk of a compiled model folder (.mlmodelc).
    static func bytes(of folder: URL) -> Int {
        let files = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: [.fileSizeKey])
        return (files?.allObjects ?? []).compactMap { item in
            (item as? URL).flatMap { try? $0.resourceValues(forKeys: [.fileSizeKey]).fileSize }
        }.reduce(0, +)
    }
}
