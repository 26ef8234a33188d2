// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// The LMDB layout of a Freshet data directory: one database per feature view, plus metadata, and the load path.

public import FreshetCore
public import FreshetProto
internal import FreshetReplication
public import FreshetStorage

/// Settings for opening a store.
public struct StoreOptions: Sendable {
    /// The LMDB map size: the most the data file may grow to (address space, not memory).
    public var mapSize: Int = 4 << 30
    /// Whether commits are flushed to disk before they return.
    public var durable = true

    public init() {}
}

/// A data directory: one LMDB environment holding a database per feature view (`view/<name>`) and a metadata
/// database (`freshet/meta`) with each view's schema.
///
/// The schema check keeps stored rows readable: a row keeps its values by feature position, so a view's
/// features may only be appended to (or, to roll an addition back, cut back to a prefix). A registry that renames,
/// retypes or reorders a stored feature, or changes the entity key, is refused with a message naming the view.
///
/// Thread safety: the environment and database handles are thread-safe; reads run in each caller's own read
/// transaction, and writes are serialized by LMDB (one writer at a time, across processes).
public final class FeatureStore: Sendable {
    /// The LMDB environment.
    public let environment: Environment
    /// The registry the store was opened with.
    public let registry: Registry
    /// The feature services this region serves (all of the registry's unless `serve` narrowed them).
    public let servedServices: [String]
    /// The version of the registry this store holds (0 when it was opened without recording one).
    public let registryVersion: UInt64
    /// Each view's database, by view name.
    public let viewDatabases: [String: Database]
    /// The metadata database: schemas (`schema/<view>`) and replication positions (`position/<source>`).
    public let meta: Database

    /// Opens (creating when needed) the store in `directory` for `registry`, creating each view's database.
    /// - Throws: ``StorageError`` when LMDB cannot open the directory; ``StoreError`` when a stored schema
    ///   conflicts with the registry.
    /// - Parameter serve: the feature services this region serves; only the views they read get a database (and
    ///   take space). `nil`: every service of the registry.
    /// - Throws: ``StoreError`` for a service `serve` names that the registry does not have.
    /// - Parameter registryJSON: the registry file's bytes, to record as the store's registry: the first time as
    ///   version 1, later as the next version when it differs and ``RegistryChange`` allows the change; a refused
    ///   change throws ``StoreError`` naming every problem. `nil` (tools such as `freshet load`): nothing recorded.
    public init(
        directory: String, registry: Registry, serve: [String]? = nil, registryJSON: [UInt8]? = nil,
        options: StoreOptions = StoreOptions()
    ) throws {
        let served = serve ?? registry.services.map(\.name)
        for name in served where registry.service(named: name) == nil {
            throw StoreError(
                "--serve: the registry has no feature service '\(name)' (it has: \(registry.services.map(\.name).joined(separator: ", ")))"
            )
        }
        // Without --serve every view is stored, also one that no service reads yet (loads and refs reach it).
        let stored = serve == nil ? Set(registry.views.map(\.name)) : registry.viewNames(usedBy: served)
        var environmentOptions = Environment.Options(mapSize: options.mapSize, maxDatabases: 1024)
        environmentOptions.sync = options.durable ? .full : .noSync
        let environment = try Environment(path: directory, options: environmentOptions)
        self.environment = environment
        self.registry = registry
        self.servedServices = served
        self.meta = try environment.database(named: "freshet/meta", create: true)
        var databases: [String: Database] = [:]
        for view in registry.views where stored.contains(view.name) {
            databases[view.name] = try environment.database(named: Self.databaseName(view: view.name), create: true)
        }
        self.viewDatabases = databases
        let meta = self.meta
        self.registryVersion =
            try registryJSON.map { json in
                try Self.record(registryJSON: json, registry: registry, environment: environment, meta: meta)
            } ?? 0
        try self.checkSchemas()
    }

    /// The LMDB database name of a view.
    public static func databaseName(view: String) -> String { "view/\(view)" }

    /// The database of a view, or `nil` for a view not in the registry.
    public func database(forView name: String) -> Database? { self.viewDatabases[name] }

    // MARK: - Registry versions

    static let registryKey = Array("registry/json".utf8)
    static let registryVersionKey = Array("registry/version".utf8)

    /// A stored registry version (8 bytes, little-endian); `nil` for any other length.
    static func registryVersion(_ bytes: [UInt8]) -> UInt64? {
        guard bytes.count == 8 else { return nil }
        return bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
    }

    /// Records `registryJSON` as the store's registry (see ``init(directory:registry:serve:registryJSON:options:)``).
    private static func record(
        registryJSON: [UInt8], registry: Registry, environment: Environment, meta: Database
    ) throws -> UInt64 {
        try environment.write { transaction in
            let version =
                try transaction.get(meta, key: Self.registryVersionKey).flatMap(Self.registryVersion) ?? 0
            if let stored = try transaction.get(meta, key: Self.registryKey) {
                let old = try Registry.parse(json: stored, source: "the registry stored in \(environment.path)")
                if old == registry { return version }
                let problems = RegistryChange.problems(from: old, to: registry)
                if !problems.isEmpty {
                    throw StoreError(
                        "the registry cannot replace version \(version) stored in \(environment.path):\n"
                            + problems.map { "  - \($0)" }.joined(separator: "\n"))
                }
            }
            var next = version + 1
            try transaction.put(meta, key: Self.registryKey, value: registryJSON)
            try transaction.put(meta, key: Self.registryVersionKey, value: withUnsafeBytes(of: &next) { Array($0) })
            return next
        }
    }

    // MARK: - Schemas

    /// The schema text stored for a view: entity key types and features, one per line.
    static func schemaText(view: FeatureView, entity: Entity) -> String {
        var lines = ["format 1", "entity \(entity.name)"]
        lines += entity.joinKeys.map { "key \($0.name) \($0.type)" }
        lines += view.features.map { "feature \($0.name) \($0.type)" }
        return lines.joined(separator: "\n")
    }

    private func checkSchemas() throws {
        try self.environment.write { transaction in
            for view in self.registry.views where self.viewDatabases[view.name] != nil {
                guard let entity = self.registry.entity(named: view.entity) else { continue }
                let key = Array("schema/\(view.name)".utf8)
                let wanted = Self.schemaText(view: view, entity: entity)
                var longest = wanted
                if let stored = try transaction.get(self.meta, key: key) {
                    let storedText = String(decoding: stored, as: UTF8.self)
                    if storedText == wanted { continue }
                    switch Self.compare(stored: storedText, wanted: wanted) {
                    case .incompatible(let problem):
                        throw StoreError(
                            "feature view '\(view.name)' in \(self.environment.path) \(problem); stored rows would be "
                                + "misread. Add new features at the end, or use a new view name (view versions come with "
                                + "schema evolution)")
                    case .storedIsLonger:
                        // The registry is a prefix of what was stored (for example a rollback of an added feature):
                        // rows are read by position, so the extra stored values are simply not served. Keep the
                        // longer schema, so a later registry cannot put a different feature in that position.
                        longest = storedText
                    case .wantedIsLonger:
                        break
                    }
                }
                if longest == wanted {
                    try transaction.put(self.meta, key: key, value: Array(wanted.utf8))
                }
            }
        }
    }

    /// How a registry's schema relates to the stored one.
    enum SchemaComparison: Equatable {
        /// The registry appends features to the stored ones.
        case wantedIsLonger
        /// The registry has a prefix of the stored features.
        case storedIsLonger
        /// They disagree within their common features, or on the entity key.
        case incompatible(String)
    }

    /// Compares schemas: they are compatible when the entity key is the same and one feature list is a prefix of
    /// the other (a stored row keeps its values by position).
    static func compare(stored: String, wanted: String) -> SchemaComparison {
        let old = stored.split(separator: "\n").map(String.init)
        let new = wanted.split(separator: "\n").map(String.init)
        let oldKeys = old.filter { !$0.hasPrefix("feature ") }
        let newKeys = new.filter { !$0.hasPrefix("feature ") }
        if oldKeys != newKeys {
            return .incompatible(
                "was stored with entity key [\(oldKeys.dropFirst().joined(separator: ", "))], but the registry has [\(newKeys.dropFirst().joined(separator: ", "))]"
            )
        }
        let oldFeatures = old.filter { $0.hasPrefix("feature ") }
        let newFeatures = new.filter { $0.hasPrefix("feature ") }
        for index in 0..<min(oldFeatures.count, newFeatures.count) where newFeatures[index] != oldFeatures[index] {
            return .incompatible(
                "stores feature \(index + 1) as '\(oldFeatures[index].dropFirst(8))', but the registry has '\(newFeatures[index].dropFirst(8))'"
            )
        }
        return newFeatures.count >= oldFeatures.count ? .wantedIsLonger : .storedIsLonger
    }

    // MARK: - Loading

    /// What a load did.
    public struct LoadSummary: Hashable, Sendable {
        /// Rows written.
        public var written = 0
        /// Rows not written because the stored row has a newer `event_time`.
        public var skippedOlder = 0
    }

    /// The largest encoded row a load accepts (1 MiB): a row must fit in a response of the default message limit.
    public static let maxRowBytes = StoredRow.maxBytes

    /// Writes rows into a view in one write transaction: all of them or none. A row whose stored version has a
    /// newer `event_time` is kept (newest event wins); on equal times the load overwrites.
    ///
    /// Rows are read from `source` one at a time inside the transaction, so memory does not grow with the file.
    /// - Parameters:
    ///   - ingestTime: the commit time recorded as each row's `ingest_time`.
    /// - Throws: ``StoreError`` for an unknown view; ``RowFileError`` for a bad line or a row larger than
    ///   ``maxRowBytes``; ``StorageError`` (MDB_MAP_FULL, …). Any of them aborts the load.
    public func load(view name: String, from source: inout some RowSource, ingestTime: Timestamp) throws -> LoadSummary
    {
        guard let database = self.viewDatabases[name], let view = self.registry.view(named: name) else {
            throw StoreError("unknown feature view '\(name)'")
        }
        var summary = LoadSummary()
        try self.environment.write { transaction in
            var key: [UInt8] = []
            while let row = try source.next() {
                precondition(
                    row.isDelete || row.values.count == view.features.count, "row values must match the view's features"
                )
                key.removeAll(keepingCapacity: true)
                EntityKey.encode(row.key, into: &key)
                let stored = try key.withUnsafeBytes { try transaction.get(database, key: $0) }
                if let stored, let existing = StoredRowView(stored), existing.eventTime > row.eventTime {
                    summary.skippedOlder += 1
                    continue
                }
                let encoded = StoredRow.encode(
                    values: row.values, eventTime: row.eventTime, ingestTime: ingestTime, tombstone: row.isDelete)
                if encoded.count > Self.maxRowBytes {
                    throw RowFileError(
                        file: source.file, line: row.line,
                        message: "the row is \(encoded.count) bytes when stored; the limit is \(Self.maxRowBytes)")
                }
                try transaction.put(database, key: key, value: encoded)
                summary.written += 1
            }
        }
        return summary
    }

    /// Writes rows given as an array (see ``load(view:from:ingestTime:)``).
    public func load(view name: String, rows: [ParsedRow], ingestTime: Timestamp) throws -> LoadSummary {
        var source = ArrayRowSource(rows: rows)
        return try self.load(view: name, from: &source, ingestTime: ingestTime)
    }

    /// The number of rows in each view, in registry order.
    public func rowCounts() throws -> [(view: String, rows: Int)] {
        try self.environment.read { transaction in
            try self.registry.views.compactMap { view in
                guard let database = self.viewDatabases[view.name] else { return nil }
                return (view.name, try transaction.count(database))
            }
        }
    }
}

/// Rows already in memory, as a ``RowSource``.
struct ArrayRowSource: RowSource {
    let file = "(rows)"
    let rows: [ParsedRow]
    var index = 0

    mutating func next() throws(RowFileError) -> ParsedRow? {
        guard self.index < self.rows.count else { return nil }
        defer { self.index += 1 }
        return self.rows[self.index]
    }
}

// MARK: - Inspection

/// What `freshet stats` shows of a data directory.
public struct StoreStatistics: Sendable {
    public struct View: Sendable {
        public var name: String
        /// Live rows (entries that are not tombstones).
        public var rows: Int
        /// Tombstones: deleted rows kept with their delete's event time.
        public var deleted: Int
        public var features: Int
    }

    /// A replication source's position and counters.
    public struct Source: Sendable {
        public var name: String
        public var appliedSequence: UInt64
        public var written: UInt64
        public var superseded: UInt64
        public var duplicates: UInt64
        public var unsubscribed: UInt64
        public var lastCommit: Timestamp?
    }

    public var mapSize: Int
    public var usedBytes: Int
    /// The version of the registry the store holds (0: none recorded yet).
    public var registryVersion: UInt64
    public var views: [View]
    public var sources: [Source]
}

extension FeatureStore {
    /// Describes the views stored in `directory` from their stored schemas, without a registry.
    /// - Throws: ``StorageError`` (for example ENOENT when the directory does not exist).
    public static func inspect(directory: String) throws -> StoreStatistics {
        // Map size 0 keeps the size the environment was created with.
        var options = Environment.Options(mapSize: 0, maxDatabases: 1024)
        options.readOnly = true
        let environment = try Environment(path: directory, options: options)
        let meta = try environment.database(named: "freshet/meta", create: false)
        var schemas: [(String, Int)] = []
        try environment.read { transaction in
            try transaction.forEach(meta, from: Array("schema/".utf8)) { key, value in
                let name = String(decoding: key, as: UTF8.self)
                guard name.hasPrefix("schema/") else { return false }
                let features = String(decoding: value, as: UTF8.self).split(separator: "\n").filter {
                    $0.hasPrefix("feature ")
                }
                schemas.append((String(name.dropFirst(7)), features.count))
                return true
            }
        }
        var views: [StoreStatistics.View] = []
        for (name, features) in schemas {
            let database = try environment.database(named: Self.databaseName(view: name), create: false)
            var rows = 0
            var deleted = 0
            try environment.read { transaction in
                try transaction.forEach(database) { _, value in
                    if let row = StoredRowView(value), row.isTombstone { deleted += 1 } else { rows += 1 }
                    return true
                }
            }
            views.append(StoreStatistics.View(name: name, rows: rows, deleted: deleted, features: features))
        }
        let sources = try environment.read { transaction in
            try ReplicationApplier(meta: meta).positions(in: transaction).map { source, position in
                StoreStatistics.Source(
                    name: source, appliedSequence: position.appliedSequence, written: position.written,
                    superseded: position.superseded, duplicates: position.duplicates,
                    unsubscribed: position.unsubscribed,
                    lastCommit: position.lastCommitNanoseconds == 0
                        ? nil : Timestamp(nanosecondsSinceEpoch: position.lastCommitNanoseconds))
            }
        }
        let registryVersion =
            try environment.read { transaction in
                try transaction.get(meta, key: Self.registryVersionKey).flatMap(Self.registryVersion)
            } ?? 0
        let info = try environment.info()
        return StoreStatistics(
            mapSize: info.mapSize, usedBytes: info.usedBytes, registryVersion: registryVersion, views: views,
            sources: sources)
    }
}

/// A store-level problem (schema conflicts, unknown views).
public struct StoreError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { self.message }
}
