// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// A streaming JSON writer (compact or pretty) that places commas itself and only ever emits valid RFC 8259 text.

/// Writes JSON into a growing byte buffer, one token at a time.
///
/// The writer tracks the open arrays and objects, so callers never write separators: it puts the commas, colons
/// and (when pretty) the newlines and two-space indentation in place. Everything it writes is valid JSON and valid
/// UTF-8:
/// - strings escape `"`, `\` and the control characters U+0000 to U+001F (`\n`, `\r`, `\t`, `\b`, `\f` in short
///   form, the rest as `\u001f`); all other characters, including non-ASCII ones, are written as they are;
/// - doubles are written as the shortest text that reads back as the same `Double`, and integral doubles keep a
///   fractional part (`1.0`), so a reader sees a floating-point number; NaN and infinities, which JSON cannot
///   represent, become `null` (see ``writeDouble(_:)``).
///
/// ```swift
/// var writer = JSONWriter()
/// writer.beginObject()
/// writer.key("origin")
/// writer.writeString("EWR")
/// writer.key("temp")
/// writer.writeDouble(39.02)
/// writer.endObject()
/// // writer.string == #"{"origin":"EWR","temp":39.02}"#
/// ```
///
/// The writer does not check object keys for duplicates; callers that take keys from outside must.
///
/// Calling the methods out of order (a value in an object without a ``key(_:)``, a key in an array, an
/// ``endArray()`` that closes an object, or a second top-level value) is a programmer error and traps.
public struct JSONWriter: Sendable {
    /// One open array or object.
    private struct Container: Sendable {
        var isObject: Bool
        /// How many elements or members have been started.
        var count: Int
    }

    /// The JSON written so far, as UTF-8 bytes.
    public private(set) var bytes: [UInt8]

    private let pretty: Bool
    private var containers: [Container] = []
    /// Whether the innermost object has a key waiting for its value.
    private var awaitingValue = false
    /// Whether a whole top-level value has been written.
    public private(set) var isComplete = false

    /// Creates a writer with an empty buffer.
    ///
    /// - Parameters:
    ///   - pretty: `true` for one element or member per line with two-space indentation and `": "` after keys;
    ///     `false` (the default) for compact output without any whitespace.
    ///   - reservingCapacity: Bytes to reserve up front.
    public init(pretty: Bool = false, reservingCapacity: Int = 0) {
        self.pretty = pretty
        self.bytes = []
        self.bytes.reserveCapacity(reservingCapacity)
    }

    /// The JSON written so far, as a string.
    public var string: String {
        String(decoding: self.bytes, as: UTF8.self)
    }

    /// Empties the buffer (keeping its capacity) so the writer can write another document.
    public mutating func reset() {
        self.bytes.removeAll(keepingCapacity: true)
        self.containers.removeAll(keepingCapacity: true)
        self.awaitingValue = false
        self.isComplete = false
    }

    // MARK: - Scalars

    /// Writes `null`.
    public mutating func writeNull() {
        self.beginValue()
        self.appendASCII("null")
        self.endValue()
    }

    /// Writes `true` or `false`.
    ///
    /// - Parameter value: The Boolean.
    public mutating func writeBool(_ value: Bool) {
        self.beginValue()
        self.appendASCII(value ? "true" : "false")
        self.endValue()
    }

    /// Writes an integer in decimal.
    ///
    /// - Parameter value: The integer.
    public mutating func writeInt64(_ value: Int64) {
        self.beginValue()
        self.appendASCII(String(value))
        self.endValue()
    }

    /// Writes a double as the shortest text that reads back as the same value, or `null` when it is not finite.
    ///
    /// JSON has no NaN or infinity. Writing `null` keeps the output valid; a caller that must tell them apart from
    /// a real null checks `value.isFinite` first and chooses its own encoding. Integral values keep a fractional
    /// part (`1.0`, `-0.0`) and large or tiny ones use an exponent (`1e+300`, `5e-324`).
    ///
    /// - Parameter value: The double.
    public mutating func writeDouble(_ value: Double) {
        self.beginValue()
        if let number = JSONNumber(value) {
            self.appendASCII(number.text)
        } else {
            self.appendASCII("null")
        }
        self.endValue()
    }

    /// Writes a number's literal text unchanged.
    ///
    /// - Parameter number: The number.
    public mutating func writeNumber(_ number: JSONNumber) {
        self.beginValue()
        self.appendASCII(number.text)
        self.endValue()
    }

    /// Writes a string, escaping what JSON requires.
    ///
    /// - Parameter value: The string.
    public mutating func writeString(_ value: String) {
        self.beginValue()
        self.appendQuoted(value)
        self.endValue()
    }

    /// Writes a whole value tree.
    ///
    /// This recurses once per level of nesting in `value`; values from ``JSONParser`` are bounded by its
    /// `maxDepth`.
    ///
    /// - Parameter value: The value.
    public mutating func writeValue(_ value: JSONValue) {
        switch value {
        case .null:
            self.writeNull()
        case .bool(let bool):
            self.writeBool(bool)
        case .number(let number):
            self.writeNumber(number)
        case .string(let string):
            self.writeString(string)
        case .array(let elements):
            self.beginArray()
            for element in elements {
                self.writeValue(element)
            }
            self.endArray()
        case .object(let object):
            self.beginObject()
            for member in object.members {
                self.key(member.key)
                self.writeValue(member.value)
            }
            self.endObject()
        }
    }

    // MARK: - Containers

    /// Opens an object; follow with ``key(_:)`` and a value for each member, then ``endObject()``.
    public mutating func beginObject() {
        self.beginValue()
        self.bytes.append(UInt8(ascii: "{"))
        self.containers.append(Container(isObject: true, count: 0))
    }

    /// Writes the key of the next object member.
    ///
    /// - Parameter name: The key; escaped like a string value.
    public mutating func key(_ name: String) {
        precondition(
            self.containers.last?.isObject == true && !self.awaitingValue,
            "JSONWriter.key(_:) must be called inside an object, before each member's value")
        self.startItem()
        self.appendQuoted(name)
        self.bytes.append(UInt8(ascii: ":"))
        if self.pretty {
            self.bytes.append(UInt8(ascii: " "))
        }
        self.awaitingValue = true
    }

    /// Closes the innermost object.
    public mutating func endObject() {
        precondition(
            self.containers.last?.isObject == true && !self.awaitingValue,
            "JSONWriter.endObject() must close an object whose last key has a value")
        self.endContainer(closing: UInt8(ascii: "}"))
    }

    /// Opens an array; follow with its elements, then ``endArray()``.
    public mutating func beginArray() {
        self.beginValue()
        self.bytes.append(UInt8(ascii: "["))
        self.containers.append(Container(isObject: false, count: 0))
    }

    /// Closes the innermost array.
    public mutating func endArray() {
        precondition(self.containers.last?.isObject == false, "JSONWriter.endArray() must close an array")
        self.endContainer(closing: UInt8(ascii: "]"))
    }

    /// Serializes a value tree in one call.
    ///
    /// - Parameters:
    ///   - value: The value.
    ///   - pretty: Whether to indent (see ``init(pretty:reservingCapacity:)``).
    /// - Returns: The JSON text.
    public static func serialize(_ value: JSONValue, pretty: Bool = false) -> String {
        var writer = JSONWriter(pretty: pretty)
        writer.writeValue(value)
        return writer.string
    }

    // MARK: - Layout

    /// Writes what must precede a value: a comma and newline in an array, nothing after an object key.
    private mutating func beginValue() {
        guard let container = self.containers.last else {
            precondition(!self.isComplete, "JSONWriter already holds a complete value; call reset() first")
            return
        }
        if container.isObject {
            precondition(self.awaitingValue, "JSONWriter: call key(_:) before each value in an object")
            self.awaitingValue = false
        } else {
            self.startItem()
        }
    }

    /// Marks the document complete when a top-level scalar or container has just ended.
    private mutating func endValue() {
        if self.containers.isEmpty {
            self.isComplete = true
        }
    }

    /// Writes the separator before an array element or object member and counts it.
    private mutating func startItem() {
        let last = self.containers.count - 1
        if self.containers[last].count > 0 {
            self.bytes.append(UInt8(ascii: ","))
        }
        self.containers[last].count += 1
        if self.pretty {
            self.newline(indent: self.containers.count)
        }
    }

    private mutating func endContainer(closing: UInt8) {
        let container = self.containers.removeLast()
        if self.pretty && container.count > 0 {
            self.newline(indent: self.containers.count)
        }
        self.bytes.append(closing)
        self.endValue()
    }

    private mutating func newline(indent level: Int) {
        self.bytes.append(UInt8(ascii: "\n"))
        for _ in 0..<(level * 2) {
            self.bytes.append(UInt8(ascii: " "))
        }
    }

    // MARK: - Bytes

    private mutating func appendASCII(_ text: String) {
        self.bytes.append(contentsOf: text.utf8)
    }

    private mutating func appendQuoted(_ string: String) {
        self.bytes.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""):
                self.bytes.append(UInt8(ascii: "\\"))
                self.bytes.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"):
                self.bytes.append(UInt8(ascii: "\\"))
                self.bytes.append(UInt8(ascii: "\\"))
            case 0x0A:
                self.appendShortEscape(UInt8(ascii: "n"))
            case 0x0D:
                self.appendShortEscape(UInt8(ascii: "r"))
            case 0x09:
                self.appendShortEscape(UInt8(ascii: "t"))
            case 0x08:
                self.appendShortEscape(UInt8(ascii: "b"))
            case 0x0C:
                self.appendShortEscape(UInt8(ascii: "f"))
            case 0x00..<0x20:
                // The remaining control characters as \u00XX, lower-case hex.
                self.bytes.append(contentsOf: "\\u00".utf8)
                self.bytes.append(UInt8(ascii: "0") + (byte >> 4))
                let low = byte & 0x0F
                self.bytes.append(low < 10 ? UInt8(ascii: "0") + low : UInt8(ascii: "a") + low - 10)
            default:
                self.bytes.append(byte)
            }
        }
        self.bytes.append(UInt8(ascii: "\""))
    }

    private mutating func appendShortEscape(_ letter: UInt8) {
        self.bytes.append(UInt8(ascii: "\\"))
        self.bytes.append(letter)
    }
}
