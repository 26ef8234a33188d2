// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// The JSON value model (values, numbers that keep their literal text, ordered objects) shared by parser and writer.

// MARK: - JSONValue

/// A JSON value (RFC 8259), as produced by ``JSONParser`` and consumed by ``JSONWriter``.
///
/// Numbers keep their literal text (``JSONNumber``), so a value that was parsed and written again is byte-for-byte
/// the same number, and a caller decides whether it wants an `Int64` or a `Double`. Objects keep their members in
/// document order (``JSONObject``).
///
/// Equality is structural and order-sensitive: two objects with the same members in a different order are not
/// equal, and two numbers are equal only when their texts are (`1.0` is not `1.00`). Compare
/// ``JSONNumber/doubleValue`` when numeric equality is what you need.
public enum JSONValue: Hashable, Sendable, CustomStringConvertible {
    /// The literal `null`.
    case null
    /// The literal `true` or `false`.
    case bool(Bool)
    /// A number, kept as its literal text.
    case number(JSONNumber)
    /// A string, with escapes resolved.
    case string(String)
    /// An array.
    case array([JSONValue])
    /// An object, with its members in document order.
    case object(JSONObject)
}

// MARK: - Accessors

extension JSONValue {
    /// The string, when this is a ``string(_:)``; otherwise `nil`.
    public var stringValue: String? {
        if case .string(let string) = self { return string }
        return nil
    }

    /// The Boolean, when this is a ``bool(_:)``; otherwise `nil`.
    public var boolValue: Bool? {
        if case .bool(let bool) = self { return bool }
        return nil
    }

    /// The number, when this is a ``number(_:)``; otherwise `nil`.
    public var numberValue: JSONNumber? {
        if case .number(let number) = self { return number }
        return nil
    }

    /// The elements, when this is an ``array(_:)``; otherwise `nil`.
    public var arrayValue: [JSONValue]? {
        if case .array(let array) = self { return array }
        return nil
    }

    /// The object, when this is an ``object(_:)``; otherwise `nil`.
    public var objectValue: JSONObject? {
        if case .object(let object) = self { return object }
        return nil
    }

    /// Whether this is ``null``.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The value as compact JSON text, as ``JSONWriter/serialize(_:pretty:)`` writes it.
    public var description: String {
        JSONWriter.serialize(self)
    }

    /// The JSON type name, for error messages: `"null"`, `"boolean"`, `"number"`, `"string"`, `"array"` or
    /// `"object"`.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}

// MARK: - Literals

extension JSONValue: ExpressibleByBooleanLiteral {
    /// Creates a ``bool(_:)`` from a Boolean literal.
    ///
    /// - Parameter value: The literal.
    public init(booleanLiteral value: Bool) {
        self = .bool(value)
    }
}

extension JSONValue: ExpressibleByIntegerLiteral {
    /// Creates a ``number(_:)`` from an integer literal.
    ///
    /// - Parameter value: The literal.
    public init(integerLiteral value: Int64) {
        self = .number(JSONNumber(value))
    }
}

extension JSONValue: ExpressibleByFloatLiteral {
    /// Creates a ``number(_:)`` from a floating-point literal, written as the shortest text that round-trips.
    ///
    /// A literal too large for `Double` is infinite and becomes ``null``, as ``JSONWriter/writeDouble(_:)`` does.
    ///
    /// - Parameter value: The literal.
    public init(floatLiteral value: Double) {
        if let number = JSONNumber(value) {
            self = .number(number)
        } else {
            self = .null
        }
    }
}

extension JSONValue: ExpressibleByStringLiteral {
    /// Creates a ``string(_:)`` from a string literal.
    ///
    /// - Parameter value: The literal.
    public init(stringLiteral value: String) {
        self = .string(value)
    }
}

extension JSONValue: ExpressibleByArrayLiteral {
    /// Creates an ``array(_:)`` from an array literal.
    ///
    /// - Parameter elements: The elements.
    public init(arrayLiteral elements: JSONValue...) {
        self = .array(elements)
    }
}

extension JSONValue: ExpressibleByDictionaryLiteral {
    /// Creates an ``object(_:)`` from a dictionary literal, keeping the members in the literal's order.
    ///
    /// - Parameter elements: The members. A key must not appear twice (a programmer error that traps).
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(JSONObject(uniqueKeysWithValues: elements))
    }
}

// MARK: - JSONNumber

/// A JSON number, kept as its literal text so that no precision is lost before the caller picks a type.
///
/// The text always matches the RFC 8259 number grammar
/// (`-? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?`); every initializer checks or guarantees it.
public struct JSONNumber: Hashable, Sendable, CustomStringConvertible {
    /// The literal text, for example `10.357019999999999` or `-42`.
    public let text: String

    /// Creates a number from text that is already known to match the grammar (the parser's path).
    init(uncheckedText text: String) {
        self.text = text
    }

    /// Creates a number from its literal text, or `nil` when the text is not a JSON number.
    ///
    /// No whitespace, sign `+`, leading zeros, `NaN` or `Infinity` are accepted, exactly as in a JSON document.
    ///
    /// - Parameter text: The literal text, for example `"1.5e-3"`.
    public init?(text: String) {
        // The parser accepts whitespace around a value; the text comparison rules that out.
        guard case .number(let number)? = try? JSONParser.parse(text, maxDepth: 0), number.text == text else {
            return nil
        }
        self = number
    }

    /// Creates an integer number.
    ///
    /// - Parameter value: The integer; written in decimal.
    public init(_ value: Int64) {
        self.text = String(value)
    }

    /// Creates a number from a finite `Double`, written as the shortest text that reads back as the same `Double`.
    ///
    /// Integral values keep a fractional part (`1.0`, not `1`), so the text still reads as a floating-point number
    /// and ``int64Value`` stays `nil`. Negative zero is written `-0.0`.
    ///
    /// - Parameter value: The value.
    /// - Returns: `nil` when `value` is NaN or infinite, which JSON cannot represent.
    public init?(_ value: Double) {
        guard value.isFinite else { return nil }
        // Swift's description is the shortest round-tripping text, and it already writes `1.0` and `1e+16`;
        // the check keeps the "reads back as a double" promise even if that formatting ever changes.
        let text = value.description
        if text.utf8.contains(where: { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") }) {
            self.text = text
        } else {
            self.text = text + ".0"
        }
    }

    /// The value as an `Int64`, when the text is an integer literal (no fraction, no exponent) within range.
    ///
    /// `5` gives 5, but `5.0` and `5e0` give `nil`, and so does `9223372036854775808` (one past `Int64.max`).
    public var int64Value: Int64? {
        let isInteger = !self.text.utf8.contains { byte in
            byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E")
        }
        return isInteger ? Int64(self.text, radix: 10) : nil
    }

    /// The value as a `Double`, correctly rounded (round-half-to-even) from the full literal text.
    ///
    /// Any number is accepted, integer or not: `10.357019999999999` gives exactly the `Double` that Swift's
    /// `Double("10.357019999999999")` gives. Numbers too small for a `Double` round to zero (or a subnormal).
    ///
    /// - Returns: `nil` when the magnitude is too large for a `Double` (it would be infinite), such as `1e400`.
    public var doubleValue: Double? {
        guard let value = Double(self.text), value.isFinite else { return nil }
        return value
    }

    /// The literal text, as in ``text``.
    public var description: String { self.text }
}

// MARK: - JSONObject

/// A JSON object: members with unique keys, kept in document order.
///
/// Lookups by key are linear for small objects and go through a hash index once an object has more than
/// ``indexThreshold`` members, so a hostile document with many keys cannot make parsing quadratic.
/// Equality and hashing look at the members in order (the index is only a cache).
public struct JSONObject: Hashable, Sendable {
    /// One member of an object.
    public struct Member: Hashable, Sendable {
        /// The member's key.
        public var key: String
        /// The member's value.
        public var value: JSONValue

        /// Creates a member.
        ///
        /// - Parameters:
        ///   - key: The key.
        ///   - value: The value.
        public init(key: String, value: JSONValue) {
            self.key = key
            self.value = value
        }
    }

    /// The member count above which lookups use a hash index instead of a linear scan.
    public static let indexThreshold = 16

    /// The members, in document (or insertion) order.
    public private(set) var members: [Member]

    /// Key to position in ``members``; built only once the object grows past ``indexThreshold`` members.
    private var index: [String: Int]?

    /// Creates an empty object.
    public init() {
        self.members = []
        self.index = nil
    }

    /// Creates an object from key-value pairs, keeping their order.
    ///
    /// - Parameter pairs: The members. A key must not appear twice; a duplicate is a programmer error and traps,
    ///   as it does for `Dictionary(uniqueKeysWithValues:)`. Use ``JSONParser`` for untrusted input.
    public init(uniqueKeysWithValues pairs: some Sequence<(String, JSONValue)>) {
        self.init()
        for (key, value) in pairs {
            let inserted = self.insertIfAbsent(key: key, value: value)
            precondition(inserted, "duplicate key '\(key)' in JSONObject(uniqueKeysWithValues:)")
        }
    }

    /// The number of members.
    public var count: Int { self.members.count }

    /// Whether the object has no members.
    public var isEmpty: Bool { self.members.isEmpty }

    /// The keys, in order.
    public var keys: [String] { self.members.map(\.key) }

    /// The value for a key, or `nil` when the object has no such member.
    ///
    /// Setting a value replaces an existing member in place or appends a new one at the end; setting `nil` removes
    /// the member.
    ///
    /// - Parameter key: The key to look up.
    public subscript(key: String) -> JSONValue? {
        get {
            guard let position = self.position(of: key) else { return nil }
            return self.members[position].value
        }
        set {
            if let position = self.position(of: key) {
                if let newValue {
                    self.members[position].value = newValue
                } else {
                    self.members.remove(at: position)
                    self.rebuildIndex()
                }
            } else if let newValue {
                _ = self.insertIfAbsent(key: key, value: newValue)
            }
        }
    }

    /// Appends a member unless the key is already present.
    ///
    /// - Parameters:
    ///   - key: The key.
    ///   - value: The value.
    /// - Returns: `false`, leaving the object unchanged, when `key` is already a member.
    @discardableResult
    public mutating func insertIfAbsent(key: String, value: JSONValue) -> Bool {
        if self.position(of: key) != nil { return false }
        self.appendAssumingAbsent(key: key, value: value)
        return true
    }

    /// Appends a member whose key the caller has just checked is absent (the parser's path, which reports
    /// duplicates itself).
    mutating func appendAssumingAbsent(key: String, value: JSONValue) {
        self.members.append(Member(key: key, value: value))
        if self.index != nil {
            self.index![key] = self.members.count - 1
        } else if self.members.count > JSONObject.indexThreshold {
            self.rebuildIndex()
        }
    }

    /// Whether the object has a member with this key.
    ///
    /// - Parameter key: The key to look for.
    /// - Returns: `true` when `key` is a member.
    public func contains(key: String) -> Bool {
        self.position(of: key) != nil
    }

    private func position(of key: String) -> Int? {
        if let index = self.index { return index[key] }
        return self.members.firstIndex { $0.key == key }
    }

    private mutating func rebuildIndex() {
        guard self.members.count > JSONObject.indexThreshold else {
            self.index = nil
            return
        }
        var index = [String: Int](minimumCapacity: self.members.count)
        for (position, member) in self.members.enumerated() {
            index[member.key] = position
        }
        self.index = index
    }

    /// Whether two objects have the same members in the same order.
    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        lhs.members == rhs.members
    }

    /// Hashes the members in order.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.members)
    }
}

extension JSONObject: ExpressibleByDictionaryLiteral {
    /// Creates an object from a dictionary literal, keeping the literal's order.
    ///
    /// - Parameter elements: The members. A key must not appear twice (a programmer error that traps).
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.init(uniqueKeysWithValues: elements)
    }
}
