// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Reading rows of one feature view from CSV and JSONL files, checked against the registry, with file:line errors.

/// One row read from a file: its entity key, one value per view feature (registry order), and its event time.
public struct ParsedRow: Hashable, Sendable {
    public var key: [JoinKeyValue]
    public var values: [FeatureValue]
    public var eventTime: Timestamp
    /// The 1-based line the row came from.
    public var line: Int
    /// The row is a delete (JSONL `"op": "delete"`): `values` is empty.
    public var isDelete: Bool

    public init(key: [JoinKeyValue], values: [FeatureValue], eventTime: Timestamp, line: Int, isDelete: Bool = false) {
        self.key = key
        self.values = values
        self.eventTime = eventTime
        self.line = line
        self.isDelete = isDelete
    }
}

/// Where a row's `event_time` comes from.
public enum EventTimeSource: Hashable, Sendable {
    /// A column (CSV) or the `event_time` member (JSONL), in ISO 8601.
    case column(String)
    /// One time for every row (entity tables such as planes have none of their own).
    case fixed(Timestamp)
}

/// A file that cannot be loaded; names the file, the line and the problem.
public struct RowFileError: Error, Hashable, Sendable, CustomStringConvertible {
    public var file: String
    /// The 1-based line, or 0 for a problem with the file as a whole.
    public var line: Int
    public var message: String

    public init(file: String, line: Int, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String {
        self.line > 0 ? "\(self.file):\(self.line): \(self.message)" : "\(self.file): \(self.message)"
    }
}

/// A source of rows read one at a time, so a load holds one row in memory, not the whole file.
public protocol RowSource {
    /// The file the rows come from, for messages.
    var file: String { get }
    /// The next row, or `nil` at the end.
    /// - Throws: ``RowFileError`` for a bad line; stop reading after one.
    mutating func next() throws(RowFileError) -> ParsedRow?
}

extension RowSource {
    /// Reads every remaining row (for tests and small files).
    public mutating func readAll() throws(RowFileError) -> [ParsedRow] {
        var rows: [ParsedRow] = []
        while let row = try self.next() { rows.append(row) }
        return rows
    }
}

/// Reads the rows of one view from a CSV file with a header row naming the entity's join keys and the view's
/// features (in any order).
///
/// Every join key and feature column must be present, and no other column (except the event-time column) may be.
/// Field syntax: see ``FeatureValue/init(csvField:type:)``.
public struct CSVRowReader: RowSource {
    public let file: String
    private var reader: CSVReader
    private let view: FeatureView
    private let entity: Entity
    private let eventTime: EventTimeSource
    private let fieldCount: Int
    private let keyColumns: [Int]
    private let featureColumns: [Int]
    private let eventTimeColumn: Int?

    /// Reads and checks the header.
    /// - Throws: ``RowFileError`` for an empty file, a bad header (duplicate, unknown or missing columns) or a
    ///   missing event-time column.
    public init(
        _ bytes: [UInt8], file: String, view: FeatureView, entity: Entity, eventTime: EventTimeSource
    )
        throws(RowFileError)
    {
        var reader = CSVReader(bytes)
        let first: CSVRecord?
        do {
            first = try reader.next()
        } catch {
            throw RowFileError(file: file, line: error.line, message: error.message)
        }
        guard let header = first else {
            throw RowFileError(file: file, line: 0, message: "the file is empty; expected a header row")
        }
        let names = header.fields.map(\.text)
        var columns: [String: Int] = [:]
        for (index, name) in names.enumerated() {
            if columns[name] != nil {
                throw RowFileError(
                    file: file, line: header.line, message: "column '\(name)' appears twice in the header")
            }
            columns[name] = index
        }
        var eventTimeColumn: Int?
        if case .column(let name) = eventTime {
            guard let index = columns[name] else {
                throw RowFileError(
                    file: file, line: header.line, message: "the event-time column '\(name)' is not in the header")
            }
            eventTimeColumn = index
        }
        let known = Set(entity.joinKeys.map(\.name) + view.features.map(\.name))
        for name in names where !known.contains(name) && columns[name] != eventTimeColumn {
            throw RowFileError(
                file: file, line: header.line,
                message: "column '\(name)' is not a join key or feature of view '\(view.name)'")
        }
        let missing = (entity.joinKeys.map(\.name) + view.features.map(\.name)).filter { columns[$0] == nil }
        if !missing.isEmpty {
            let list = missing.map { "'\($0)'" }.joined(separator: ", ")
            throw RowFileError(
                file: file, line: header.line,
                message: "the header lacks column\(missing.count > 1 ? "s" : "") \(list) of view '\(view.name)'")
        }
        self.file = file
        self.reader = reader
        self.view = view
        self.entity = entity
        self.eventTime = eventTime
        self.fieldCount = names.count
        self.keyColumns = entity.joinKeys.map { columns[$0.name]! }
        self.featureColumns = view.features.map { columns[$0.name]! }
        self.eventTimeColumn = eventTimeColumn
    }

    public mutating func next() throws(RowFileError) -> ParsedRow? {
        let next: CSVRecord?
        do {
            next = try self.reader.next()
        } catch {
            throw RowFileError(file: self.file, line: error.line, message: error.message)
        }
        guard let record = next else { return nil }
        let line = record.line
        guard record.fields.count == self.fieldCount else {
            throw RowFileError(
                file: self.file, line: line, message: "expected \(self.fieldCount) fields, found \(record.fields.count)"
            )
        }
        var key: [JoinKeyValue] = []
        for (joinKey, column) in zip(self.entity.joinKeys, self.keyColumns) {
            key.append(try RowFile.keyValue(record.fields[column], joinKey, file: self.file, line: line))
        }
        var values: [FeatureValue] = []
        values.reserveCapacity(self.view.features.count)
        for (feature, column) in zip(self.view.features, self.featureColumns) {
            do {
                values.append(try FeatureValue(csvField: record.fields[column], type: feature.type))
            } catch {
                throw RowFileError(file: self.file, line: line, message: "column '\(feature.name)': \(error.message)")
            }
        }
        let time: Timestamp
        switch self.eventTime {
        case .fixed(let fixed):
            time = fixed
        case .column(let name):
            time = try RowFile.timestamp(
                record.fields[self.eventTimeColumn!].text, column: name, file: self.file, line: line)
        }
        return ParsedRow(key: key, values: values, eventTime: time, line: line)
    }
}

/// Reads the rows of one view from JSON Lines, one update per line, in the format of `weather_updates.jsonl`:
/// `{"entity": {"origin": "EWR"}, "event_time": "2013-01-01T06:00:00Z", "features": {"temp": 39.02, …}}`.
///
/// Every feature of the view must be present in `features` (write `null` for a null value); unknown members are
/// refused. Blank lines are skipped. The event time is the `event_time` member, or the member named by
/// `.column(name)`; with `.fixed` time, such a member may be absent and is ignored.
public struct JSONLRowReader: RowSource {
    public let file: String
    private var lines: LineReader
    private let view: FeatureView
    private let entity: Entity
    private let eventTime: EventTimeSource

    public init(_ bytes: [UInt8], file: String, view: FeatureView, entity: Entity, eventTime: EventTimeSource) {
        self.file = file
        self.lines = LineReader(bytes)
        self.view = view
        self.entity = entity
        self.eventTime = eventTime
    }

    public mutating func next() throws(RowFileError) -> ParsedRow? {
        while let (line, text) = self.lines.next() {
            if LineReader.isBlank(text) { continue }
            let document: JSONValue
            do {
                document = try JSONParser.parse(text)
            } catch {
                throw RowFileError(file: self.file, line: line, message: "invalid JSON: \(error)")
            }
            return try RowFile.jsonRow(
                document, file: self.file, line: line, view: self.view, entity: self.entity,
                eventTime: self.eventTime)
        }
        return nil
    }
}

/// Reads rows for one view from CSV or JSONL.
public enum RowFile {
    /// Reads every row of a CSV file (see ``CSVRowReader``).
    public static func readCSV(
        _ bytes: [UInt8], file: String, view: FeatureView, entity: Entity, eventTime: EventTimeSource
    ) throws(RowFileError) -> [ParsedRow] {
        var reader = try CSVRowReader(bytes, file: file, view: view, entity: entity, eventTime: eventTime)
        return try reader.readAll()
    }

    /// Reads every row of a JSON Lines file (see ``JSONLRowReader``).
    public static func readJSONL(
        _ bytes: [UInt8], file: String, view: FeatureView, entity: Entity, eventTime: EventTimeSource
    ) throws(RowFileError) -> [ParsedRow] {
        var reader = JSONLRowReader(bytes, file: file, view: view, entity: entity, eventTime: eventTime)
        return try reader.readAll()
    }

    /// Converts one parsed JSONL document to a row (shared with the replication producer).
    public static func jsonRow(
        _ document: JSONValue, file: String, line: Int, view: FeatureView, entity: Entity, eventTime: EventTimeSource
    ) throws(RowFileError) -> ParsedRow {
        func fail(_ message: String) -> RowFileError { RowFileError(file: file, line: line, message: message) }
        guard let object = document.objectValue else {
            throw fail("expected a JSON object, found \(document.typeName)")
        }
        let timeMember: String
        if case .column(let name) = eventTime { timeMember = name } else { timeMember = "event_time" }
        for key in object.keys where !["entity", timeMember, "features", "op"].contains(key) {
            throw fail("unknown member '\(key)' (expected entity, \(timeMember), features, op)")
        }
        var isDelete = false
        if let op = object["op"] {
            switch op.stringValue {
            case "upsert": break
            case "delete": isDelete = true
            default: throw fail("op must be \"upsert\" or \"delete\", found \(op)")
            }
        }
        guard let entityObject = object["entity"]?.objectValue else { throw fail("missing object 'entity'") }
        var key: [JoinKeyValue] = []
        for joinKey in entity.joinKeys {
            guard let value = entityObject[joinKey.name] else { throw fail("entity lacks join key '\(joinKey.name)'") }
            switch (joinKey.type, value) {
            case (.string, .string(let text)) where !text.isEmpty && !text.utf8.contains(0):
                key.append(.string(text))
            case (.int64, .number(let number)) where number.int64Value != nil:
                key.append(.int64(number.int64Value!))
            default:
                throw fail(
                    "join key '\(joinKey.name)' must be a non-empty \(joinKey.type) without NUL bytes, found \(value)")
            }
        }
        for name in entityObject.keys where !entity.joinKeys.contains(where: { $0.name == name }) {
            throw fail("entity member '\(name)' is not a join key of entity '\(entity.name)'")
        }
        try Self.checkKeyLength(key, file: file, line: line)
        let time: Timestamp
        switch eventTime {
        case .fixed(let fixed):
            time = fixed
        case .column(let name):
            guard let text = object[name]?.stringValue else { throw fail("missing string '\(name)'") }
            time = try Self.timestamp(text, column: name, file: file, line: line)
        }
        if isDelete {
            if object["features"] != nil { throw fail("a delete has no 'features'") }
            return ParsedRow(key: key, values: [], eventTime: time, line: line, isDelete: true)
        }
        guard let features = object["features"]?.objectValue else { throw fail("missing object 'features'") }
        for name in features.keys where view.featureIndex(name) == nil {
            throw fail("feature '\(name)' is not a feature of view '\(view.name)'")
        }
        var values: [FeatureValue] = []
        values.reserveCapacity(view.features.count)
        for feature in view.features {
            guard let value = features[feature.name] else {
                throw fail("feature '\(feature.name)' is missing (write null for a null value)")
            }
            do {
                values.append(try FeatureValue(json: value, type: feature.type))
            } catch {
                throw fail("feature '\(feature.name)': \(error.message)")
            }
        }
        return ParsedRow(key: key, values: values, eventTime: time, line: line)
    }

    static func keyValue(
        _ field: CSVField, _ joinKey: Entity.JoinKey, file: String, line: Int
    ) throws(RowFileError) -> JoinKeyValue {
        guard !field.text.isEmpty else {
            throw RowFileError(file: file, line: line, message: "join key '\(joinKey.name)' is empty")
        }
        switch joinKey.type {
        case .string:
            if field.text.utf8.contains(0) {
                throw RowFileError(file: file, line: line, message: "join key '\(joinKey.name)' contains a NUL byte")
            }
            let value = JoinKeyValue.string(field.text)
            try Self.checkKeyLength([value], file: file, line: line)
            return value
        case .int64:
            guard let number = Int64(field.text) else {
                throw RowFileError(
                    file: file, line: line, message: "join key '\(joinKey.name)': '\(field.text)' is not an int64")
            }
            return .int64(number)
        }
    }

    private static func checkKeyLength(_ key: [JoinKeyValue], file: String, line: Int) throws(RowFileError) {
        let length = EntityKey.encode(key).count
        if length > EntityKey.maximumLength {
            throw RowFileError(
                file: file, line: line,
                message: "the entity key is \(length) bytes; the limit is \(EntityKey.maximumLength)")
        }
    }

    static func timestamp(
        _ text: String, column: String, file: String, line: Int
    ) throws(RowFileError) -> Timestamp {
        do {
            return try Timestamp(iso8601: text)
        } catch {
            throw RowFileError(file: file, line: line, message: "\(column): \(error)")
        }
    }
}
