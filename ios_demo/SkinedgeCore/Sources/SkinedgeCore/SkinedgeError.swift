import Foundation

/// Every failure the app shows a person: what was wrong, with which file, and what to do.
/// The cases mirror skinedge's Python errors (CheckpointError, DataError).
public enum SkinedgeError: Error, Equatable, LocalizedError {
    /// The model file has no skinedge model card in its metadata.
    case noCard(source: String)
    /// The card's `schema` is not the one this app reads.
    case otherSchema(source: String, found: String)
    /// A card field is missing or malformed.
    case badCard(source: String, field: String, problem: String)
    /// The model's own input differs from what its card says.
    case inputMismatch(source: String, problem: String)
    /// The image could not be decoded, or is outside the accepted sizes.
    case badImage(source: String, problem: String)
    /// The model ran but its output cannot be read as the card's classes.
    case badOutput(source: String, problem: String)
    /// An automated benchmark's launch arguments are malformed.
    case badRequest(problem: String)

    public var errorDescription: String? {
        switch self {
        case let .noCard(source):
            return "\(source): no skinedge model card in the model's metadata; export the model "
                + "with `skinedge export --target coreml`, which embeds it"
        case let .otherSchema(source, found):
            return "\(source): model card schema \(found.isEmpty ? "(none)" : found) is not "
                + "\(ModelCard.schema), the one this app reads; export the model again with a "
                + "skinedge version that writes it, or update the app"
        case let .badCard(source, field, problem):
            return "\(source): model card field '\(field)' \(problem)"
        case let .inputMismatch(source, problem):
            return "\(source): \(problem); the model and its card do not belong together: "
                + "export the model again"
        case let .badImage(source, problem):
            return "\(source): \(problem)"
        case let .badOutput(source, problem):
            return "\(source): \(problem)"
        case let .badRequest(problem):
            return "benchmark launch arguments: \(problem)"
        }
    }
}
