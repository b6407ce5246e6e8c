import SwiftUI

/// The skinedge iOS demo: classify a photo with an exported CoreML model, read what its card
/// says about it, and benchmark it. All logic lives in the SkinedgeCore package; the app only
/// holds state and shows it.
@main
struct SkinedgeDemoApp: App {
    @StateObject private var models = ModelStore()

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
            .task { models.loadBundled() }
        }
    }
}
