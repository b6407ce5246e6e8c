// swift-tools-version:5.9
// The iOS demo's shared logic, tested against skinedge's golden vectors with `swift test`.
// SkinedgeCore is Foundation only (card, preprocessing, calibration, referral, input gate,
// bench JSON); SkinedgeImageIO decodes images to raw pixels and SkinedgeCoreML runs an
// exported .mlpackage: both compile to nothing where their Apple frameworks are missing.
import PackageDescription

let package = Package(
    name: "SkinedgeCore",
    platforms: [.iOS(.v17), .macOS(.v14)],
    products: [
        .library(name: "SkinedgeCore", targets: ["SkinedgeCore"]),
        .library(name: "SkinedgeImageIO", targets: ["SkinedgeImageIO"]),
        .library(name: "SkinedgeCoreML", targets: ["SkinedgeCoreML"]),
    ],
    targets: [
        .target(name: "SkinedgeCore"),
        .target(name: "SkinedgeImageIO", dependencies: ["SkinedgeCore"]),
        .target(name: "SkinedgeCoreML", dependencies: ["SkinedgeCore"]),
        .testTarget(name: "SkinedgeCoreTests",
                    dependencies: ["SkinedgeCore", "SkinedgeImageIO", "SkinedgeCoreML"]),
    ]
)
