// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Checks update batches against the registry before they reach the writer, and turns them into storage terms.

public import FreshetCore
public import FreshetProto
public import FreshetStorage

/// One update, checked and ready to apply: the view's database, the encoded key, and the values by feature
/// position (`nil` values: missing), or `nil` values for a delete.
public struct ValidatedUpdate: Sendable {
    /// `nil` for a view of the registry that this region does not store (no service it serves reads it): the
    /// update is acked and skipped.
    public var database: Database?
    public var key: [UInt8]
    public var eventTime: Timestamp
    /// One entry per feature of the view, in registry order; `nil` for a delete.
    public var values: [FeatureValue?]?
}

/// A batch whose every update passed the registry checks.
public struct ValidatedBatch: Sendable {
    public var source: String
    public var firstSequence: UInt64
    public var updates: [ValidatedUpdate]
}

/// A batch refused by the checks; `message` names the batch, the update and the field.
public struct UpdateRejection: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { self.message }
}

/// Checks batches against a registry (unknown views, features and keys, wrong types, missing times).
///
/// Immutable after creation; safe to share between event loops.
public struct UpdateValidator: Sendable {
    struct ViewSchema: Sendable {
        let view: FeatureView
        let entity: Entity
        let database: Database?
        let featureIndex: [String: Int]
    }

    private let schemas: [String: ViewSchema]
    /// The longest source name (it is stored in every row the source writes).
    public static let maxSourceBytes = 255

    /// Prepares the checks for every view of `registry`; updates of views without a database in `databases` are
    /// checked as well, and then skipped (this region does not store them).
    public init(registry: Registry, databases: [String: Database]) {
        var schemas: [String: ViewSchema] = [:]
        for view in registry.views {
            guard let entity = registry.entity(named: view.entity) else { continue }
            let database = databases[view.name]
            var index: [String: Int] = [:]
            for (position, feature) in view.features.enumerated() { index[feature.name] = position }
            schemas[view.name] = ViewSchema(view: view, entity: entity, database: database, featureIndex: index)
        }
        self.schemas = schemas
    }

    /// Checks `batch`; nothing of a refused batch may be applied.
    /// - Throws: ``UpdateRejection`` naming the batch's first sequence, the update index and the field.
    public func validate(_ batch: UpdateBatchMessage) throws(UpdateRejection) -> ValidatedBatch {
        let name = "batch first_sequence \(batch.firstSequence)"
        if let problem = Self.sourceProblem(batch.source) {
            throw UpdateRejection(message: "\(name): source \(problem)")
        }
        if !batch.updates.isEmpty {
            if batch.firstSequence == 0 {
                throw UpdateRejection(message: "\(name): first_sequence must be at least 1 (sequences start at 1)")
            }
            if batch.firstSequence > UInt64.max - UInt64(batch.updates.count) {
                throw UpdateRejection(message: "\(name): the batch's sequences overflow 64 bits")
            }
        }
        var updates: [ValidatedUpdate] = []
        updates.reserveCapacity(batch.updates.count)
        for (index, update) in batch.updates.enumerated() {
            let place = "\(name), update \(index) (sequence \(batch.firstSequence + UInt64(index)))"
            func reject(_ message: String) -> UpdateRejection { UpdateRejection(message: "\(place): \(message)") }
            guard let schema = self.schemas[update.view] else {
                throw reject(
                    update.view.isEmpty
                        ? "view is empty"
                        : "unknown view '\(update.view.prefix(128))'; the registry has: \(self.viewList)")
            }
            guard let eventTime = update.eventTime else {
                throw reject("event_time is missing or invalid")
            }
            let key = try self.key(update.key, schema: schema, reject: reject)
            switch update.change {
            case .none:
                throw reject("neither upsert nor delete is set")
            case .delete:
                updates.append(ValidatedUpdate(database: schema.database, key: key, eventTime: eventTime, values: nil))
            case .upsert(let given):
                var values = [FeatureValue?](repeating: nil, count: schema.view.features.count)
                var seen = [Bool](repeating: false, count: values.count)
                for entry in given {
                    guard let position = schema.featureIndex[entry.name] else {
                        throw reject("view '\(schema.view.name)' has no feature '\(entry.name.prefix(128))'")
                    }
                    if seen[position] { throw reject("feature '\(entry.name)' is given twice") }
                    seen[position] = true
                    let feature = schema.view.features[position]
                    guard let value = entry.value else {
                        throw reject("feature '\(entry.name)' has no value set (use null_value for null)")
                    }
                    if let type = value.type, type != feature.type {
                        throw reject("feature '\(entry.name)' is \(feature.type), not \(type)")
                    }
                    if !Self.isFinite(value) {
                        throw reject("feature '\(entry.name)' is not a finite number (NaN and infinities are refused)")
                    }
                    values[position] = value
                }
                let size = Self.storedSize(values, eventTime: eventTime)
                if size > StoredRow.maxBytes {
                    throw reject("the row is \(size) bytes when stored; the limit is \(StoredRow.maxBytes)")
                }
                updates.append(
                    ValidatedUpdate(database: schema.database, key: key, eventTime: eventTime, values: values))
            }
        }
        return ValidatedBatch(source: batch.source, firstSequence: batch.firstSequence, updates: updates)
    }

    /// What is wrong with a source name, to follow the word "source" in a message (empty, longer than
    /// ``maxSourceBytes``, control characters, the replacement character of invalid UTF-8), or `nil`. The one check
    /// for the server's batches and GetPosition and for `freshet push --source`.
    public static func sourceProblem(_ source: String) -> String? {
        if source.isEmpty { return "is empty; name the producer" }
        if source.utf8.count > Self.maxSourceBytes {
            return "is \(source.utf8.count) bytes; the limit is \(Self.maxSourceBytes)"
        }
        if source.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            return "contains a control character"
        }
        if source.unicodeScalars.contains("\u{FFFD}") {
            return "contains U+FFFD (the replacement for bytes that were not UTF-8)"
        }
        return nil
    }

    /// Whether every floating-point number in `value` is finite (CSV and JSONL refuse NaN and infinities too).
    static func isFinite(_ value: FeatureValue) -> Bool {
        switch value {
        case .double(let number): number.isFinite
        case .float(let number): number.isFinite
        case .doubleList(let numbers): numbers.allSatisfy(\.isFinite)
        case .floatList(let numbers): numbers.allSatisfy(\.isFinite)
        default: true
        }
    }

    /// The stored size of a row: estimated cheaply, and encoded exactly only when the estimate is near the limit.
    static func storedSize(_ values: [FeatureValue?], eventTime: Timestamp) -> Int {
        var estimate = 64 + 29 + Self.maxSourceBytes
        for value in values {
            switch value {
            case .string(let text): estimate += text.utf8.count + 16
            case .bytes(let bytes): estimate += bytes.count + 16
            case .stringList(let items): estimate += items.reduce(16) { $0 + $1.utf8.count + 6 }
            case .bytesList(let items): estimate += items.reduce(16) { $0 + $1.count + 6 }
            case .int64List(let items): estimate += items.count * 11 + 16
            case .doubleList(let items): estimate += items.count * 8 + 16
            case .floatList(let items): estimate += items.count * 4 + 16
            case .boolList(let items): estimate += items.count + 16
            default: estimate += 24
            }
        }
        guard estimate > StoredRow.maxBytes / 2 else { return estimate }
        return StoredRow.encode(
            optionalValues: values, eventTime: eventTime, ingestTime: eventTime,
            originSource: [UInt8](repeating: 0, count: 255), originSequence: .max
        ).count
    }

    private var viewList: String {
        self.schemas.keys.sorted().joined(separator: ", ")
    }

    private func key(
        _ given: [NamedValue], schema: ViewSchema, reject: (String) -> UpdateRejection
    ) throws(UpdateRejection) -> [UInt8] {
        var values: [JoinKeyValue] = []
        for joinKey in schema.entity.joinKeys {
            let matches = given.filter { $0.name == joinKey.name }
            guard let entry = matches.first else {
                throw reject("key lacks join key '\(joinKey.name)' of entity '\(schema.entity.name)'")
            }
            if matches.count > 1 { throw reject("key gives join key '\(joinKey.name)' twice") }
            switch (joinKey.type, entry.value) {
            case (.string, .string(let text)) where !text.isEmpty && !text.utf8.contains(0):
                values.append(.string(text))
            case (.int64, .int64(let number)):
                values.append(.int64(number))
            default:
                let found = entry.value.map { $0.type.map(\.description) ?? "null" } ?? "no value"
                throw reject(
                    "join key '\(joinKey.name)' must be a non-empty \(joinKey.type) (no NUL bytes), found \(found)")
            }
        }
        for entry in given where !schema.entity.joinKeys.contains(where: { $0.name == entry.name }) {
            throw reject("key field '\(entry.name.prefix(128))' is not a join key of entity '\(schema.entity.name)'")
        }
        let encoded = EntityKey.encode(values)
        if encoded.count > EntityKey.maximumLength {
            throw reject("the key is \(encoded.count) bytes encoded; the limit is \(EntityKey.maximumLength)")
        }
        return encoded
    }
}
