// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// What a region serves and stores under one registry version, and how a registry change moves it to the next.

public import FreshetCore
internal import FreshetProto
public import FreshetReplication
public import FreshetStorage

/// The registry a region runs on, with everything derived from it: the services it serves, the database of each
/// view it stores, the lookup plans and the replication checks.
///
/// Immutable: a registry change builds a new catalog and ``FeatureStore`` publishes it; event loops pick it up at
/// their next request, the replication decoder at its next batch.
public final class RegionCatalog: Sendable {
    /// The registry in force.
    public let registry: Registry
    /// Its JSON as applied (empty in tools that record no registry).
    public let registryJSON: [UInt8]
    /// Its version in this store (0 when none is recorded).
    public let version: UInt64
    /// The feature services this region serves.
    public let servedServices: [String]
    /// Whether the region serves every service of the registry (no `--serve`).
    public let servesAll: Bool
    /// The database of each view this region stores.
    public let databases: [String: Database]
    /// Views subscribed after this region had applied updates, so their earlier updates were skipped here (or
    /// their rows freed): view name → its mark. `freshet push --backfill` fills them and clears the mark.
    public let pendingBackfill: [String: BackfillMark]
    /// The replication checks for this registry.
    public let validator: UpdateValidator
    /// The lookup plan of each served service.
    let plans: [BoundPlan]

    init(
        registry: Registry, registryJSON: [UInt8], version: UInt64, servedServices: [String], servesAll: Bool,
        databases: [String: Database], pendingBackfill: [String: BackfillMark]
    ) throws(QueryPlanError) {
        self.registry = registry
        self.registryJSON = registryJSON
        self.version = version
        self.servedServices = servedServices
        self.servesAll = servesAll
        self.databases = databases
        self.pendingBackfill = pendingBackfill
        self.validator = UpdateValidator(registry: registry, databases: databases)
        var plans: [BoundPlan] = []
        for service in registry.services where servedServices.contains(service.name) {
            plans.append(
                try BoundPlan(
                    plan: QueryPlan(service: service.name, registry: registry), databases: databases,
                    servedServices: servedServices, serviceName: service.name))
        }
        self.plans = plans
    }

    /// The views this region stores, in registry order.
    public var storedViews: [String] { self.registry.views.map(\.name).filter { self.databases[$0] != nil } }
}

/// A view waiting for a backfill: the registry version that subscribed it, and an id no other subscription in this
/// data directory had (the backfill's replication source is named after it, so a later backfill of the same view
/// never looks like a duplicate of an earlier one).
public struct BackfillMark: Hashable, Sendable {
    public var version: UInt64
    public var id: UInt64

    public init(version: UInt64, id: UInt64) {
        self.version = version
        self.id = id
    }
}

/// What applying a registry did.
public struct RegistryApplyResult: Sendable, Hashable {
    /// The registry version the store holds now.
    public var version: UInt64
    /// Whether the registry changed (false: the same registry at the same version was there already).
    public var changed: Bool
    /// Views this region started storing.
    public var subscribedViews: [String] = []
    /// Views this region stopped storing; their rows were removed and their pages freed.
    public var unsubscribedViews: [String] = []
    /// Views that need a backfill (`freshet push --backfill`), this change's and earlier ones.
    public var pendingBackfill: [String] = []
}

/// A registry change this store cannot take: a refused change (every problem named) or a version conflict.
public struct RegistryRefusal: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// The change itself is not allowed (``RegistryChange``, stored schemas, this region's services).
        case refusedChange
        /// The requested version is taken by another registry, or older than the store's.
        case versionConflict
    }

    public var kind: Kind
    public var message: String
    public var description: String { self.message }
}
