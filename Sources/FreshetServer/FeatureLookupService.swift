// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// GetFeatures: decode, resolve, read every row's views in one LMDB read transaction, encode by copying bytes.

internal import FreshetCore
internal import FreshetGRPC
internal import FreshetPosix
internal import FreshetProto
internal import FreshetStorage

/// A query plan bound to the store: the encoded plan, the database of each projection, and the plan flattened into
/// plain arrays of integers, so that the per-row loop touches no reference-counted structure.
final class BoundPlan: Sendable {
    let encoded: EncodedPlan
    let databases: [Database]
    let serviceName: [UInt8]
    /// For projection p, its request-key slots are `keySlots[keySlotStart[p] ..< keySlotStart[p + 1]]`.
    let keySlotStart: [Int]
    let keySlots: [Int]
    /// Each projection's view `max_age` in nanoseconds (`Int64.max`: none).
    let maxAgeNanoseconds: [Int64]
    /// The type of each request key, in ``QueryPlan/requestKeys`` order.
    let keyTypes: [JoinKeyType]

    init(
        plan: QueryPlan, databases storedViews: [String: Database], servedServices: [String], serviceName: String = ""
    ) throws(QueryPlanError) {
        self.encoded = EncodedPlan(plan)
        var databases: [Database] = []
        var keySlotStart = [0]
        var keySlots: [Int] = []
        var maxAges: [Int64] = []
        for projection in plan.projections {
            guard let database = storedViews[projection.view.name] else {
                throw QueryPlanError(
                    "feature view '\(projection.view.name)' is not stored in this region (it serves: \(servedServices.joined(separator: ", ")))",
                    code: .failedPrecondition)
            }
            databases.append(database)
            keySlots += projection.requestKeys
            keySlotStart.append(keySlots.count)
            maxAges.append(projection.view.maxAge.map(nanoseconds) ?? .max)
        }
        self.databases = databases
        self.serviceName = Array(serviceName.utf8)
        self.keySlotStart = keySlotStart
        self.keySlots = keySlots
        self.maxAgeNanoseconds = maxAges
        self.keyTypes = plan.requestKeys.map(\.type)
    }
}

/// A duration in whole nanoseconds, saturating at `Int64.max`.
func nanoseconds(_ duration: Duration) -> Int64 {
    let (seconds, attoseconds) = duration.components
    let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
    if overflow { return seconds < 0 ? .min : .max }
    return scaled &+ attoseconds / 1_000_000_000
}

/// Limits of the lookup path.
public struct LookupLimits: Sendable {
    /// The most rows one request may carry (`--max-rows`).
    public var maxRows = 10_000

    public init() {}
}

/// The `freshet.v1.FeatureServing/GetFeatures` handler of one event loop.
///
/// Per request: protobuf-c unpacks into the loop's arena; the plan comes from the service cache (or is resolved
/// from explicit refs); one LMDB read transaction (the loop's recycled ``Reader``) covers every row, and the
/// response is built by copying pre-encoded fields out of the map before the transaction ends.
///
/// Thread affinity: loop-confined (it owns the loop's reader, decoder and scratch space).
final class FeatureLookupService {
    private let store: FeatureStore
    private let reader: Reader
    /// The catalog the plans below come from, and the store generation it was read at.
    private var catalog: RegionCatalog
    private var generation: UInt64
    private var servicePlans: [BoundPlan]
    private let limits: LookupLimits
    private let decoder = FeaturesRequestDecoder()
    private var writer = FeaturesResponseWriter()
    private var lookups: [ViewLookup] = []
    private var found: [UnsafeRawBufferPointer?] = []
    private var slots: [RequestKeyValue] = []
    private var key: [UInt8] = []
    private var referencePlans: [String: BoundPlan] = [:]
    private let logger: Logger
    private var dataLossWarnings = LogThrottle()

    init(store: FeatureStore, limits: LookupLimits, logger: Logger) throws {
        self.store = store
        self.logger = logger
        self.reader = try store.environment.makeReader()
        self.generation = store.generation
        self.catalog = store.catalog
        self.servicePlans = self.catalog.plans
        self.limits = limits
    }

    /// Takes the store's newest catalog when a registry change published one (one atomic load per request
    /// otherwise).
    @inline(__always)
    private func followRegistry() {
        let generation = self.store.generation
        guard generation != self.generation else { return }
        self.generation = generation
        self.catalog = self.store.catalog
        self.servicePlans = self.catalog.plans
        self.referencePlans.removeAll()
    }

    /// Serves one GetFeatures call.
    func getFeatures(
        _ bytes: UnsafeRawBufferPointer, _ context: ServerCallContext, _ response: inout [UInt8]
    ) throws(GRPCStatus) {
        let request: DecodedFeaturesRequest
        do {
            request = try self.decoder.decode(bytes)
        } catch {
            throw GRPCStatus(.invalidArgument, error.message)
        }
        self.followRegistry()
        let plan = try self.plan(for: request)
        let rows = request.rowCount
        if rows > self.limits.maxRows {
            throw GRPCStatus(
                .invalidArgument, "the request has \(rows) rows; the limit is \(self.limits.maxRows) (--max-rows)")
        }
        if context.deadlineExceeded {
            throw GRPCStatus(.deadlineExceeded, "deadline exceeded before the lookup")
        }
        var requestLimit = request.maxStaleness
        if let limit = requestLimit {
            guard limit >= .zero else {
                throw GRPCStatus(.invalidArgument, "max_staleness must not be negative (it is \(limit))")
            }
            // Zero is the proto3 default: no limit.
            if limit == .zero { requestLimit = nil }
        }
        let now = Timestamp.now()
        var failure: GRPCStatus?
        do {
            try self.reader.withTransaction { transaction in
                failure = self.lookUp(
                    request, plan: plan, rows: rows, now: now, maxStaleness: requestLimit, in: transaction)
                if failure == nil {
                    self.writer.write(plan: plan.encoded, lookups: self.lookups, rows: rows, into: &response)
                }
            }
        } catch let error as StorageError {
            throw grpcStatus(for: error)
        } catch {
            throw GRPCStatus(.internalError, "lookup failed")
        }
        self.lookups.removeAll(keepingCapacity: true)
        if let failure { throw failure }
    }

    private func plan(for request: DecodedFeaturesRequest) throws(GRPCStatus) -> BoundPlan {
        let cached = request.withServiceName { name in
            self.servicePlans.first { $0.serviceName.elementsEqual(name) }
        }
        if let cached, let plan = cached { return plan }
        switch request.target {
        case .service(let name):
            let known = self.servicePlans.map { String(decoding: $0.serviceName, as: UTF8.self) }.sorted()
            if self.catalog.registry.service(named: name) != nil {
                throw GRPCStatus(
                    .failedPrecondition,
                    "feature service '\(name)' is not served in this region (it serves: \(known.joined(separator: ", ")); see --serve)"
                )
            }
            throw GRPCStatus(
                .invalidArgument,
                "unknown feature service '\(name)' (this server serves: \(known.isEmpty ? "none" : known.joined(separator: ", ")))"
            )
        case .references(let references):
            let cacheKey = references.joined(separator: ",")
            if let plan = self.referencePlans[cacheKey] { return plan }
            do throws(QueryPlanError) {
                let plan = try BoundPlan(
                    plan: QueryPlan(references: references, registry: self.catalog.registry),
                    databases: self.catalog.databases, servedServices: self.catalog.servedServices)
                if self.referencePlans.count >= 256 { self.referencePlans.removeAll() }
                self.referencePlans[cacheKey] = plan
                return plan
            } catch {
                throw error.grpcStatus
            }
        case .unspecified:
            throw GRPCStatus(.invalidArgument, "no features requested: set feature_service or at least one feature ref")
        }
    }

    /// Fills `lookups` (row-major), or returns the status that fails the request.
    ///
    /// Two passes: first every key is read from LMDB back to back (the B-tree walks are bound by memory latency,
    /// and keeping them together lets the processor overlap their cache misses), then each found row is checked and
    /// classified. The scratch arrays are taken out of `self` for the duration, so the loops run on plain locals.
    private func lookUp(
        _ request: DecodedFeaturesRequest, plan: BoundPlan, rows: Int, now: Timestamp, maxStaleness: Duration?,
        in transaction: borrowing ReadTransaction
    ) -> GRPCStatus? {
        let width = plan.databases.count
        var found = self.found
        var slots = self.slots
        var key = self.key
        self.found = []
        self.slots = []
        self.key = []
        defer {
            found.removeAll(keepingCapacity: true)
            self.found = found
            self.slots = slots
            self.key = key
        }
        found.reserveCapacity(rows * width)
        let names = plan.encoded.requestKeyNames
        for row in 0..<rows {
            request.keys(row: row, names: names, into: &slots)
            for index in slots.indices {
                if let problem = Self.keyProblem(slots[index], index, row: row, plan: plan) {
                    return GRPCStatus(.invalidArgument, problem)
                }
            }
            for column in 0..<width {
                key.removeAll(keepingCapacity: true)
                var isNull = false
                let first = plan.keySlotStart[column]
                let last = plan.keySlotStart[column + 1]
                let composite = last - first > 1
                for position in first..<last {
                    switch slots[plan.keySlots[position]] {
                    case .string(let bytes): EntityKey.appendString(bytes, composite: composite, to: &key)
                    case .int64(let number): EntityKey.appendInt64(number, to: &key)
                    default: isNull = true
                    }
                }
                if isNull || key.isEmpty {
                    found.append(nil)
                    continue
                }
                if key.count > EntityKey.maximumLength {
                    let name = plan.encoded.plan.projections[column].name
                    return GRPCStatus(
                        .invalidArgument,
                        "row \(row): the key for view '\(name)' is \(key.count) bytes; the limit is \(EntityKey.maximumLength)"
                    )
                }
                do {
                    let stored = try key.withUnsafeBytes { try transaction.get(plan.databases[column], key: $0) }
                    // Start loading the row now, so its cache misses overlap the next B-tree walks instead of
                    // stalling the validation pass below.
                    if let stored { Prefetch.read(stored) }
                    found.append(stored)
                } catch let error as StorageError {
                    return grpcStatus(for: error)
                } catch {
                    return GRPCStatus(.internalError, "lookup failed")
                }
            }
        }

        let nowNanoseconds = now.nanosecondsSinceEpoch
        let requestLimit = maxStaleness.map(nanoseconds) ?? .max
        self.lookups.removeAll(keepingCapacity: true)
        self.lookups.reserveCapacity(found.count)
        for (index, stored) in found.enumerated() {
            guard let stored else {
                self.lookups.append(.notFound)
                continue
            }
            let column = index % width
            guard let view = StoredRowView(stored) else {
                return self.unreadableRow(plan: plan, column: column, row: index / width, bytes: stored.count)
            }
            if view.isTombstone {
                self.lookups.append(.notFound)
                continue
            }
            let age = nowNanoseconds &- view.eventTime.nanosecondsSinceEpoch
            let stale = age > plan.maxAgeNanoseconds[column] || age > requestLimit
            self.lookups.append(stale ? .stale(view) : .present(view))
        }
        return nil
    }

    private func unreadableRow(plan: BoundPlan, column: Int, row: Int, bytes: Int) -> GRPCStatus {
        let view = plan.encoded.plan.projections[column].view.name
        let admitted = self.dataLossWarnings.admit()
        if admitted.log {
            self.logger.error(
                "a stored row is unreadable (damaged or written by an unknown format)",
                ["view": view, "bytes": String(bytes), "not_logged": String(admitted.held)])
        }
        return GRPCStatus(.dataLoss, "a stored row of view '\(view)' is unreadable (row \(row))")
    }

    /// Why request key `index` of a row cannot be used, or `nil` when it can (a null key is fine: NOT_FOUND).
    private static func keyProblem(_ slot: RequestKeyValue, _ index: Int, row: Int, plan: BoundPlan) -> String? {
        let type = plan.keyTypes[index]
        switch (slot, type) {
        case (.string, .string), (.int64, .int64), (.null, _):
            return nil
        default:
            break
        }
        let name = plan.encoded.plan.requestKeys[index].name
        switch slot {
        case .missing:
            let users = plan.encoded.plan.projections.filter { $0.requestKeyNames.contains(name) }.map(\.name)
            return "row \(row): missing join key '\(name)' (needed by \(users.joined(separator: ", ")))"
        case .string:
            return "row \(row): join key '\(name)' must be an int64 (int64_value), got string_value"
        case .int64:
            return "row \(row): join key '\(name)' must be a string (string_value), got int64_value"
        case .wrongType(let kind):
            let expected = type == .string ? "a string (string_value)" : "an int64 (int64_value)"
            return "row \(row): join key '\(name)' must be \(expected), got \(kind)"
        case .null:
            return nil
        }
    }
}

/// The gRPC status for a storage failure: MDB_READERS_FULL, busy or a map resized by another process → UNAVAILABLE, corruption → DATA_LOSS, a full map →
/// RESOURCE_EXHAUSTED, anything else → INTERNAL (details stay in the server log).
func grpcStatus(for error: StorageError) -> GRPCStatus {
    switch error.code {
    case .readersFull: GRPCStatus(.unavailable, "the store has no free reader slot; retry")
    case .busy, .mapResized: GRPCStatus(.unavailable, "the store is busy (\(error.code)); retry")
    case .corrupted, .panic: GRPCStatus(.dataLoss, "the store is damaged: \(error.code)")
    case .mapFull: GRPCStatus(.resourceExhausted, "the store is full (map size reached)")
    default: GRPCStatus(.internalError, "storage error \(error.code)")
    }
}
