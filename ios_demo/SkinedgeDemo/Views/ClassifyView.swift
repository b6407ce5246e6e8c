import PhotosUI
import SkinedgeCore
import SwiftUI
import UIKit

/// Pick or capture a photo and show what the model and its card say about it.
struct ClassifyView: View {
    @EnvironmentObject private var models: ModelStore
    @StateObject private var session = ClassifySession()
    @State private var picked: PhotosPickerItem?
    @State private var preview: UIImage?
    @State private var showCamera = false

    var body: some View {
        NavigationStack {
            ScrollView {
                VStack(alignment: .leading, spacing: 16) {
                    if let message = models.loadError {
                        MessageBox(title: "Model not loaded", text: message)
                    }
                    HStack {
                        PhotosPicker(selection: $picked, matching: .images) {
                            Label("Choose photo", systemImage: "photo.on.rectangle")
                        }
                        Spacer()
                        Button {
                            showCamera = true
                        } label: {
                            Label("Take photo", systemImage: "camera")
                        }
                        .disabled(!UIImagePickerController.isSourceTypeAvailable(.camera))
                    }
                    .buttonStyle(.bordered)
                    .disabled(models.classifier == nil || session.running)
                    if let preview {
                        Image(uiImage: preview)
                            .resizable()
                            .scaledToFit()
                            .frame(maxHeight: 240)
                            .frame(maxWidth: .infinity)
                    }
                    if session.running {
                        ProgressView("Classifying")
                    }
                    if let message = session.error {
                        MessageBox(title: "Cannot classify this image", text: message)
                    }
                    if let result = session.result, let card = models.classifier?.card {
                        ResultView(result: result, card: card)
                    }
                }
                .padding()
            }
            .navigationTitle("Classify")
        }
        .onChange(of: picked) { _, item in
            Task { await load(item) }
        }
        .sheet(isPresented: $showCamera) {
            CameraPicker { image in
                Task { await classify(captured: image) }
            }
            .ignoresSafeArea()
        }
    }

    @MainActor
    private func load(_ item: PhotosPickerItem?) async {
        guard let item, let classifier = models.classifier else { return }
        do {
            guard let data = try await item.loadTransferable(type: Data.self) else {
                return session.report("The photo library gave no image data for this photo.")
            }
            preview = UIImage(data: data)
            await session.classify(data: data, source: item.itemIdentifier ?? "photo", with: classifier)
        } catch {
            preview = nil
            session.report("Cannot read this photo: \(error.localizedDescription)")
        }
    }

    @MainActor
    private func classify(captured image: UIImage) async {
        guard let classifier = models.classifier, let cgImage = image.cgImage else { return }
        preview = image
        await session.classify(image: cgImage, orientation: CameraPicker.exifOrientation(image.imageOrientation),
                               with: classifier)
    }
}

/// A titled message for errors a person can act on.
struct MessageBox: View {
    let title: String
    let text: String

    var body: some View {
        VStack(alignment: .leading, spacing: 4) {
            Label(title, systemImage: "exclamationmark.triangle").font(.headline)
            Text(text).font(.callout).textSelection(.enabled)
        }
        .padding()
        .frame(maxWidth: .infinity, alignment: .leading)
        .background(Color.orange.opacity(0.15), in: RoundedRectangle(cornerRadius: 8))
    }
}
