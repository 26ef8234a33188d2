// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// The registry: entities with typed join keys, feature views, and feature services, read from JSON and checked.

/// An entity: what features describe (a plane, an airport), identified by one or more typed join keys.
public struct Entity: Hashable, Sendable {
    /// One join key of an entity.
    public struct JoinKey: Hashable, Sendable {
        public var name: String
        public var type: JoinKeyType

        public init(name: String, type: JoinKeyType) {
            self.name = name
            self.type = type
        }
    }

    public var name: String
    /// The join keys, in key order (a composite key is encoded in this order).
    public var joinKeys: [JoinKey]
    public var description: String

    public init(name: String, joinKeys: [JoinKey], description: String = "") {
        self.name = name
        self.joinKeys = joinKeys
        self.description = description
    }
}

/// A typed feature of a view.
public struct Feature: Hashable, Sendable {
    public var name: String
    public var type: FeatureType
    public var description: String

    public init(name: String, type: FeatureType, description: String = "") {
        self.name = name
        self.type = type
        self.description = description
    }
}

/// A feature view: a table of typed features for one entity, with the latest row per entity key.
public struct FeatureView: Hashable, Sendable {
    public var name: String
    /// The name of the view's ``Entity``.
    public var entity: String
    /// The features, in storage order: a stored row keeps its values in this order.
    public var features: [Feature]
    /// A row older than this (now − `event_time`) is STALE; `nil` means rows never go stale.
    public var maxAge: Duration?
    public var description: String

    public init(name: String, entity: String, features: [Feature], maxAge: Duration? = nil, description: String = "") {
        self.name = name
        self.entity = entity
        self.features = features
        self.maxAge = maxAge
        self.description = description
    }

    /// The index of the feature named `name`.
    public func featureIndex(_ name: String) -> Int? {
        self.features.firstIndex { $0.name == name }
    }
}

/// A feature service: the features one model needs, and how each view is joined to the request's keys.
public struct FeatureService: Hashable, Sendable {
    /// One view as used by a service.
    public struct Projection: Hashable, Sendable {
        /// The view read.
        public var view: String
        /// The name of this use in responses; defaults to the view name. Two uses of one view need two names
        /// (`origin_airport`, `dest_airport`).
        public var alias: String?
        /// View join key → request key name (`faa` → `origin`). Keys not listed are read under their own name.
        public var joinKeys: [String: String]
        /// The features returned, in this order.
        public var features: [String]

        public init(view: String, alias: String? = nil, joinKeys: [String: String] = [:], features: [String]) {
            self.view = view
            self.alias = alias
            self.joinKeys = joinKeys
            self.features = features
        }

        /// The name of this use in responses.
        public var name: String { self.alias ?? self.view }
    }

    public var name: String
    public var projections: [Projection]
    public var description: String

    public init(name: String, projections: [Projection], description: String = "") {
        self.name = name
        self.projections = projections
        self.description = description
    }
}

/// The set of entities, views and services a server knows.
public struct Registry: Hashable, Sendable {
    public var entities: [Entity]
    public var views: [FeatureView]
    public var services: [FeatureService]

    public init(entities: [Entity] = [], views: [FeatureView] = [], services: [FeatureService] = []) {
        self.entities = entities
        self.views = views
        self.services = services
    }

    public func entity(named name: String) -> Entity? { self.entities.first { $0.name == name } }
    public func view(named name: String) -> FeatureView? { self.views.first { $0.name == name } }
    public func service(named name: String) -> FeatureService? { self.services.first { $0.name == name } }

    /// The names of the views the given services read (a region that serves them stores exactly these).
    public func viewNames(usedBy services: [String]) -> Set<String> {
        var names: Set<String> = []
        for name in services {
            for projection in self.service(named: name)?.projections ?? [] { names.insert(projection.view) }
        }
        return names
    }
}

/// A registry that cannot be used: each problem is named.
public struct RegistryError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Where the registry came from (a file path).
    public var source: String
    /// One line per problem, each naming the object and field.
    public var problems: [String]

    public init(source: String, problems: [String]) {
        self.source = source
        self.problems = problems
    }

    public var description: String {
        if self.problems.count == 1 {
            return "registry \(self.source): \(self.problems[0])"
        }
        return "registry \(self.source): \(self.problems.count) problems:\n"
            + self.problems.map { "  - \($0)" }.joined(separator: "\n")
    }
}

// MARK: - Reading JSON

extension Registry {
    /// Reads and checks a registry document.
    ///
    /// ```json
    /// {"entities": [{"name": "plane", "join_keys": [{"name": "tailnum", "type": "string"}]}],
    ///  "feature_views": [{"name": "planes", "entity": "plane", "max_age": "0",
    ///                     "features": [{"name": "seats", "type": "int64"}]}],
    ///  "feature_services": [{"name": "delay_model",
    ///                        "views": [{"view": "planes", "features": ["seats"]}]}]}
    /// ```
    /// - Parameters:
    ///   - bytes: the JSON text.
    ///   - source: a name for messages (the file path).
    /// - Throws: ``RegistryError`` listing every problem: bad JSON (with line and column), unknown fields, missing
    ///   or mistyped fields, bad names, duplicates, unknown references.
    public static func parse(json bytes: [UInt8], source: String) throws(RegistryError) -> Registry {
        guard bytes.count <= Self.maxJSONBytes else {
            throw RegistryError(
                source: source,
                problems: [
                    "the registry is \(bytes.count) bytes; the limit is \(Self.maxJSONBytes) (2 MiB): it travels in admin RPCs and is stored whole"
                ])
        }
        let document: JSONValue
        do {
            // Editors on some systems save UTF-8 with a byte-order mark; it carries no meaning here.
            let hasBOM = bytes.starts(with: [0xEF, 0xBB, 0xBF])
            document = try JSONParser.parse(hasBOM ? bytes.dropFirst(3) : bytes[...])
        } catch {
            throw RegistryError(source: source, problems: ["invalid JSON: \(error)"])
        }
        var reader = RegistryReader()
        let registry = reader.read(document)
        var problems = reader.problems
        if problems.isEmpty {
            problems = registry.validationProblems()
        }
        guard problems.isEmpty else { throw RegistryError(source: source, problems: problems) }
        return registry
    }

    /// The largest registry document (2 MiB): it is stored whole and sent whole by `GetRegistry`.
    public static let maxJSONBytes = 2 << 20
    /// The most feature views a registry may have: each stored view is an LMDB database, and a data directory opens
    /// at most 1024 of them (the metadata takes one, later view versions more).
    public static let maxViews = 1000

    /// The problems that make this registry unusable; empty when it is valid.
    public func validationProblems() -> [String] {
        var problems: [String] = []
        if self.views.count > Self.maxViews {
            problems.append("the registry has \(self.views.count) feature views; the limit is \(Self.maxViews)")
        }
        func checkName(_ name: String, _ what: String) {
            if !isValidName(name) {
                problems.append(
                    "\(what) name '\(name)' is not valid: use letters, digits and '_', starting with a letter or '_'")
            }
        }
        /// Reports each repeated name: "`place`: duplicate `what` 'name'" (or without a place at the top level).
        func checkDuplicates(_ names: [String], _ what: String, in place: String? = nil, hint: String = "") {
            var seen: Set<String> = []
            var reported: Set<String> = []
            for name in names where !seen.insert(name).inserted && reported.insert(name).inserted {
                let prefix = place.map { "\($0): " } ?? ""
                problems.append("\(prefix)duplicate \(what) '\(name)'\(hint)")
            }
        }
        checkDuplicates(self.entities.map(\.name), "entity")
        checkDuplicates(self.views.map(\.name), "feature view")
        checkDuplicates(self.services.map(\.name), "feature service")

        for entity in self.entities {
            checkName(entity.name, "entity")
            if entity.joinKeys.isEmpty {
                problems.append("entity '\(entity.name)' has no join keys")
            }
            for key in entity.joinKeys { checkName(key.name, "entity '\(entity.name)': join key") }
            checkDuplicates(entity.joinKeys.map(\.name), "join key", in: "entity '\(entity.name)'")
        }
        for view in self.views {
            checkName(view.name, "feature view")
            if self.entity(named: view.entity) == nil {
                problems.append("feature view '\(view.name)': unknown entity '\(view.entity)'")
            }
            if view.features.isEmpty {
                problems.append("feature view '\(view.name)' has no features")
            }
            if view.features.count > Int(UInt16.max) {
                problems.append("feature view '\(view.name)' has \(view.features.count) features; the limit is 65535")
            }
            for feature in view.features { checkName(feature.name, "feature view '\(view.name)': feature") }
            if let entity = self.entity(named: view.entity) {
                // A CSV row names keys and features by column, so they must not share a name.
                for feature in view.features where entity.joinKeys.contains(where: { $0.name == feature.name }) {
                    problems.append(
                        "feature view '\(view.name)': feature '\(feature.name)' has the name of a join key of entity '\(entity.name)'"
                    )
                }
            }
            checkDuplicates(view.features.map(\.name), "feature", in: "feature view '\(view.name)'")
        }
        for service in self.services {
            if !isValidServiceName(service.name) {
                problems.append(
                    "feature service name '\(service.name)' is not valid: use letters, digits, '_', '-' and '.'")
            }
            if service.projections.isEmpty {
                problems.append("feature service '\(service.name)' uses no views")
            }
            checkDuplicates(
                service.projections.map(\.name), "view", in: "feature service '\(service.name)'",
                hint: " (a view used twice needs an \"as\" alias on the second use)")
            var requestKeyTypes: [String: JoinKeyType] = [:]
            for projection in service.projections {
                let place = "feature service '\(service.name)', view '\(projection.name)'"
                if let alias = projection.alias { checkName(alias, "\(place): alias") }
                guard let view = self.view(named: projection.view) else {
                    problems.append("\(place): unknown feature view '\(projection.view)'")
                    continue
                }
                if projection.features.isEmpty {
                    problems.append("\(place): no features listed")
                }
                for feature in projection.features where view.featureIndex(feature) == nil {
                    problems.append(
                        "\(place): unknown feature '\(feature)' (view '\(view.name)' has \(view.features.map(\.name).joined(separator: ", ")))"
                    )
                }
                checkDuplicates(projection.features, "feature", in: place)
                guard let entity = self.entity(named: view.entity) else { continue }
                for viewKey in projection.joinKeys.keys.sorted()
                where !entity.joinKeys.contains(where: { $0.name == viewKey }) {
                    problems.append(
                        "\(place): join_keys names '\(viewKey)', which is not a join key of entity '\(entity.name)'")
                }
                for key in entity.joinKeys {
                    let requestName = projection.joinKeys[key.name] ?? key.name
                    checkName(requestName, "\(place): request key")
                    if let known = requestKeyTypes[requestName], known != key.type {
                        problems.append(
                            "\(place): request key '\(requestName)' is used as both \(known) and \(key.type)")
                    }
                    requestKeyTypes[requestName] = key.type
                }
            }
        }
        return problems
    }
}

/// Letters, digits and `_`, starting with a letter or `_`; at most 128 bytes.
func isValidName(_ name: String) -> Bool {
    guard let first = name.utf8.first, name.utf8.count <= 128 else { return false }
    let isLetter = { (byte: UInt8) in (byte | 0x20) >= UInt8(ascii: "a") && (byte | 0x20) <= UInt8(ascii: "z") }
    guard isLetter(first) || first == UInt8(ascii: "_") else { return false }
    return name.utf8.allSatisfy {
        isLetter($0) || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || $0 == UInt8(ascii: "_")
    }
}

/// Like ``isValidName(_:)``, also allowing `-` and `.` (service names often carry model versions).
func isValidServiceName(_ name: String) -> Bool {
    isValidName(name.replacingDashesAndDots())
}

extension String {
    fileprivate func replacingDashesAndDots() -> String {
        String(String.UnicodeScalarView(self.unicodeScalars.map { $0 == "-" || $0 == "." ? "_" : $0 }))
    }
}

/// Turns a JSON document into a ``Registry``, collecting every structural problem with its JSON path.
private struct RegistryReader {
    var problems: [String] = []

    mutating func read(_ document: JSONValue) -> Registry {
        guard let root = self.object(document, at: "registry") else { return Registry() }
        self.rejectUnknown(
            root, allowed: ["entities", "feature_views", "feature_services", "description"], at: "registry")
        var registry = Registry()
        for (index, item) in self.array(root["entities"], at: "entities", required: true).enumerated() {
            if let entity = self.readEntity(item, at: "entities[\(index)]") { registry.entities.append(entity) }
        }
        for (index, item) in self.array(root["feature_views"], at: "feature_views", required: true).enumerated() {
            if let view = self.readView(item, at: "feature_views[\(index)]") { registry.views.append(view) }
        }
        for (index, item) in self.array(root["feature_services"], at: "feature_services", required: false).enumerated()
        {
            if let service = self.readService(item, at: "feature_services[\(index)]") {
                registry.services.append(service)
            }
        }
        return registry
    }

    private mutating func readEntity(_ value: JSONValue, at path: String) -> Entity? {
        guard let object = self.object(value, at: path) else { return nil }
        self.rejectUnknown(object, allowed: ["name", "join_keys", "description"], at: path)
        guard let name = self.string(object["name"], at: "\(path).name") else { return nil }
        let path = "\(path) ('\(name)')"
        var keys: [Entity.JoinKey] = []
        for (index, item) in self.array(object["join_keys"], at: "\(path).join_keys", required: true).enumerated() {
            let keyPath = "\(path).join_keys[\(index)]"
            guard let keyObject = self.object(item, at: keyPath) else { continue }
            self.rejectUnknown(keyObject, allowed: ["name", "type", "description"], at: keyPath)
            let keyName = self.string(keyObject["name"], at: "\(keyPath).name")
            let typeName = self.string(keyObject["type"], at: "\(keyPath).type")
            guard let keyName, let typeName else { continue }
            guard let type = JoinKeyType(rawValue: typeName) else {
                self.problems.append("\(keyPath).type: '\(typeName)' is not a join key type (string, int64)")
                continue
            }
            keys.append(Entity.JoinKey(name: keyName, type: type))
        }
        return Entity(
            name: name, joinKeys: keys,
            description: self.optionalString(object["description"], at: "\(path).description"))
    }

    private mutating func readView(_ value: JSONValue, at path: String) -> FeatureView? {
        guard let object = self.object(value, at: path) else { return nil }
        self.rejectUnknown(object, allowed: ["name", "entity", "features", "max_age", "description"], at: path)
        let name = self.string(object["name"], at: "\(path).name")
        let entity = self.string(object["entity"], at: "\(path).entity")
        guard let name, let entity else { return nil }
        let path = "\(path) ('\(name)')"
        var maxAge: Duration?
        if let text = object["max_age"], !text.isNull {
            if let ageText = self.string(text, at: "\(path).max_age") {
                do {
                    let age = try Duration(parsing: ageText)
                    maxAge = age == .zero ? nil : age
                } catch {
                    self.problems.append("\(path).max_age: \(error)")
                }
            }
        }
        var features: [Feature] = []
        for (index, item) in self.array(object["features"], at: "\(path).features", required: true).enumerated() {
            let featurePath = "\(path).features[\(index)]"
            guard let featureObject = self.object(item, at: featurePath) else { continue }
            self.rejectUnknown(featureObject, allowed: ["name", "type", "description"], at: featurePath)
            let featureName = self.string(featureObject["name"], at: "\(featurePath).name")
            let typeName = self.string(featureObject["type"], at: "\(featurePath).type")
            guard let featureName, let typeName else { continue }
            guard let type = FeatureType(rawValue: typeName) else {
                let known = FeatureType.allCases.map(\.rawValue).joined(separator: ", ")
                self.problems.append("\(featurePath).type: '\(typeName)' is not a feature type (\(known))")
                continue
            }
            features.append(
                Feature(
                    name: featureName, type: type,
                    description: self.optionalString(featureObject["description"], at: "\(featurePath).description")))
        }
        return FeatureView(
            name: name, entity: entity, features: features, maxAge: maxAge,
            description: self.optionalString(object["description"], at: "\(path).description"))
    }

    private mutating func readService(_ value: JSONValue, at path: String) -> FeatureService? {
        guard let object = self.object(value, at: path) else { return nil }
        self.rejectUnknown(object, allowed: ["name", "views", "description"], at: path)
        guard let name = self.string(object["name"], at: "\(path).name") else { return nil }
        let path = "\(path) ('\(name)')"
        var projections: [FeatureService.Projection] = []
        for (index, item) in self.array(object["views"], at: "\(path).views", required: true).enumerated() {
            let projectionPath = "\(path).views[\(index)]"
            guard let projectionObject = self.object(item, at: projectionPath) else { continue }
            self.rejectUnknown(projectionObject, allowed: ["view", "as", "join_keys", "features"], at: projectionPath)
            guard let view = self.string(projectionObject["view"], at: "\(projectionPath).view") else { continue }
            var alias: String?
            if let aliasValue = projectionObject["as"] {
                alias = self.string(aliasValue, at: "\(projectionPath).as")
            }
            var joinKeys: [String: String] = [:]
            if let mapping = projectionObject["join_keys"] {
                if let mappingObject = self.object(mapping, at: "\(projectionPath).join_keys") {
                    for member in mappingObject.members {
                        if let requestName = self.string(member.value, at: "\(projectionPath).join_keys.\(member.key)")
                        {
                            joinKeys[member.key] = requestName
                        }
                    }
                }
            }
            var features: [String] = []
            for (featureIndex, feature) in self.array(
                projectionObject["features"], at: "\(projectionPath).features", required: true
            ).enumerated() {
                if let featureName = self.string(feature, at: "\(projectionPath).features[\(featureIndex)]") {
                    features.append(featureName)
                }
            }
            projections.append(
                FeatureService.Projection(view: view, alias: alias, joinKeys: joinKeys, features: features))
        }
        return FeatureService(
            name: name, projections: projections,
            description: self.optionalString(object["description"], at: "\(path).description"))
    }

    // MARK: Typed field access that records problems

    private mutating func object(_ value: JSONValue?, at path: String) -> JSONObject? {
        guard let value else {
            self.problems.append("\(path): missing")
            return nil
        }
        guard let object = value.objectValue else {
            self.problems.append("\(path): expected an object, found \(value.typeName)")
            return nil
        }
        return object
    }

    private mutating func array(_ value: JSONValue?, at path: String, required: Bool) -> [JSONValue] {
        guard let value else {
            if required { self.problems.append("\(path): missing") }
            return []
        }
        guard let array = value.arrayValue else {
            self.problems.append("\(path): expected an array, found \(value.typeName)")
            return []
        }
        return array
    }

    private mutating func string(_ value: JSONValue?, at path: String) -> String? {
        guard let value else {
            self.problems.append("\(path): missing")
            return nil
        }
        guard let text = value.stringValue else {
            self.problems.append("\(path): expected a string, found \(value.typeName)")
            return nil
        }
        return text
    }

    private mutating func optionalString(_ value: JSONValue?, at path: String) -> String {
        guard let value, !value.isNull else { return "" }
        return self.string(value, at: path) ?? ""
    }

    private mutating func rejectUnknown(_ object: JSONObject, allowed: Set<String>, at path: String) {
        for key in object.keys where !allowed.contains(key) {
            self.problems.append(
                "\(path): unknown field '\(key)' (allowed: \(allowed.sorted().joined(separator: ", ")))")
        }
    }
}
