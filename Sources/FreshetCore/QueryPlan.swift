// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// A lookup resolved against the registry: which views to read, under which request keys, and which features.

/// A resolved lookup: the views a request reads, the request keys each is joined by, and the features returned.
///
/// Built once per feature service (and cached), or per request for an explicit `view:feature` list.
public struct QueryPlan: Hashable, Sendable {
    /// A request key the plan reads from every row.
    public struct RequestKey: Hashable, Sendable {
        public var name: String
        public var type: JoinKeyType
    }

    /// One view as read by the plan.
    public struct Projection: Hashable, Sendable {
        /// The name in responses (alias or view name).
        public var name: String
        /// The view.
        public var view: FeatureView
        /// For each join key of the view's entity, in key order: the index in ``QueryPlan/requestKeys``.
        public var requestKeys: [Int]
        /// The request key names, in the entity's key order (for the response header).
        public var requestKeyNames: [String]
        /// Indexes into `view.features` of the features returned, in response order.
        public var featureIndexes: [Int]
        /// The names of those features.
        public var featureNames: [String]
    }

    /// The distinct request keys, in order of first use.
    public var requestKeys: [RequestKey]
    /// The views read, in response order.
    public var projections: [Projection]

    /// The plan of a feature service.
    /// - Throws: ``QueryPlanError`` when the service is unknown.
    public init(service name: String, registry: Registry) throws(QueryPlanError) {
        guard let service = registry.service(named: name) else {
            let known = registry.services.map(\.name).sorted().joined(separator: ", ")
            throw QueryPlanError(
                "unknown feature service '\(name)' (this server has: \(known.isEmpty ? "none" : known))")
        }
        self.requestKeys = []
        self.projections = []
        for projection in service.projections {
            guard let view = registry.view(named: projection.view), let entity = registry.entity(named: view.entity)
            else {
                throw QueryPlanError("feature service '\(name)' uses unknown feature view '\(projection.view)'")
            }
            var indexes: [Int] = []
            for feature in projection.features {
                guard let index = view.featureIndex(feature) else {
                    throw QueryPlanError(
                        "feature service '\(name)' uses unknown feature '\(projection.view):\(feature)'")
                }
                indexes.append(index)
            }
            let keyNames = entity.joinKeys.map { projection.joinKeys[$0.name] ?? $0.name }
            self.addProjection(
                name: projection.name, view: view, entity: entity, requestKeyNames: keyNames, featureIndexes: indexes)
        }
    }

    /// The plan of an explicit list of `view:feature` references. Features of one view form one projection, joined
    /// by the view entity's own key names.
    /// - Throws: ``QueryPlanError`` naming a malformed reference, an unknown view or an unknown feature.
    public init(references: [String], registry: Registry) throws(QueryPlanError) {
        guard !references.isEmpty else {
            throw QueryPlanError("no features requested: set feature_service or at least one feature ref")
        }
        self.requestKeys = []
        self.projections = []
        var order: [String] = []
        var featuresByView: [String: [Int]] = [:]
        for reference in references {
            let parts = reference.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw QueryPlanError("feature ref '\(reference)' is not of the form view:feature")
            }
            let viewName = String(parts[0])
            let featureName = String(parts[1])
            guard let view = registry.view(named: viewName) else {
                throw QueryPlanError("feature ref '\(reference)': unknown feature view '\(viewName)'")
            }
            guard let index = view.featureIndex(featureName) else {
                throw QueryPlanError("feature ref '\(reference)': view '\(viewName)' has no feature '\(featureName)'")
            }
            if featuresByView[viewName] == nil {
                order.append(viewName)
            }
            featuresByView[viewName, default: []].append(index)
        }
        for viewName in order {
            let view = registry.view(named: viewName)!
            guard let entity = registry.entity(named: view.entity) else {
                throw QueryPlanError("feature view '\(viewName)' has unknown entity '\(view.entity)'")
            }
            self.addProjection(
                name: viewName, view: view, entity: entity, requestKeyNames: entity.joinKeys.map(\.name),
                featureIndexes: featuresByView[viewName]!)
        }
    }

    private mutating func addProjection(
        name: String, view: FeatureView, entity: Entity, requestKeyNames: [String], featureIndexes: [Int]
    ) {
        var keyIndexes: [Int] = []
        for (key, requestName) in zip(entity.joinKeys, requestKeyNames) {
            if let existing = self.requestKeys.firstIndex(where: { $0.name == requestName }) {
                keyIndexes.append(existing)
            } else {
                self.requestKeys.append(RequestKey(name: requestName, type: key.type))
                keyIndexes.append(self.requestKeys.count - 1)
            }
        }
        self.projections.append(
            Projection(
                name: name, view: view, requestKeys: keyIndexes, requestKeyNames: requestKeyNames,
                featureIndexes: featureIndexes, featureNames: featureIndexes.map { view.features[$0].name }))
    }
}

/// A lookup names something the registry does not have; INVALID_ARGUMENT on the wire.
public struct QueryPlanError: Error, Hashable, Sendable, CustomStringConvertible, GRPCStatusConvertible {
    public var message: String
    /// INVALID_ARGUMENT for a bad request; FAILED_PRECONDITION for a view this region does not store.
    public var code: GRPCStatus.Code

    public init(_ message: String, code: GRPCStatus.Code = .invalidArgument) {
        self.message = message
        self.code = code
    }

    public var description: String { self.message }
    public var grpcStatus: GRPCStatus { GRPCStatus(self.code, self.message) }
}
