import Foundation

/// A JSON document as read from a model card or golden file, or written as a bench report.
/// Decoding keeps JSON's own types apart: `true` is never an integer, `1.5` never an Int.
public enum JSONValue: Codable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? c.decode(Int.self) {
            self = .int(i)
        } else if let d = try? c.decode(Double.self) {
            self = .double(d)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case let .bool(b): try c.encode(b)
        case let .int(i): try c.encode(i)
        case let .double(d): try c.encode(d)
        case let .string(s): try c.encode(s)
        case let .array(a): try c.encode(a)
        case let .object(o): try c.encode(o)
        }
    }

    /// Parses UTF-8 JSON text.
    public static func parse(_ data: Data) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: data)
    }

    /// UTF-8 JSON text, keys sorted, indented.
    public func serialized() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    public subscript(key: String) -> JSONValue? {
        if case let .object(o) = self { return o[key] }
        return nil
    }

    public var object: [String: JSONValue]? {
        if case let .object(o) = self { return o }
        return nil
    }

    public var array: [JSONValue]? {
        if case let .array(a) = self { return a }
        return nil
    }

    public var string: String? {
        if case let .string(s) = self { return s }
        return nil
    }

    public var bool: Bool? {
        if case let .bool(b) = self { return b }
        return nil
    }

    /// An integer (never a bool, never a number with a fraction).
    public var int: Int? {
        if case let .int(i) = self { return i }
        return nil
    }

    /// Any finite number, integer or not (never a bool).
    public var number: Double? {
        switch self {
        case let .int(i): return Double(i)
        case let .double(d): return d.isFinite ? d : nil
        default: return nil
        }
    }

    /// A list of finite numbers, of length `count` when given.
    public func numbers(count: Int? = nil) -> [Double]? {
        guard let a = array else { return nil }
        let values = a.compactMap(\.number)
        guard values.count == a.count, count == nil || values.count == count else { return nil }
        return values
    }

    /// A list of strings.
    public var strings: [String]? {
        guard let a = array else { return nil }
        let values = a.compactMap(\.string)
        return values.count == a.count ? values : nil
    }
}
