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

    public init(key: [JoinKeyValue], values: [FeatureValue], eventTime: Timestamp, line: Int) {
        self.key = key
        self.values = values
        self.eventTime = eventTime
        self.line = line
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

/// Reads rows for one view from CSV or JSONL.
public enum RowFile {
    /// Reads a CSV file with a header row naming the entity's join keys and the view's features (in any order).
    ///
    /// Every join key and feature column must be present, and no other column (except the event-time column)
    /// may be. Field syntax: see ``FeatureValue/init(csvField:type:)``.
    /// - Throws: ``RowFileError`` for the first bad line (CSV syntax, field count, key, value or time).
    public static func readCSV(
        _ bytes: [UInt8], file: String, view: FeatureView, entity: Entity, eventTime: EventTimeSource
    ) throws(RowFileError) -> [ParsedRow] {
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
            throw RowFileError(
                file: file, line: header.line,
                message:
                    "the header lacks column\(missing.count > 1 ? "s" : "") \(missing.map { "'\($0)'" }.joined(separator: ", ")) of view '\(view.name)'"
            )
        }
        let keyColumns = entity.joinKeys.map { columns[$0.name]! }
        let featureColumns = view.features.map { columns[$0.name]! }

        var rows: [ParsedRow] = []
        while true {
            let record: CSVRecord
            do {
                guard let next = try reader.next() else { break }
                record = next
            } catch {
                throw RowFileError(file: file, line: error.line, message: error.message)
            }
            let line = record.line
            guard record.fields.count == names.count else {
                throw RowFileError(
                    file: file, line: line, message: "expected \(names.count) fields, found \(record.fields.count)")
            }
            var key: [JoinKeyValue] = []
            for (joinKey, column) in zip(entity.joinKeys, keyColumns) {
                key.append(try Self.keyValue(record.fields[column], joinKey, file: file, line: line))
            }
            var values: [FeatureValue] = []
            values.reserveCapacity(view.features.count)
            for (feature, column) in zip(view.features, featureColumns) {
                do {
                    values.append(try FeatureValue(csvField: record.fields[column], type: feature.type))
                } catch {
                    throw RowFileError(file: file, line: line, message: "column '\(feature.name)': \(error.message)")
                }
            }
            let time: Timestamp
            switch eventTime {
            case .fixed(let fixed):
                time = fixed
            case .column(let name):
                time = try Self.timestamp(record.fields[eventTimeColumn!].text, column: name, file: file, line: line)
            }
            rows.append(ParsedRow(key: key, values: values, eventTime: time, line: line))
        }
        return rows
    }

    /// Reads JSON Lines, one update per line, in the format of `weather_updates.jsonl`:
    /// `{"entity": {"origin": "EWR"}, "event_time": "2013-01-01T06:00:00Z", "features": {"temp": 39.02, …}}`.
    ///
    /// Every feature of the view must be present in `features` (write `null` for a null value); unknown members
    /// are refused. Blank lines are skipped. With `.fixed` event time, `event_time` may be absent and is ignored.
    /// - Throws: ``RowFileError`` for the first bad line.
    public static func readJSONL(
        _ bytes: [UInt8], file: String, view: FeatureView, entity: Entity, eventTime: EventTimeSource
    ) throws(RowFileError) -> [ParsedRow] {
        var rows: [ParsedRow] = []
        for (line, text) in LineReader(bytes) {
            if text.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }) { continue }
            let document: JSONValue
            do {
                document = try JSONParser.parse(text)
            } catch {
                throw RowFileError(file: file, line: line, message: "invalid JSON: \(error)")
            }
            rows.append(
                try Self.jsonRow(document, file: file, line: line, view: view, entity: entity, eventTime: eventTime))
        }
        return rows
    }

    /// Converts one parsed JSONL document to a row (shared with the replication producer).
    public static func jsonRow(
        _ document: JSONValue, file: String, line: Int, view: FeatureView, entity: Entity, eventTime: EventTimeSource
    ) throws(RowFileError) -> ParsedRow {
        func fail(_ message: String) -> RowFileError { RowFileError(file: file, line: line, message: message) }
        guard let object = document.objectValue else {
            throw fail("expected a JSON object, found \(document.typeName)")
        }
        for key in object.keys where !["entity", "event_time", "features"].contains(key) {
            throw fail("unknown member '\(key)' (expected entity, event_time, features)")
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
        let time: Timestamp
        switch eventTime {
        case .fixed(let fixed):
            time = fixed
        case .column(let name):
            guard let text = object[name]?.stringValue else { throw fail("missing string '\(name)'") }
            time = try Self.timestamp(text, column: name, file: file, line: line)
        }
        return ParsedRow(key: key, values: values, eventTime: time, line: line)
    }

    private static func keyValue(
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

    private static func timestamp(
        _ text: String, column: String, file: String, line: Int
    ) throws(RowFileError) -> Timestamp {
        do {
            return try Timestamp(iso8601: text)
        } catch {
            throw RowFileError(file: file, line: line, message: "\(column): \(error)")
        }
    }
}
