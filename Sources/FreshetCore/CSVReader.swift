// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Streaming readers over in-memory bytes: an RFC 4180 CSV record reader and a line splitter for JSON Lines.

// MARK: - CSVField and CSVRecord

/// One CSV field: its text and whether it was quoted.
///
/// Keeping `wasQuoted` lets a caller tell an unquoted empty field (`a,,b`; null in Freshet's data) from a quoted
/// empty string (`a,"",b`).
public struct CSVField: Hashable, Sendable {
    /// The field's text, with the surrounding quotes removed and doubled quotes (`""`) turned into one.
    public var text: String
    /// Whether the field was enclosed in double quotes.
    public var wasQuoted: Bool

    /// Creates a field.
    ///
    /// - Parameters:
    ///   - text: The text.
    ///   - wasQuoted: Whether it was quoted.
    public init(text: String, wasQuoted: Bool = false) {
        self.text = text
        self.wasQuoted = wasQuoted
    }

    /// Whether the field is empty and unquoted, which Freshet's CSV data uses for a missing value.
    public var isEmptyUnquoted: Bool {
        self.text.isEmpty && !self.wasQuoted
    }
}

/// One CSV record (row).
public struct CSVRecord: Hashable, Sendable {
    /// The 1-based physical line on which the record starts. A quoted field with embedded line breaks makes a
    /// record span several lines, so the next record's `line` can be more than one higher.
    public var line: Int
    /// The fields, in order; at least one.
    public var fields: [CSVField]

    /// Creates a record.
    ///
    /// - Parameters:
    ///   - line: The 1-based line on which it starts.
    ///   - fields: The fields.
    public init(line: Int, fields: [CSVField]) {
        self.line = line
        self.fields = fields
    }
}

// MARK: - CSVError

/// Why CSV input was rejected, and on which physical line.
public struct CSVError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The 1-based physical line of the problem (for an unterminated quoted field, the line where it starts).
    public var line: Int
    /// What is wrong, naming the 1-based field number.
    public var message: String

    /// Creates an error.
    ///
    /// - Parameters:
    ///   - line: The 1-based line.
    ///   - message: What is wrong.
    public init(line: Int, message: String) {
        self.line = line
        self.message = message
    }

    /// The line and message, as in `line 12: unterminated quoted field (field 3)`.
    public var description: String {
        "line \(self.line): \(self.message)"
    }
}

// MARK: - CSVReader

/// Reads RFC 4180 CSV records one at a time from bytes in memory.
///
/// The grammar:
/// - Records end with `\n` or `\r\n`; the last record may lack a line ending. A carriage return just before a
///   line feed (or the end of input) belongs to the line ending; anywhere else in an unquoted field it is data.
/// - Fields are separated by `,`. A field is either unquoted (any bytes except `,`, `"` and line endings) or
///   enclosed in `"`, in which case it may contain commas, line breaks and doubled quotes (`""` for one `"`).
/// - A header row is not special: it is just the first record.
/// - A UTF-8 byte-order mark at the very start is skipped.
/// - A completely empty line is a record with one unquoted empty field; the reader does not skip it, so the
///   caller decides whether that is a blank line or a one-column null. Input that ends with a line ending does not
///   produce an extra empty record, but a blank line before the end does.
///
/// Errors (``CSVError``) are a quote at EOF that was never closed, a `"` inside an unquoted field, anything but a
/// separator or line ending after a closing quote, invalid UTF-8 (the message names the field and byte column),
/// and a record longer than `maxRecordBytes`. After an error the reader is finished: ``next()`` returns `nil`.
///
/// It never traps on any input, and its work and memory per record are bounded by `maxRecordBytes`.
///
/// ```swift
/// var reader = CSVReader(bytes)
/// while let record = try reader.next() {
///     let tailnum = record.fields[0].text
/// }
/// ```
public struct CSVReader: Sendable {
    /// The default limit on the size of one record: 1 MiB.
    public static let defaultMaxRecordBytes = 1 << 20

    private let bytes: [UInt8]
    private let maxRecordBytes: Int
    /// The offset of the next unread byte.
    private var index: Int
    /// The 1-based line of `index`.
    private var line = 1
    /// The offset of the first byte of the current line (for error columns).
    private var lineStart: Int
    private var isFinished = false
    private var scratch: [UInt8] = []

    /// Creates a reader over a copy-on-write array of bytes.
    ///
    /// - Parameters:
    ///   - bytes: The CSV data, UTF-8 encoded.
    ///   - maxRecordBytes: The largest record accepted, in bytes of input including quotes and separators;
    ///     longer records are an error. Defaults to ``defaultMaxRecordBytes``.
    public init(_ bytes: [UInt8], maxRecordBytes: Int = CSVReader.defaultMaxRecordBytes) {
        self.bytes = bytes
        self.maxRecordBytes = max(maxRecordBytes, 0)
        let hasBOM = bytes.count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF
        self.index = hasBOM ? 3 : 0
        self.lineStart = self.index
    }

    /// Creates a reader over the UTF-8 bytes of a string.
    ///
    /// - Parameters:
    ///   - text: The CSV data.
    ///   - maxRecordBytes: The largest record accepted; as for bytes.
    public init(_ text: String, maxRecordBytes: Int = CSVReader.defaultMaxRecordBytes) {
        self.init(Array(text.utf8), maxRecordBytes: maxRecordBytes)
    }

    /// Reads the next record.
    ///
    /// - Returns: The record, or `nil` at the end of the input (or after an error).
    /// - Throws: ``CSVError`` naming the physical line and field of the first problem.
    public mutating func next() throws(CSVError) -> CSVRecord? {
        guard !self.isFinished, self.index < self.bytes.count else {
            self.isFinished = true
            return nil
        }
        let bytes = self.bytes
        let result = bytes.withUnsafeBytes { buffer in
            Result { () throws(CSVError) -> CSVRecord in try self.readRecord(buffer) }
        }
        do {
            return try result.get()
        } catch {
            self.isFinished = true
            throw error
        }
    }

    // MARK: Parsing

    private func error(_ message: String, line: Int? = nil) -> CSVError {
        CSVError(line: line ?? self.line, message: message)
    }

    /// Reads the record at `index`, which is before the end of `buffer`.
    private mutating func readRecord(_ buffer: UnsafeRawBufferPointer) throws(CSVError) -> CSVRecord {
        let recordStart = self.index
        let recordLine = self.line
        var fields: [CSVField] = []
        while true {
            let fieldNumber = fields.count + 1
            let field: CSVField
            if self.index < buffer.count && buffer[self.index] == UInt8(ascii: "\"") {
                field = try self.readQuotedField(buffer, number: fieldNumber, recordStart: recordStart)
            } else {
                field = try self.readUnquotedField(buffer, number: fieldNumber, recordStart: recordStart)
            }
            fields.append(field)
            // `index` is now at a separator, a line ending, or the end of the input.
            guard self.index < buffer.count else { break }
            if buffer[self.index] == UInt8(ascii: ",") {
                self.index += 1
                try self.checkSize(recordStart: recordStart)
                continue
            }
            self.consumeLineEnding(buffer)
            break
        }
        return CSVRecord(line: recordLine, fields: fields)
    }

    /// Moves past the `\n`, `\r\n` or final `\r` at `index`.
    private mutating func consumeLineEnding(_ buffer: UnsafeRawBufferPointer) {
        if buffer[self.index] == UInt8(ascii: "\r") {
            self.index += 1
        }
        if self.index < buffer.count && buffer[self.index] == UInt8(ascii: "\n") {
            self.index += 1
        }
        self.line += 1
        self.lineStart = self.index
    }

    /// Whether `index` is at `\n`, `\r\n`, or a `\r` that ends the input.
    private func isAtLineEnding(_ buffer: UnsafeRawBufferPointer) -> Bool {
        let byte = buffer[self.index]
        if byte == UInt8(ascii: "\n") { return true }
        guard byte == UInt8(ascii: "\r") else { return false }
        return self.index + 1 == buffer.count || buffer[self.index + 1] == UInt8(ascii: "\n")
    }

    private mutating func readUnquotedField(
        _ buffer: UnsafeRawBufferPointer,
        number: Int,
        recordStart: Int
    ) throws(CSVError) -> CSVField {
        let start = self.index
        while self.index < buffer.count {
            let byte = buffer[self.index]
            if byte == UInt8(ascii: ",") || self.isAtLineEnding(buffer) {
                break
            }
            if byte == UInt8(ascii: "\"") {
                throw self.error("quote inside unquoted field \(number) at column \(self.column)")
            }
            try self.skipCharacter(buffer, field: number)
            try self.checkSize(recordStart: recordStart)
        }
        let slice = UnsafeRawBufferPointer(rebasing: buffer[start..<self.index])
        return CSVField(text: String(decoding: slice, as: UTF8.self), wasQuoted: false)
    }

    private mutating func readQuotedField(
        _ buffer: UnsafeRawBufferPointer,
        number: Int,
        recordStart: Int
    ) throws(CSVError) -> CSVField {
        let openingLine = self.line
        self.index += 1
        self.scratch.removeAll(keepingCapacity: true)
        while true {
            guard self.index < buffer.count else {
                throw self.error("unterminated quoted field (field \(number))", line: openingLine)
            }
            let byte = buffer[self.index]
            if byte == UInt8(ascii: "\"") {
                if self.index + 1 < buffer.count && buffer[self.index + 1] == UInt8(ascii: "\"") {
                    self.scratch.append(UInt8(ascii: "\""))
                    self.index += 2
                } else {
                    self.index += 1
                    break
                }
            } else {
                let start = self.index
                try self.skipCharacter(buffer, field: number)
                self.scratch.append(contentsOf: buffer[start..<self.index])
                if byte == UInt8(ascii: "\n") {
                    self.line += 1
                    self.lineStart = self.index
                }
            }
            try self.checkSize(recordStart: recordStart)
        }
        if self.index < buffer.count && buffer[self.index] != UInt8(ascii: ",") && !self.isAtLineEnding(buffer) {
            let found = TextScanning.describe(byte: buffer[self.index])
            throw self.error("unexpected \(found) after the closing quote of field \(number) at column \(self.column)")
        }
        return CSVField(text: String(decoding: self.scratch, as: UTF8.self), wasQuoted: true)
    }

    /// Moves past one character (1 to 4 bytes), checking that it is valid UTF-8.
    private mutating func skipCharacter(_ buffer: UnsafeRawBufferPointer, field: Int) throws(CSVError) {
        if buffer[self.index] < 0x80 {
            self.index += 1
            return
        }
        switch UTF8Validation.checkSequence(in: buffer, at: self.index) {
        case .valid(let length):
            self.index += length
        case .invalid(let offset):
            self.index = offset
            let found = TextScanning.describe(byte: buffer[offset])
            throw self.error("invalid UTF-8 in field \(field) at column \(self.column) (\(found))")
        case .truncated:
            throw self.error("invalid UTF-8 in field \(field) at column \(self.column) (truncated sequence at end)")
        }
    }

    private func checkSize(recordStart: Int) throws(CSVError) {
        if self.index - recordStart > self.maxRecordBytes {
            throw self.error("record is longer than the limit of \(self.maxRecordBytes) bytes")
        }
    }

    /// The 1-based byte column of `index`.
    private var column: Int {
        self.index - self.lineStart + 1
    }
}

// MARK: - LineReader

/// Splits bytes in memory into lines, for JSON Lines input.
///
/// Each element is a line's 1-based number and its bytes, without the `\n` and without a `\r` just before it.
/// Slices share the reader's storage, so iterating copies nothing. A final line without a line ending is
/// returned unless it is empty; empty lines in the middle are returned as empty slices for the caller to skip.
/// A UTF-8 byte-order mark at the very start is skipped. Line contents are not checked: a JSON parser validates
/// them.
///
/// ```swift
/// for (lineNumber, line) in LineReader(bytes) where !line.isEmpty {
///     let value = try JSONParser.parse(line)
/// }
/// ```
public struct LineReader: Sequence, IteratorProtocol, Sendable {
    /// A line: its 1-based number and its bytes without the line ending.
    public typealias Element = (lineNumber: Int, bytes: ArraySlice<UInt8>)

    /// Whether a line holds nothing but spaces and tabs (skipped in JSON-lines files).
    public static func isBlank(_ line: ArraySlice<UInt8>) -> Bool {
        line.allSatisfy { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
    }

    private let bytes: [UInt8]
    private var index: Int
    private var lineNumber = 0

    /// Creates a reader.
    ///
    /// - Parameter bytes: The input.
    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
        let hasBOM = bytes.count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF
        self.index = hasBOM ? 3 : 0
    }

    /// The next line.
    ///
    /// - Returns: The line, or `nil` at the end.
    public mutating func next() -> Element? {
        guard self.index < self.bytes.count else { return nil }
        let start = self.index
        let newline = self.bytes[start...].firstIndex(of: UInt8(ascii: "\n"))
        var end = newline ?? self.bytes.count
        self.index = newline.map { $0 + 1 } ?? self.bytes.count
        if end > start && self.bytes[end - 1] == UInt8(ascii: "\r") {
            end -= 1
        }
        self.lineNumber += 1
        return (lineNumber: self.lineNumber, bytes: self.bytes[start..<end])
    }
}
