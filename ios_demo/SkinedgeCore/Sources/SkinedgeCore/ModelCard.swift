import Foundation

/// The model card (skinedge/card.py): the only place the app takes labels, input size and the
/// trust fields from. Every field the app relies on is type- and range-checked as skinedge's
/// Python reader checks it, so a card Python refuses is refused here with the same field named.
public struct ModelCard: Equatable {
    /// The card schema this code reads (card.py CARD_SCHEMA).
    public static let schema = "skinedge.model_card/1"
    /// Where the card sits in an artifact's metadata: the key of CoreML's
    /// `user_defined_metadata` (targets/common.py CARD_KEY).
    public static let metadataKey = "skinedge.model_card"
    /// card.py MIN_INPUT_SIZE, MAX_INPUT_SIZE, MAX_VIEWS.
    static let inputSizeRange = 16...2048
    static let viewsRange = 1...64
    /// Preprocessing fields admit only what Preprocessor does; a card asking for anything else
    /// would be silently misread. The resize policy and interpolation name preprocess.py's.
    static let fixedFields: [(name: String, value: JSONValue)] = [
        ("color_order", .string("RGB")),
        ("layout", .string("NCHW")),
        ("normalization", .string("in_graph")),
        ("resize", .string("shorter_side_then_center_crop")),
        ("interpolation", .string("bilinear")),
    ]
    static let required = ["architecture", "input_size", "mean", "std", "params", "flops", "labels"]
    /// card.py MAX_DEPTH and PROSE_FIELDS (see `checkText`).
    static let maxDepth = 32
    static let proseField = "intended_use"

    public let source: String
    public let architecture: String
    /// S: the model sees S x S RGB pixels in [0, 1]; mean/std are inside the graph.
    public let inputSize: Int
    public let labels: [String]
    public let labelNames: [String]
    public let params: Int
    public let flops: Int
    public let quantization: String
    public let format: String
    public let views: Int
    public let calibration: Calibration?
    public let referral: Referral?
    public let gate: GateSpec?
    public let intendedUse: IntendedUse?
    /// The labels summed into the malignant probability when the card has no referral field
    /// (empty for an older card that does not name them: the app names no class itself).
    public let malignantLabels: [String]
    /// Bounds on the work per image: the card's, or the defaults for an older card.
    public let imageLimits: ImageLimits
    public let integritySha256: String
    /// The software versions that wrote the card (skinedge, torch, coremltools, ...).
    public let software: [String: String]

    public var macs: Int { flops / 2 }

    /// The card in UTF-8 JSON `data`; `source` names the file in every error.
    public init(json data: Data, source: String) throws {
        let doc: JSONValue
        do {
            doc = try JSONValue.parse(data)
        } catch {
            throw SkinedgeError.badCard(source: source, field: "(document)",
                                        problem: "is not valid JSON (\(error.localizedDescription))")
        }
        try self.init(document: doc, source: source)
    }

    public init(document doc: JSONValue, source: String) throws {
        guard let d = doc.object else {
            throw SkinedgeError.otherSchema(source: source, found: "")
        }
        guard d["schema"]?.string == ModelCard.schema else {
            throw SkinedgeError.otherSchema(source: source, found: d["schema"]?.string ?? "")
        }
        if let missing = ModelCard.required.first(where: { d[$0] == nil }) {
            throw SkinedgeError.badCard(source: source, field: missing, problem: "is missing")
        }
        func bad(_ field: String, _ problem: String) -> SkinedgeError {
            SkinedgeError.badCard(source: source, field: field, problem: problem)
        }
        try ModelCard.checkText(doc, path: "", depth: 0, bad)
        guard let arch = d["architecture"]?.string, !arch.isEmpty else {
            throw bad("architecture", "must be a non-empty string")
        }
        guard let size = d["input_size"]?.int, ModelCard.inputSizeRange.contains(size) else {
            throw bad("input_size", "must be an integer from \(ModelCard.inputSizeRange.lowerBound) "
                      + "to \(ModelCard.inputSizeRange.upperBound)")
        }
        // Checked as Python checks them, never used: the graph normalizes its own input.
        guard d["mean"]?.numbers(count: 3)?.allSatisfy({ $0 >= 0 && $0 <= 1 }) == true else {
            throw bad("mean", "must be three numbers in [0, 1]")
        }
        guard d["std"]?.numbers(count: 3)?.allSatisfy({ $0 > 0 && $0 <= 1 }) == true else {
            throw bad("std", "must be three numbers in (0, 1]")
        }
        guard let p = d["params"]?.int, p >= 0 else { throw bad("params", "must be an integer of at least 0") }
        guard let f = d["flops"]?.int, f >= 0 else { throw bad("flops", "must be an integer of at least 0") }
        let labels = try ModelCard.checkLabels(d["labels"], bad)
        for (name, value) in ModelCard.fixedFields where d[name] != nil && d[name] != value {
            throw bad(name, "must be \(value.string ?? "") (what skinedge feeds)")
        }
        if let range = d["value_range"], range.numbers(count: 2) != [0, 1] {
            throw bad("value_range", "must be [0, 1] (what skinedge feeds)")
        }
        let names = d["label_names"].map { $0.strings } ?? labels
        guard let labelNames = names else { throw bad("label_names", "must be a list of strings") }
        guard labelNames.count == labels.count else {
            throw bad("label_names", "must give one per label (\(labels.count) labels, "
                      + "\(labelNames.count) names)")
        }
        let views = d["views"].map { $0.int } ?? 1
        guard let v = views, ModelCard.viewsRange.contains(v) else {
            throw bad("views", "must be an integer from 1 to \(ModelCard.viewsRange.upperBound)")
        }
        for name in ["quantization", "format", "integrity_sha256"] where d[name] != nil && d[name]?.string == nil {
            throw bad(name, "must be a string")
        }
        self.source = source
        architecture = arch
        inputSize = size
        self.labels = labels
        self.labelNames = labelNames
        params = p
        flops = f
        quantization = d["quantization"]?.string ?? "none"
        format = d["format"]?.string ?? "checkpoint"
        self.views = v
        integritySha256 = d["integrity_sha256"]?.string ?? ""
        software = (d["software"]?.object ?? [:]).compactMapValues(\.string)
        malignantLabels = try ModelCard.checkMalignant(d["malignant_labels"], labels, bad)
        imageLimits = try ImageLimits.parse(d["image_limits"], bad: bad)
        calibration = try Calibration.parse(d["calibration"], labels: labels, bad: bad)
        referral = try Referral.parse(d["referral"], labels: labels, bad: bad)
        gate = try GateSpec.parse(d["gate"], bad: bad)
        intendedUse = try IntendedUse.parse(d["intended_use"], bad: bad)
    }

    private static func checkLabels(_ v: JSONValue?, _ bad: (String, String) -> SkinedgeError) throws -> [String] {
        guard let labels = v?.strings else { throw bad("labels", "must be a list of class codes") }
        guard labels.count >= 2 else { throw bad("labels", "must list at least 2 classes") }
        if labels.contains(where: { $0.trimmingCharacters(in: .whitespaces).isEmpty }) {
            throw bad("labels", "must be non-empty strings")
        }
        if let dup = labels.enumerated().first(where: { labels[..<$0.offset].contains($0.element) }) {
            throw bad("labels", "has duplicate label '\(dup.element)'")
        }
        return labels
    }

    /// clinical.check_malignant_labels: distinct labels of this model; none when absent.
    private static func checkMalignant(_ v: JSONValue?, _ labels: [String],
                                       _ bad: (String, String) -> SkinedgeError) throws -> [String] {
        guard let v else { return [] }
        guard let names = v.strings else { throw bad("malignant_labels", "must be a list of label codes") }
        guard Set(names).count == names.count, Set(names).isSubset(of: Set(labels)) else {
            throw bad("malignant_labels", "must list distinct labels of this model")
        }
        return names
    }

    /// card.py _check_text: no string in the card (keys too) holds a control character (Unicode
    /// Cc, Cf, Zl, Zp; a line break allowed in the prose of intended_use), and nothing nests
    /// deeper than `maxDepth`: the app shows card text as it is.
    static func checkText(_ v: JSONValue, path: String, depth: Int,
                          _ bad: (String, String) -> SkinedgeError) throws {
        let top = String(path.split(whereSeparator: { $0 == "." || $0 == "[" }).first ?? "")
        if depth > maxDepth { throw bad(top, "nests deeper than \(maxDepth) levels at \(path)") }
        switch v {
        case let .string(text):
            if let c = control(text, prose: top == proseField) {
                throw bad(top, "holds a control character (\(c))" + (path == top ? "" : " at \(path)")
                          + "; card text is shown as it is, so control characters (line breaks "
                          + "outside prose, terminal escapes, direction marks) are refused")
            }
        case let .array(items):
            for (i, x) in items.enumerated() {
                try checkText(x, path: "\(path)[\(i)]", depth: depth + 1, bad)
            }
        case let .object(fields):
            for (k, x) in fields.sorted(by: { $0.key < $1.key }) {
                if let c = control(k, prose: false) {
                    throw bad(path.isEmpty ? k : top, "has a key holding a control character (\(c))")
                }
                try checkText(x, path: path.isEmpty ? k : "\(path).\(k)", depth: depth + 1, bad)
            }
        default:
            return
        }
    }

    /// The first control character of `text` as Python's ascii() writes it; nil when none.
    static func control(_ text: String, prose: Bool) -> String? {
        for scalar in text.unicodeScalars {
            switch scalar.properties.generalCategory {
            case .control, .format, .lineSeparator, .paragraphSeparator:
                if prose && scalar == "\n" { continue }
                let n = scalar.value, hex = { (w: Int) in
                    String(repeating: "0", count: max(0, w - String(n, radix: 16).count)) + String(n, radix: 16)
                }
                switch n {
                case 9: return "\\t"
                case 10: return "\\n"
                case 13: return "\\r"
                default: return n < 0x100 ? "\\x" + hex(2) : n < 0x10000 ? "\\u" + hex(4) : "\\U" + hex(8)
                }
            default:
                continue
            }
        }
        return nil
    }

    /// The card in a model's creator-defined metadata (CoreML `user_defined_metadata`).
    public static func fromMetadata(_ metadata: [String: String], source: String) throws -> ModelCard {
        guard let json = metadata[metadataKey] else { throw SkinedgeError.noCard(source: source) }
        return try ModelCard(json: Data(json.utf8), source: source)
    }

    /// Throws unless a model whose image input is `width` x `height` and whose classifier
    /// reports `classLabels` (nil: not a classifier) is the one this card describes.
    public func checkModel(width: Int, height: Int, classLabels: [String]?) throws {
        if width != inputSize || height != inputSize {
            throw SkinedgeError.inputMismatch(
                source: source, problem: "the model's input is \(width)x\(height) px but its card "
                    + "says \(inputSize)x\(inputSize)")
        }
        if let classLabels, Set(classLabels) != Set(labels) || classLabels.count != labels.count {
            throw SkinedgeError.inputMismatch(
                source: source, problem: "the model's classes \(classLabels.sorted()) differ from "
                    + "its card's labels \(labels.sorted())")
        }
    }
}
