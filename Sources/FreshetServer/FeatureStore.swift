// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// The LMDB layout of a Freshet data directory: one database per feature view, plus metadata, and the load path.

public import FreshetCore
internal import FreshetProto
internal import FreshetReplication
public import FreshetStorage
import Synchronization

/// Settings for opening a store.
public struct StoreOptions: Sendable {
    /// The LMDB map size: the most the data file may grow to (address space, not memory).
    public var mapSize: Int = 4 << 30
    /// Whether commits are flushed to disk before they return.
    public var durable = true

    public init() {}
}

/// Where a store's registry comes from when it opens.
public enum RegistrySource: Sendable {
    /// Tools (`freshet load`): use this registry for every view it has; record nothing, change no subscription.
    case tool(Registry)
    /// `freshet serve --registry FILE`: apply this registry as `freshet registry apply` would (the next version
    /// when it differs from the stored one and the change is allowed).
    case apply(Registry, json: [UInt8])
    /// `freshet serve` without `--registry`: the registry the data directory holds.
    case stored
}

/// A data directory: one LMDB environment holding a database per feature view (`view/<name>`) and a metadata
/// database (`freshet/meta`) with the versioned registry (`registry/json`, `registry/version`), each stored view's
/// schema (`schema/<view>`), views waiting for a backfill (`backfill/<view>`) and replication positions
/// (`position/<source>`).
///
/// The registry in force and everything derived from it is a ``RegionCatalog``. ``applyRegistry(json:registry:version:)``
/// changes it live: it checks the change (``RegistryChange``, the stored schemas, this region's services), starts
/// storing the views the served services now read, frees the views they no longer read, records the new version
/// and publishes the new catalog, all in one write transaction.
///
/// The schema check keeps stored rows readable: a row keeps its values by feature position, so a view's
/// features may only be appended to (or, to roll an addition back, cut back to a prefix).
///
/// Thread safety: the environment and database handles are thread-safe; reads run in each caller's own read
/// transaction. Registry changes must come from one thread at a time (the replication writer's), between its
/// commits.
public final class FeatureStore: Sendable {
    /// The LMDB environment.
    public let environment: Environment
    /// The metadata database.
    public let meta: Database
    /// The feature services this region was told to serve (`nil`: every service of the registry).
    let serve: [String]?
    /// Whether the registry is recorded in the store (serve), or only used (tools).
    let recordsRegistry: Bool
    /// What opening did to the recorded registry and the subscription (`nil` for tools).
    public let openingResult: RegistryApplyResult?
    private let published: Mutex<RegionCatalog>
    private let publishedGeneration = Atomic<UInt64>(0)

    /// The catalog in force.
    public var catalog: RegionCatalog { self.published.withLock { $0 } }
    /// Rises by one with each published catalog: a cheap way for a loop to notice a change.
    public var generation: UInt64 { self.publishedGeneration.load(ordering: .acquiring) }
    /// The registry in force.
    public var registry: Registry { self.catalog.registry }
    /// The feature services this region serves.
    public var servedServices: [String] { self.catalog.servedServices }
    /// The version of the registry this store holds (0 when it was opened without recording one).
    public var registryVersion: UInt64 { self.catalog.version }
    /// Each stored view's database, by view name.
    public var viewDatabases: [String: Database] { self.catalog.databases }

    /// Opens (creating when needed) the store in `directory` (see ``RegistrySource``).
    /// - Parameter serve: the feature services this region serves; only the views they read get a database, and
    ///   views no served service reads any more are emptied. `nil`: every service (and every view) of the registry.
    /// - Throws: ``StorageError`` when LMDB cannot open the directory; ``RegistryRefusal`` for a registry change
    ///   the store cannot take; ``StoreError`` for a schema conflict (tools), a service `serve` names that the
    ///   registry does not have, or no stored registry.
    public init(
        directory: String, registry source: RegistrySource, serve: [String]? = nil,
        options: StoreOptions = StoreOptions()
    ) throws {
        var environmentOptions = Environment.Options(mapSize: options.mapSize, maxDatabases: 1024)
        environmentOptions.sync = options.durable ? .full : .noSync
        let environment = try Environment(path: directory, options: environmentOptions)
        let meta = try environment.database(named: "freshet/meta", create: true)
        self.environment = environment
        self.meta = meta
        self.serve = serve
        let catalog: RegionCatalog
        var opening: RegistryApplyResult?
        switch source {
        case .tool(let registry):
            self.recordsRegistry = false
            catalog = try Self.openForTool(registry: registry, environment: environment, meta: meta)
        case .apply(let registry, let json):
            self.recordsRegistry = true
            try Self.checkServed(serve, registry: registry)
            (catalog, opening) = try Self.reconcile(
                registry: registry, json: json, serve: serve, requestedVersion: nil, environment: environment,
                meta: meta)
        case .stored:
            self.recordsRegistry = true
            guard let json = try environment.read({ try $0.get(meta, key: Self.registryKey) }) else {
                throw StoreError("no registry is stored in \(directory) yet; start the region with --registry FILE")
            }
            let registry = try Registry.parse(json: json, source: "the registry stored in \(directory)")
            try Self.checkServed(serve, registry: registry)
            (catalog, opening) = try Self.reconcile(
                registry: registry, json: json, serve: serve, requestedVersion: nil, environment: environment,
                meta: meta)
        }
        self.published = Mutex(catalog)
        self.openingResult = opening
    }

    /// Opens the store for `registry`; `registryJSON` given: as ``RegistrySource/apply(_:json:)``, else as
    /// ``RegistrySource/tool(_:)``.
    public convenience init(
        directory: String, registry: Registry, serve: [String]? = nil, registryJSON: [UInt8]? = nil,
        options: StoreOptions = StoreOptions()
    ) throws {
        try self.init(
            directory: directory, registry: registryJSON.map { .apply(registry, json: $0) } ?? .tool(registry),
            serve: serve, options: options)
    }

    private static func checkServed(_ serve: [String]?, registry: Registry) throws {
        for name in serve ?? [] where registry.service(named: name) == nil {
            throw StoreError(
                "--serve: the registry has no feature service '\(name)' (it has: \(registry.services.map(\.name).joined(separator: ", ")))"
            )
        }
    }

    /// The LMDB database name of a view.
    public static func databaseName(view: String) -> String { "view/\(view)" }

    /// The database of a view, or `nil` for a view this region does not store.
    public func database(forView name: String) -> Database? { self.catalog.databases[name] }

    // MARK: - Registry versions

    static let registryKey = Array("registry/json".utf8)
    static let registryVersionKey = Array("registry/version".utf8)
    static let schemaPrefix = Array("schema/".utf8)
    static let backfillPrefix = Array("backfill/".utf8)
    /// The last backfill mark id given out (8 bytes, little-endian).
    static let backfillSerialKey = Array("registry/backfill-serial".utf8)
    /// `known/<view>`: every view any registry of this store has had (so a view removed and added again, whose
    /// rows were freed, is backfilled when it returns).
    static let knownPrefix = Array("known/".utf8)
    /// The largest registry version (2^63 - 1, so that it fits every client's signed integers).
    public static let maxRegistryVersion = UInt64(Int64.max)

    /// A stored registry version (8 bytes, little-endian); `nil` for any other length.
    static func registryVersion(_ bytes: [UInt8]) -> UInt64? {
        guard bytes.count == 8 else { return nil }
        return bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
    }

    static func encodeVersion(_ version: UInt64) -> [UInt8] {
        withUnsafeBytes(of: version.littleEndian) { Array($0) }
    }

    /// A backfill mark: version and id, 8 bytes little-endian each.
    static func encode(_ mark: BackfillMark) -> [UInt8] {
        Self.encodeVersion(mark.version) + Self.encodeVersion(mark.id)
    }

    /// A stored backfill mark; a lone 8-byte version (marks written before ids existed) is its own id.
    static func backfillMark(_ bytes: [UInt8]) -> BackfillMark? {
        switch bytes.count {
        case 8: return Self.registryVersion(bytes).map { BackfillMark(version: $0, id: $0) }
        case 16:
            guard let version = Self.registryVersion(Array(bytes[0..<8])),
                let id = Self.registryVersion(Array(bytes[8...]))
            else { return nil }
            return BackfillMark(version: version, id: id)
        default: return nil
        }
    }

    /// Every view's backfill mark, read through `forEach` (a read or a write transaction's walk of the meta
    /// database from a key).
    private static func backfillMarks(
        meta: Database,
        _ forEach: ([UInt8], (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws -> Void
    ) throws -> [String: BackfillMark] {
        var marks: [String: BackfillMark] = [:]
        try forEach(Self.backfillPrefix) { key, value in
            guard key.starts(with: Self.backfillPrefix) else { return false }
            if let mark = Self.backfillMark(Array(value)) {
                marks[String(decoding: key.dropFirst(Self.backfillPrefix.count), as: UTF8.self)] = mark
            }
            return true
        }
        return marks
    }

    /// Applies a registry change live (`freshet registry apply`), and publishes the new catalog.
    ///
    /// - Parameter version: the version to record. `nil`: the next one when the registry differs. A version
    ///   lower than the stored one, or equal to it with a different registry, is a conflict; the stored registry
    ///   at a higher version takes that version.
    /// - Throws: ``RegistryRefusal`` naming every problem; ``StorageError``. Nothing changes when it throws.
    /// - Precondition: called on one thread at a time, outside any write transaction of this store.
    /// - Parameter dryRun: check only: run every check and report what would change, and change nothing.
    /// - Parameter expectedVersion: when given, the change applies only if the store holds this version (what the
    ///   caller read before preparing it); otherwise it is a conflict. Two concurrent changes cannot both land.
    public func applyRegistry(
        json: [UInt8], registry: Registry, version: UInt64?, expectedVersion: UInt64? = nil, dryRun: Bool = false
    ) throws -> RegistryApplyResult {
        precondition(self.recordsRegistry, "a tool's store records no registry")
        do {
            let (catalog, result) = try Self.reconcile(
                registry: registry, json: json, serve: self.serve, requestedVersion: version,
                expectedVersion: expectedVersion, dryRun: dryRun, environment: self.environment, meta: self.meta)
            self.publish(catalog)
            return result
        } catch let checked as DryRunOutcome {
            return checked.result
        }
    }

    /// Aborts a dry run's transaction, carrying what the change would have done.
    private struct DryRunOutcome: Error {
        let result: RegistryApplyResult
    }

    /// What ``finishBackfill(view:id:)`` found.
    public enum BackfillFinish: Hashable, Sendable {
        /// The mark was the backfill's: cleared.
        case finished
        /// The view has no mark (a backfill finished it already, or it never needed one).
        case notPending
        /// The view was subscribed again after the backfill started: this mark is newer, and the backfill did not
        /// fill it.
        case resubscribed(BackfillMark)
        /// This region does not store the view.
        case notStored
    }

    /// Clears the backfill mark of `view` when it is still the one with `id` (a later unsubscribe and subscribe
    /// sets a new one that this backfill did not fill), and removes the position of the backfill's `source` (a
    /// source of this view and id only: `backfill/VIEW@ID/...`), which is never fed again.
    public func finishBackfill(view: String, id: UInt64, source: String = "") throws -> BackfillFinish {
        guard self.catalog.databases[view] != nil else { return .notStored }
        let key = Self.backfillPrefix + Array(view.utf8)
        let outcome = try self.environment.write { transaction -> BackfillFinish in
            guard let mark = try transaction.get(self.meta, key: key).flatMap(Self.backfillMark) else {
                return .notPending
            }
            guard mark.id == id else { return .resubscribed(mark) }
            _ = try transaction.delete(self.meta, key: key)
            if source.hasPrefix("backfill/\(view)@\(id)/") {
                _ = try transaction.delete(self.meta, key: Array("position/".utf8) + Array(source.utf8))
            }
            return .finished
        }
        if outcome == .finished {
            let old = self.catalog
            var pending = old.pendingBackfill
            pending[view] = nil
            self.publish(
                try Self.makeCatalog(
                    registry: old.registry, json: old.registryJSON, version: old.version,
                    served: old.servedServices, servesAll: old.servesAll, databases: old.databases,
                    pendingBackfill: pending))
        }
        return outcome
    }

    private func publish(_ catalog: RegionCatalog) {
        self.published.withLock { $0 = catalog }
        self.publishedGeneration.add(1, ordering: .releasing)
    }

    private static func makeCatalog(
        registry: Registry, json: [UInt8], version: UInt64, served: [String], servesAll: Bool,
        databases: [String: Database], pendingBackfill: [String: BackfillMark]
    ) throws -> RegionCatalog {
        do {
            return try RegionCatalog(
                registry: registry, registryJSON: json, version: version, servedServices: served,
                servesAll: servesAll, databases: databases, pendingBackfill: pendingBackfill)
        } catch {
            throw StoreError("cannot plan the registry's services: \(error.message)")
        }
    }

    /// Tools: every view of `registry` gets a database, unless a server recorded a registry here: then only the
    /// views this region stores (a tool must not store what the region's subscription leaves out). Nothing is
    /// recorded but the schemas.
    private static func openForTool(
        registry: Registry, environment: Environment, meta: Database
    ) throws
        -> RegionCatalog
    {
        let subscribed = try environment.read { transaction -> Set<String>? in
            guard try transaction.get(meta, key: Self.registryKey) != nil else { return nil }
            return try Self.keys(prefix: Self.schemaPrefix) { try transaction.forEach(meta, from: $0, $1) }
        }
        var databases: [String: Database] = [:]
        for view in registry.views where subscribed?.contains(view.name) ?? true {
            databases[view.name] = try environment.database(named: Self.databaseName(view: view.name), create: true)
        }
        let version = try environment.write { transaction -> UInt64 in
            // A region's registry changes only as a version (freshet registry apply): a tool may not extend it.
            let problems = try Self.checkSchemas(
                registry: registry, stored: Set(databases.keys), path: environment.path, meta: meta,
                extend: subscribed == nil, in: transaction)
            if !problems.isEmpty { throw StoreError(problems.joined(separator: "\n")) }
            return try transaction.get(meta, key: Self.registryVersionKey).flatMap(Self.registryVersion) ?? 0
        }
        let served = registry.services.map(\.name).filter {
            registry.viewNames(usedBy: [$0]).allSatisfy { databases[$0] != nil }
        }
        return try Self.makeCatalog(
            registry: registry, json: [], version: version, served: served, servesAll: subscribed == nil,
            databases: databases, pendingBackfill: [:])
    }

    /// Moves the store to `registry` for a region serving `serve`: checks the change, records the registry and
    /// its version, starts storing the views the served services read (marking for backfill those that existed
    /// before while updates were already being applied) and empties the views they no longer read. One write
    /// transaction; the databases of newly stored views are created before it.
    private static func reconcile(
        registry: Registry, json: [UInt8], serve: [String]?, requestedVersion: UInt64?, expectedVersion: UInt64? = nil,
        dryRun: Bool = false, environment: Environment, meta: Database
    ) throws -> (catalog: RegionCatalog, result: RegistryApplyResult) {
        let path = environment.path
        let served = serve ?? registry.services.map(\.name)
        let storedNames: Set<String> =
            serve == nil ? Set(registry.views.map(\.name)) : registry.viewNames(usedBy: served)
        let previously = try environment.read { transaction in
            try Self.keys(prefix: Self.schemaPrefix) { try transaction.forEach(meta, from: $0, $1) }
        }
        var databases: [String: Database] = [:]
        for view in registry.views where storedNames.contains(view.name) && !dryRun {
            databases[view.name] = try environment.database(named: Self.databaseName(view: view.name), create: true)
        }
        var leaving: [(String, Database)] = []
        for name in previously.sorted() where !storedNames.contains(name) && !dryRun {
            leaving.append((name, try environment.database(named: Self.databaseName(view: name), create: true)))
        }
        return try environment.write { transaction in
            let storedVersion =
                try transaction.get(meta, key: Self.registryVersionKey).flatMap(Self.registryVersion) ?? 0
            let old = try transaction.get(meta, key: Self.registryKey).map {
                try Registry.parse(json: $0, source: "the registry stored in \(path)")
            }
            if let expected = expectedVersion, expected != storedVersion {
                throw RegistryRefusal(
                    kind: .versionConflict,
                    message:
                        "this region holds registry version \(storedVersion), not version \(expected) that the change was prepared against: another registry change landed meanwhile; read the registry again and redo the change"
                )
            }
            if let requested = requestedVersion, requested > Self.maxRegistryVersion {
                throw RegistryRefusal(
                    kind: .versionConflict,
                    message: "registry version \(requested) is too large; the largest is \(Self.maxRegistryVersion)")
            }
            var version = requestedVersion ?? min(storedVersion, Self.maxRegistryVersion - 1) + 1
            var changed = true
            if let requested = requestedVersion {
                if requested < storedVersion || (requested == storedVersion && old != registry) {
                    throw RegistryRefusal(
                        kind: .versionConflict,
                        message: requested < storedVersion
                            ? "this region holds registry version \(storedVersion) already, newer than version \(requested)"
                            : "this region holds a different registry as version \(storedVersion); apply the change as a new version"
                    )
                }
                changed = requested > storedVersion
            } else if let old, old == registry {
                version = storedVersion
                changed = false
            } else if storedVersion >= Self.maxRegistryVersion {
                throw RegistryRefusal(
                    kind: .versionConflict,
                    message:
                        "this region holds registry version \(storedVersion), the largest there is; it cannot take a new one"
                )
            }
            var problems: [String] = []
            if let old, old != registry { problems += RegistryChange.problems(from: old, to: registry) }
            for name in serve ?? [] where registry.service(named: name) == nil {
                problems.append(
                    "feature service '\(name)' is served by this region (--serve), but the registry no longer has it; restart the region without it first"
                )
            }
            // The stored schemas are the safety net under RegistryChange (a store that has no registry history
            // yet, such as one `freshet load` filled): their message would only repeat RegistryChange's.
            let schemaProblems = try Self.checkSchemas(
                registry: registry, stored: storedNames, path: path, meta: meta, in: transaction)
            if problems.isEmpty { problems = schemaProblems }
            if !problems.isEmpty {
                let what =
                    old == nil
                    ? "the registry cannot be used with the data in \(path)"
                    : "the registry cannot replace version \(storedVersion) stored in \(path)"
                throw RegistryRefusal(
                    kind: .refusedChange,
                    message: what + ":\n" + problems.map { "  - \($0)" }.joined(separator: "\n"))
            }
            if dryRun {
                var result = RegistryApplyResult(version: version, changed: changed)
                result.subscribedViews = registry.views.map(\.name).filter {
                    storedNames.contains($0) && !previously.contains($0)
                }
                result.unsubscribedViews = previously.sorted().filter { !storedNames.contains($0) }
                throw DryRunOutcome(result: result)
            }
            // An unchanged registry keeps its stored text: every region holds the same bytes for one version, even
            // when the file differs only in what the registry does not model (the top-level description, spacing).
            let recordedJSON: [UInt8]
            if changed {
                try transaction.put(meta, key: Self.registryKey, value: json)
                try transaction.put(meta, key: Self.registryVersionKey, value: Self.encodeVersion(version))
                recordedJSON = json
            } else {
                recordedJSON = try transaction.get(meta, key: Self.registryKey) ?? json
            }
            var result = RegistryApplyResult(version: version, changed: changed)
            for (name, database) in leaving {
                try transaction.clear(database)
                _ = try transaction.delete(meta, key: Self.schemaPrefix + Array(name.utf8))
                _ = try transaction.delete(meta, key: Self.backfillPrefix + Array(name.utf8))
                // The positions of the view's backfills: their rows are gone, and their sources are never fed again.
                let backfills = Array("position/backfill/\(name)@".utf8)
                for source in try Self.keys(prefix: backfills, { try transaction.forEach(meta, from: $0, $1) }) {
                    _ = try transaction.delete(meta, key: backfills + Array(source.utf8))
                }
                result.unsubscribedViews.append(name)
            }
            let applied = try !Self.keys(prefix: Array("position/".utf8), limit: 1) {
                try transaction.forEach(meta, from: $0, $1)
            }.isEmpty
            let known = try Self.keys(prefix: Self.knownPrefix) { try transaction.forEach(meta, from: $0, $1) }
            var nextMarkID =
                try transaction.get(meta, key: Self.backfillSerialKey).flatMap(Self.registryVersion) ?? 0
            for view in registry.views where databases[view.name] != nil && !previously.contains(view.name) {
                result.subscribedViews.append(view.name)
                // A view this store never knew had no updates before (a region rejects updates of views its
                // registry lacks). One it knew had them, and this region skipped them or freed their rows; a view
                // of the old registry counts as known for stores recorded before the known/ keys.
                guard applied && (known.contains(view.name) || old?.view(named: view.name) != nil) else { continue }
                nextMarkID += 1
                try transaction.put(
                    meta, key: Self.backfillPrefix + Array(view.name.utf8),
                    value: Self.encode(BackfillMark(version: version, id: nextMarkID)))
            }
            try transaction.put(meta, key: Self.backfillSerialKey, value: Self.encodeVersion(nextMarkID))
            for view in registry.views where !known.contains(view.name) {
                try transaction.put(meta, key: Self.knownPrefix + Array(view.name.utf8), value: [])
            }
            let pending = try Self.backfillMarks(meta: meta) { try transaction.forEach(meta, from: $0, $1) }
            result.pendingBackfill = registry.views.map(\.name).filter { pending[$0] != nil }
            let catalog = try Self.makeCatalog(
                registry: registry, json: recordedJSON, version: version, served: served, servesAll: serve == nil,
                databases: databases, pendingBackfill: pending)
            return (catalog, result)
        }
    }

    /// The names after `prefix` of the meta keys that start with it, read through `forEach` (a read or a write
    /// transaction's walk of the meta database from a key).
    private static func keys(
        prefix: [UInt8], limit: Int = .max,
        _ forEach: ([UInt8], (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws -> Void
    ) throws -> Set<String> {
        var names: Set<String> = []
        try forEach(prefix) { key, _ in
            guard key.starts(with: prefix), names.count < limit else { return false }
            names.insert(String(decoding: key.dropFirst(prefix.count), as: UTF8.self))
            return true
        }
        return names
    }

    // MARK: - Schemas

    /// The schema text stored for a view: entity key types and features, one per line.
    static func schemaText(view: FeatureView, entity: Entity) -> String {
        var lines = ["format 1", "entity \(entity.name)"]
        lines += entity.joinKeys.map { "key \($0.name) \($0.type)" }
        lines += view.features.map { "feature \($0.name) \($0.type)" }
        return lines.joined(separator: "\n")
    }

    /// Checks the schema of each view in `stored` against the one stored, records the longer of the two, and
    /// returns a problem for each view whose stored rows the registry would misread.
    /// - Parameter extend: whether a registry with more features than stored may record them (false: that is a
    ///   problem too).
    private static func checkSchemas(
        registry: Registry, stored: Set<String>, path: String, meta: Database, extend: Bool = true,
        in transaction: borrowing WriteTransaction
    ) throws -> [String] {
        var problems: [String] = []
        for view in registry.views where stored.contains(view.name) {
            guard let entity = registry.entity(named: view.entity) else { continue }
            let key = Self.schemaPrefix + Array(view.name.utf8)
            let wanted = Self.schemaText(view: view, entity: entity)
            if let stored = try transaction.get(meta, key: key) {
                let storedText = String(decoding: stored, as: UTF8.self)
                if storedText == wanted { continue }
                switch Self.compare(stored: storedText, wanted: wanted) {
                case .incompatible(let problem):
                    problems.append(
                        "feature view '\(view.name)' in \(path) \(problem); stored rows would be misread. Add new "
                            + "features at the end, or use a new view name (view versions come with schema evolution)")
                    continue
                case .storedIsLonger:
                    // The registry is a prefix of what was stored (for example a rollback of an added feature):
                    // rows are read by position, so the extra stored values are simply not served. Keep the
                    // longer schema, so a later registry cannot put a different feature in that position.
                    continue
                case .wantedIsLonger:
                    if !extend {
                        problems.append(
                            "feature view '\(view.name)' in \(path) has features that the region's registry does not have; a region's registry changes with freshet registry apply (then load with the registry it holds)"
                        )
                        continue
                    }
                }
            }
            try transaction.put(meta, key: key, value: Array(wanted.utf8))
        }
        return problems
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
        guard let view = self.registry.view(named: name) else {
            throw StoreError("unknown feature view '\(name)'")
        }
        guard let database = self.viewDatabases[name] else {
            throw StoreError(
                "the region serving \(self.environment.path) does not store feature view '\(name)': the view is not in its registry, or no service it serves reads it (see freshet registry show)"
            )
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
        /// The view's backfill mark (the registry version that subscribed it), while it waits for a backfill.
        public var backfill: BackfillMark?
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
    /// - Parameter entriesOnly: count each view's entries from its database's statistics instead of reading every
    ///   row to tell rows from tombstones (`rows` is then the entry count and `deleted` 0): for large stores, where
    ///   reading everything takes long.
    /// - Throws: ``StorageError`` (for example ENOENT when the directory does not exist).
    public static func inspect(directory: String, entriesOnly: Bool = false) throws -> StoreStatistics {
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
                if entriesOnly {
                    rows = try transaction.count(database)
                    return
                }
                try transaction.forEach(database) { _, value in
                    if let row = StoredRowView(value), row.isTombstone { deleted += 1 } else { rows += 1 }
                    return true
                }
            }
            let backfill = try environment.read { transaction in
                try transaction.get(meta, key: Self.backfillPrefix + Array(name.utf8)).flatMap(Self.backfillMark)
            }
            views.append(
                StoreStatistics.View(
                    name: name, rows: rows, deleted: deleted, features: features, backfill: backfill))
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
