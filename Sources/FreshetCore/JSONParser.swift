// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// A strict RFC 8259 JSON parser over bytes that reports the line and column of the first problem.

// MARK: - JSONError

/// Why a JSON document was rejected, and where.
///
/// The position is that of the offending byte: `line` counts `\n` line feeds seen outside strings (JSON strings
/// cannot contain raw line feeds), and `column` is the 1-based *byte* offset within that line, so a multi-byte
/// UTF-8 character before the problem counts as several columns. At the end of the input the position is one past
/// the last byte, except for an unterminated string, which is reported at its opening quote.
public struct JSONError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The 1-based line of the offending byte.
    public var line: Int
    /// The 1-based byte column of the offending byte within its line.
    public var column: Int
    /// What is wrong, for example `expected ',' or '}' after object member`.
    public var message: String

    /// Creates an error.
    ///
    /// - Parameters:
    ///   - line: The 1-based line.
    ///   - column: The 1-based byte column.
    ///   - message: What is wrong.
    public init(line: Int, column: Int, message: String) {
        self.line = line
        self.column = column
        self.message = message
    }

    /// The position and message, as in `line 3, column 17: expected ',' or '}' after object member`.
    public var description: String {
        "line \(self.line), column \(self.column): \(self.message)"
    }
}

// MARK: - JSONParser

/// A strict RFC 8259 JSON parser.
///
/// It accepts exactly one JSON value with optional whitespace (space, tab, `\r`, `\n`) around it, and rejects
/// everything the RFC does not allow: trailing commas, comments, `NaN`/`Infinity`, leading zeros (`01`), a `+`
/// sign, unescaped control characters (U+0000 to U+001F) in strings, invalid UTF-8 (overlong forms, encoded
/// surrogates, code points past U+10FFFF, truncated sequences), unknown escapes, and `\u` escapes that encode a
/// lone surrogate. A high surrogate escape followed by a low one (`\uD83D\uDE00`) is decoded as one scalar.
/// A byte-order mark is not whitespace and is rejected. Duplicate object keys are an error.
///
/// Safety against hostile input: the parser never traps, never reads out of bounds, and recurses at most
/// `maxDepth` levels (arrays and objects count one level each; scalars none). Work is linear in the input size:
/// objects with many members use a hash index to detect duplicates.
///
/// Numbers are kept as text (``JSONNumber``); the parser does not convert them, so a 400-digit literal costs
/// only its text until someone asks for its ``JSONNumber/doubleValue``.
public enum JSONParser {
    /// The default nesting limit: deep enough for any configuration or feature document, shallow enough that a
    /// hostile `[[[[…` cannot exhaust the stack.
    public static let defaultMaxDepth = 64

    /// The largest `maxDepth` honoured; larger requests are clamped to it so recursion stays well within a
    /// thread's stack.
    public static let maxDepthLimit = 512

    /// Parses one JSON document from raw bytes.
    ///
    /// - Parameters:
    ///   - bytes: The document, UTF-8 encoded. Only read during the call.
    ///   - maxDepth: The deepest nesting of arrays and objects allowed; `0` allows only scalars. Clamped to
    ///     `0...maxDepthLimit` (see ``maxDepthLimit``).
    /// - Returns: The value.
    /// - Throws: ``JSONError`` with the position of the first problem.
    public static func parse(
        _ bytes: UnsafeRawBufferPointer,
        maxDepth: Int = JSONParser.defaultMaxDepth
    ) throws(JSONError) -> JSONValue {
        var parser = Parser(bytes: bytes, maxDepth: min(max(maxDepth, 0), JSONParser.maxDepthLimit))
        return try parser.parseDocument()
    }

    /// Parses one JSON document from a collection of bytes, such as `[UInt8]`, `ArraySlice<UInt8>` or
    /// `String.UTF8View`.
    ///
    /// Contiguous collections are parsed in place; others are copied into an array first.
    ///
    /// - Parameters:
    ///   - bytes: The document, UTF-8 encoded.
    ///   - maxDepth: The deepest nesting of arrays and objects allowed; as for raw bytes.
    /// - Returns: The value.
    /// - Throws: ``JSONError`` with the position of the first problem.
    public static func parse(
        _ bytes: some Collection<UInt8>,
        maxDepth: Int = JSONParser.defaultMaxDepth
    ) throws(JSONError) -> JSONValue {
        let contiguous = bytes.withContiguousStorageIfAvailable { buffer in
            Result { () throws(JSONError) -> JSONValue in
                try JSONParser.parse(UnsafeRawBufferPointer(buffer), maxDepth: maxDepth)
            }
        }
        if let contiguous {
            return try contiguous.get()
        }
        let copy = Array(bytes)
        let result = copy.withUnsafeBytes { buffer in
            Result { () throws(JSONError) -> JSONValue in
                try JSONParser.parse(buffer, maxDepth: maxDepth)
            }
        }
        return try result.get()
    }

    /// Parses one JSON document from a string.
    ///
    /// - Parameters:
    ///   - text: The document.
    ///   - maxDepth: The deepest nesting of arrays and objects allowed; as for raw bytes.
    /// - Returns: The value.
    /// - Throws: ``JSONError`` with the position of the first problem (columns count UTF-8 bytes).
    public static func parse(
        _ text: String,
        maxDepth: Int = JSONParser.defaultMaxDepth
    ) throws(JSONError) -> JSONValue {
        var text = text
        let result = text.withUTF8 { buffer in
            Result { () throws(JSONError) -> JSONValue in
                try JSONParser.parse(UnsafeRawBufferPointer(buffer), maxDepth: maxDepth)
            }
        }
        return try result.get()
    }
}

// MARK: - Parser state

extension JSONParser {
    /// The cursor over one document. It lives only for one `parse` call and never lets `bytes` escape.
    fileprivate struct Parser {
        let bytes: UnsafeRawBufferPointer
        let maxDepth: Int
        /// The offset of the next unread byte.
        var index = 0
        /// The 1-based line of `index`.
        var line = 1
        /// The offset of the first byte of the current line.
        var lineStart = 0
        /// Reused buffer for strings that contain escapes.
        var scratch: [UInt8] = []

        init(bytes: UnsafeRawBufferPointer, maxDepth: Int) {
            self.bytes = bytes
            self.maxDepth = maxDepth
        }

        var isAtEnd: Bool { self.index >= self.bytes.count }

        /// The byte at `offset`, or `nil` past the end.
        func byte(at offset: Int) -> UInt8? {
            offset < self.bytes.count ? self.bytes[offset] : nil
        }

        func error(_ message: String, at offset: Int) -> JSONError {
            JSONError(line: self.line, column: offset - self.lineStart + 1, message: message)
        }

        /// A readable name for the byte at `offset`: `'x'`, `byte 0xFF` or `end of input`.
        func describeByte(at offset: Int) -> String {
            guard let byte = self.byte(at: offset) else { return "end of input" }
            return TextScanning.describe(byte: byte)
        }

        mutating func skipWhitespace() {
            while self.index < self.bytes.count {
                switch self.bytes[self.index] {
                case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"):
                    self.index += 1
                case UInt8(ascii: "\n"):
                    self.index += 1
                    self.line += 1
                    self.lineStart = self.index
                default:
                    return
                }
            }
        }

        // MARK: Values

        mutating func parseDocument() throws(JSONError) -> JSONValue {
            self.skipWhitespace()
            let value = try self.parseValue(depth: 0)
            self.skipWhitespace()
            if !self.isAtEnd {
                throw self.error("unexpected \(self.describeByte(at: self.index)) after the JSON value", at: self.index)
            }
            return value
        }

        /// Parses the value at `index` (whitespace already skipped). `depth` is the number of enclosing containers.
        mutating func parseValue(depth: Int) throws(JSONError) -> JSONValue {
            guard let byte = self.byte(at: self.index) else {
                throw self.error("expected a value, found end of input", at: self.index)
            }
            switch byte {
            case UInt8(ascii: "{"):
                return .object(try self.parseObject(depth: depth + 1))
            case UInt8(ascii: "["):
                return .array(try self.parseArray(depth: depth + 1))
            case UInt8(ascii: "\""):
                return .string(try self.parseString())
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                return .number(try self.parseNumber())
            case UInt8(ascii: "t"):
                try self.parseLiteral("true")
                return .bool(true)
            case UInt8(ascii: "f"):
                try self.parseLiteral("false")
                return .bool(false)
            case UInt8(ascii: "n"):
                try self.parseLiteral("null")
                return .null
            default:
                throw self.error("expected a value, found \(TextScanning.describe(byte: byte))", at: self.index)
            }
        }

        mutating func parseLiteral(_ literal: StaticString) throws(JSONError) {
            let start = self.index
            let count = literal.utf8CodeUnitCount
            let matches = literal.withUTF8Buffer { expected in
                guard self.bytes.count - start >= count else { return false }
                for offset in 0..<count where self.bytes[start + offset] != expected[offset] {
                    return false
                }
                return true
            }
            guard matches else {
                throw self.error("invalid literal, expected '\(literal)'", at: start)
            }
            self.index += count
        }

        mutating func enterContainer(depth: Int) throws(JSONError) {
            if depth > self.maxDepth {
                throw self.error("nesting is deeper than the limit of \(self.maxDepth)", at: self.index)
            }
        }

        mutating func parseArray(depth: Int) throws(JSONError) -> [JSONValue] {
            try self.enterContainer(depth: depth)
            self.index += 1  // '['
            self.skipWhitespace()
            var elements: [JSONValue] = []
            if self.byte(at: self.index) == UInt8(ascii: "]") {
                self.index += 1
                return elements
            }
            while true {
                elements.append(try self.parseValue(depth: depth))
                self.skipWhitespace()
                switch self.byte(at: self.index) {
                case UInt8(ascii: ","):
                    self.index += 1
                    self.skipWhitespace()
                    if self.byte(at: self.index) == UInt8(ascii: "]") {
                        throw self.error("trailing comma before ']'", at: self.index)
                    }
                case UInt8(ascii: "]"):
                    self.index += 1
                    return elements
                default:
                    throw self.error("expected ',' or ']' after array element", at: self.index)
                }
            }
        }

        mutating func parseObject(depth: Int) throws(JSONError) -> JSONObject {
            try self.enterContainer(depth: depth)
            self.index += 1  // '{'
            self.skipWhitespace()
            var object = JSONObject()
            if self.byte(at: self.index) == UInt8(ascii: "}") {
                self.index += 1
                return object
            }
            while true {
                guard self.byte(at: self.index) == UInt8(ascii: "\"") else {
                    throw self.error(
                        "expected a string key, found \(self.describeByte(at: self.index))", at: self.index)
                }
                let keyStart = self.index
                let key = try self.parseString()
                if object.contains(key: key) {
                    throw self.error("duplicate key \(TextScanning.quoted(key))", at: keyStart)
                }
                self.skipWhitespace()
                guard self.byte(at: self.index) == UInt8(ascii: ":") else {
                    throw self.error("expected ':' after object key", at: self.index)
                }
                self.index += 1
                self.skipWhitespace()
                let value = try self.parseValue(depth: depth)
                object.appendAssumingAbsent(key: key, value: value)
                self.skipWhitespace()
                switch self.byte(at: self.index) {
                case UInt8(ascii: ","):
                    self.index += 1
                    self.skipWhitespace()
                    if self.byte(at: self.index) == UInt8(ascii: "}") {
                        throw self.error("trailing comma before '}'", at: self.index)
                    }
                case UInt8(ascii: "}"):
                    self.index += 1
                    return object
                default:
                    throw self.error("expected ',' or '}' after object member", at: self.index)
                }
            }
        }

        // MARK: Numbers

        /// Parses `-? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?` and keeps the text.
        mutating func parseNumber() throws(JSONError) -> JSONNumber {
            let start = self.index
            if self.bytes[self.index] == UInt8(ascii: "-") {
                self.index += 1
            }
            guard let first = self.byte(at: self.index), TextScanning.isDigit(first) else {
                throw self.error(
                    "expected a digit after '-', found \(self.describeByte(at: self.index))", at: self.index)
            }
            if first == UInt8(ascii: "0") {
                self.index += 1
                if let next = self.byte(at: self.index), TextScanning.isDigit(next) {
                    throw self.error("leading zeros are not allowed in numbers", at: start)
                }
            } else {
                self.skipDigits()
            }
            if self.byte(at: self.index) == UInt8(ascii: ".") {
                self.index += 1
                guard let next = self.byte(at: self.index), TextScanning.isDigit(next) else {
                    throw self.error(
                        "expected a digit after the decimal point, found \(self.describeByte(at: self.index))",
                        at: self.index)
                }
                self.skipDigits()
            }
            if let marker = self.byte(at: self.index), marker == UInt8(ascii: "e") || marker == UInt8(ascii: "E") {
                self.index += 1
                if let sign = self.byte(at: self.index), sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
                    self.index += 1
                }
                guard let next = self.byte(at: self.index), TextScanning.isDigit(next) else {
                    throw self.error(
                        "expected a digit in the exponent, found \(self.describeByte(at: self.index))", at: self.index)
                }
                self.skipDigits()
            }
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: self.bytes[start..<self.index]), as: UTF8.self)
            return JSONNumber(uncheckedText: text)
        }

        mutating func skipDigits() {
            while let byte = self.byte(at: self.index), TextScanning.isDigit(byte) {
                self.index += 1
            }
        }

        // MARK: Strings

        /// Parses the string whose opening quote is at `index`, leaving `index` after the closing quote.
        mutating func parseString() throws(JSONError) -> String {
            let opening = self.index
            self.index += 1
            let start = self.index
            // Fast path: no escapes, so the string is a validated slice of the input.
            while let byte = self.byte(at: self.index) {
                if byte == UInt8(ascii: "\"") {
                    let slice = UnsafeRawBufferPointer(rebasing: self.bytes[start..<self.index])
                    self.index += 1
                    return String(decoding: slice, as: UTF8.self)
                } else if byte == UInt8(ascii: "\\") {
                    self.scratch.removeAll(keepingCapacity: true)
                    self.scratch.append(contentsOf: self.bytes[start..<self.index])
                    return try self.parseEscapedString(opening: opening)
                } else {
                    try self.skipStringByte(byte)
                }
            }
            throw self.error("unterminated string", at: opening)
        }

        /// Slow path: the rest of a string that contains escapes, decoded into `scratch`.
        mutating func parseEscapedString(opening: Int) throws(JSONError) -> String {
            while let byte = self.byte(at: self.index) {
                switch byte {
                case UInt8(ascii: "\""):
                    self.index += 1
                    return String(decoding: self.scratch, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    try self.parseEscape(opening: opening)
                default:
                    let start = self.index
                    try self.skipStringByte(byte)
                    self.scratch.append(contentsOf: self.bytes[start..<self.index])
                }
            }
            throw self.error("unterminated string", at: opening)
        }

        /// Moves past one unescaped character (1 to 4 bytes) of a string, checking that it is allowed.
        mutating func skipStringByte(_ byte: UInt8) throws(JSONError) {
            if byte < 0x20 {
                let found = TextScanning.describe(byte: byte)
                throw self.error("control character \(found) must be escaped in a string", at: self.index)
            }
            if byte < 0x80 {
                self.index += 1
                return
            }
            switch UTF8Validation.checkSequence(in: self.bytes, at: self.index) {
            case .valid(let length):
                self.index += length
            case .invalid(let offset):
                throw self.error("invalid UTF-8 (\(TextScanning.describe(byte: self.bytes[offset])))", at: offset)
            case .truncated:
                throw self.error("invalid UTF-8 (truncated sequence at end of input)", at: self.bytes.count)
            }
        }

        /// Decodes the escape at `index` (a backslash) into `scratch`.
        mutating func parseEscape(opening: Int) throws(JSONError) {
            let backslash = self.index
            guard let kind = self.byte(at: backslash + 1) else {
                throw self.error("unterminated string", at: opening)
            }
            let simple: UInt8?
            switch kind {
            case UInt8(ascii: "\""): simple = UInt8(ascii: "\"")
            case UInt8(ascii: "\\"): simple = UInt8(ascii: "\\")
            case UInt8(ascii: "/"): simple = UInt8(ascii: "/")
            case UInt8(ascii: "b"): simple = 0x08
            case UInt8(ascii: "f"): simple = 0x0C
            case UInt8(ascii: "n"): simple = 0x0A
            case UInt8(ascii: "r"): simple = 0x0D
            case UInt8(ascii: "t"): simple = 0x09
            case UInt8(ascii: "u"): simple = nil
            default:
                let isPrintable = kind >= 0x21 && kind <= 0x7E
                let shown = isPrintable ? "'\\\(Character(Unicode.Scalar(kind)))'" : TextScanning.describe(byte: kind)
                throw self.error("invalid escape \(shown)", at: backslash)
            }
            if let simple {
                self.scratch.append(simple)
                self.index += 2
                return
            }
            let unit = try self.hexQuad(at: backslash)
            self.index += 6
            let scalarValue: UInt32
            switch unit {
            case 0xD800...0xDBFF:
                // A high surrogate must be followed at once by an escaped low surrogate.
                guard self.byte(at: self.index) == UInt8(ascii: "\\"),
                    self.byte(at: self.index + 1) == UInt8(ascii: "u"),
                    let low = try? self.hexQuad(at: self.index), (0xDC00...0xDFFF).contains(low)
                else {
                    throw self.error("unpaired high surrogate \(escapeText(unit))", at: backslash)
                }
                self.index += 6
                scalarValue = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
            case 0xDC00...0xDFFF:
                throw self.error("unpaired low surrogate \(escapeText(unit))", at: backslash)
            default:
                scalarValue = UInt32(unit)
            }
            // Surrogates are excluded above, so this always succeeds.
            guard let scalar = Unicode.Scalar(scalarValue) else {
                throw self.error("invalid code point in escape", at: backslash)
            }
            self.scratch.append(contentsOf: scalar.utf8)
        }

        /// The four hex digits after the `\u` at `backslash`.
        func hexQuad(at backslash: Int) throws(JSONError) -> UInt16 {
            var value: UInt16 = 0
            for offset in 2..<6 {
                guard let byte = self.byte(at: backslash + offset), let digit = TextScanning.hexDigitValue(byte) else {
                    throw self.error("expected 4 hex digits after '\\u'", at: backslash)
                }
                value = value << 4 | UInt16(digit)
            }
            return value
        }
    }
}

// MARK: - UTF-8 validation

/// Strict UTF-8 checking (RFC 3629, Unicode Table 3-7), shared by the module's parsers so they can point at the
/// exact offending byte, which `String(validating:)` does not do.
enum UTF8Validation {
    /// The outcome of checking one sequence.
    enum SequenceCheck {
        /// A well-formed sequence of this many bytes.
        case valid(length: Int)
        /// The byte at this offset cannot start or continue the sequence.
        case invalid(offset: Int)
        /// The input ends in the middle of an otherwise valid sequence.
        case truncated
    }

    /// Checks the sequence that starts at `start`, which must be inside `bytes`.
    static func checkSequence(in bytes: UnsafeRawBufferPointer, at start: Int) -> SequenceCheck {
        let lead = bytes[start]
        if lead < 0x80 { return .valid(length: 1) }
        // The allowed range of the second byte depends on the lead byte (this rules out overlong forms, UTF-16
        // surrogates and code points above U+10FFFF); later continuation bytes are always 0x80...0xBF.
        let length: Int
        let secondRange: ClosedRange<UInt8>
        switch lead {
        case 0xC2...0xDF: (length, secondRange) = (2, 0x80...0xBF)
        case 0xE0: (length, secondRange) = (3, 0xA0...0xBF)
        case 0xE1...0xEC, 0xEE...0xEF: (length, secondRange) = (3, 0x80...0xBF)
        case 0xED: (length, secondRange) = (3, 0x80...0x9F)
        case 0xF0: (length, secondRange) = (4, 0x90...0xBF)
        case 0xF1...0xF3: (length, secondRange) = (4, 0x80...0xBF)
        case 0xF4: (length, secondRange) = (4, 0x80...0x8F)
        default: return .invalid(offset: start)
        }
        for offset in 1..<length {
            let position = start + offset
            guard position < bytes.count else { return .truncated }
            let allowed = offset == 1 ? secondRange : 0x80...0xBF
            if !allowed.contains(bytes[position]) { return .invalid(offset: position) }
        }
        return .valid(length: length)
    }
}

// MARK: - Scanning helpers

/// Byte tests and error-message text shared by the module's parsers (JSON, CSV, RFC 3339, durations).
enum TextScanning {
    /// Whether `byte` is an ASCII digit.
    @inline(__always)
    static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    /// The value of an ASCII hex digit, or `nil`.
    static func hexDigitValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// A byte as it should appear in an error message: `'x'` for printable ASCII, `byte 0x0A` otherwise.
    static func describe(byte: UInt8) -> String {
        if byte >= 0x21 && byte <= 0x7E {
            return "'\(Character(Unicode.Scalar(byte)))'"
        }
        return "byte 0x\(self.hexByte(byte))"
    }

    /// Two upper-case hex digits.
    static func hexByte(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        return String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]], as: UTF8.self)
    }

    /// User text quoted for an error message, cut to `limit` characters so that hostile input cannot make messages
    /// (and logs) huge: `'abc'` or `'abcdef…'`.
    static func quoted(_ text: some StringProtocol, limit: Int = 64) -> String {
        if text.prefix(limit + 1).count <= limit {
            return "'\(text)'"
        }
        return "'\(text.prefix(limit))…'"
    }
}

/// A UTF-16 code unit as a JSON escape, `\uD83D`.
private func escapeText(_ unit: UInt16) -> String {
    "\\u" + TextScanning.hexByte(UInt8(unit >> 8)) + TextScanning.hexByte(UInt8(unit & 0xFF))
}
