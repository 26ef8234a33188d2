// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Registry parsing and checking: every problem is refused with a message naming it; query plans resolve keys.

import FreshetCore
import Testing

private func parse(_ text: String) throws(RegistryError) -> Registry {
    try Registry.parse(json: Array(text.utf8), source: "test.json")
}

private let entities = """
    "entities": [{"name": "plane", "join_keys": [{"name": "tailnum", "type": "string"}]},
                 {"name": "airport", "join_keys": [{"name": "faa", "type": "string"}]},
                 {"name": "route", "join_keys": [{"name": "origin", "type": "string"}, {"name": "hops", "type": "int64"}]}]
    """

private let views = """
    "feature_views": [
      {"name": "planes", "entity": "plane", "max_age": "0", "features": [{"name": "seats", "type": "int64"}, {"name": "year", "type": "int64"}]},
      {"name": "airports", "entity": "airport", "max_age": "90m", "features": [{"name": "tz", "type": "int64"}, {"name": "name", "type": "string"}]},
      {"name": "routes", "entity": "route", "features": [{"name": "km", "type": "double_list"}]}]
    """

@Suite("Registry")
struct RegistryTests {
    @Test func validRegistryParses() throws {
        let registry = try parse(
            """
            {\(entities), \(views),
             "feature_services": [{"name": "m.v2-b", "views": [
               {"view": "planes", "features": ["year"]},
               {"view": "airports", "as": "dest_airport", "join_keys": {"faa": "dest"}, "features": ["name", "tz"]}]}]}
            """)
        #expect(registry.views.map(\.name) == ["planes", "airports", "routes"])
        #expect(registry.view(named: "planes")?.maxAge == nil, "max_age 0 means never stale")
        #expect(registry.view(named: "airports")?.maxAge == .seconds(5400))
        #expect(registry.view(named: "routes")?.features.first?.type == .doubleList)
        #expect(registry.service(named: "m.v2-b")?.projections[1].name == "dest_airport")
        #expect(registry.entity(named: "route")?.joinKeys.map(\.type) == [.string, .int64])
    }

    @Test(arguments: [
        ("{\"entities\": [], \"feature_views\": [], \"extra\": 1}", "unknown field 'extra'"),
        ("{\"feature_views\": []}", "entities: missing"),
        (
            "{\"entities\": [{\"name\": \"p\", \"join_keys\": [{\"name\": \"k\", \"type\": \"uuid\"}]}], \"feature_views\": []}",
            "'uuid' is not a join key type"
        ),
        (
            "{\"entities\": [{\"name\": \"p\", \"join_keys\": []}], \"feature_views\": []}",
            "entity 'p' has no join keys"
        ),
        (
            "{\"entities\": [{\"name\": \"p q\", \"join_keys\": [{\"name\": \"k\", \"type\": \"string\"}]}], \"feature_views\": []}",
            "entity name 'p q' is not valid"
        ),
        (
            "{\"entities\": [{\"name\": 5, \"join_keys\": []}], \"feature_views\": []}",
            "entities[0].name: expected a string, found number"
        ),
        ("[1]", "registry: expected an object, found array"),
        ("{\"entities\": [", "invalid JSON: line 1, column 15"),
    ])
    func structuralProblemsAreNamed(text: String, expected: String) {
        #expect {
            _ = try parse(text)
        } throws: { error in
            (error as? RegistryError)?.description.contains(expected) == true
        }
    }

    @Test func everySemanticProblemIsListed() {
        let text = """
            {\(entities),
             "feature_views": [
               {"name": "planes", "entity": "plane", "features": [{"name": "seats", "type": "int64"}, {"name": "seats", "type": "string"}]},
               {"name": "planes", "entity": "plane", "features": [{"name": "seats", "type": "int64"}]},
               {"name": "boats", "entity": "boat", "features": [{"name": "x", "type": "float"}]},
               {"name": "empty", "entity": "plane", "features": []},
               {"name": "bad_age", "entity": "plane", "max_age": "soon", "features": [{"name": "x", "type": "float_list"}]},
               {"name": "routes", "entity": "route", "features": [{"name": "km", "type": "double_list"}]}],
             "feature_services": [
               {"name": "m", "views": [{"view": "trains", "features": ["x"]}]},
               {"name": "n", "views": [{"view": "planes", "features": ["wingspan"]}, {"view": "planes", "features": ["seats"]}]},
               {"name": "o", "views": [{"view": "routes", "join_keys": {"speed": "v"}, "features": ["km"]}]},
               {"name": "m", "views": []}]}
            """
        do {
            _ = try parse(text)
            Issue.record("a registry with problems was accepted")
        } catch {
            let message = error.description
            for expected in ["feature_views[4] ('bad_age').max_age: 'soon'"] {
                #expect(message.contains(expected), "missing '\(expected)' in:\n\(message)")
            }
        }
        // Structural problems come first; the semantic ones show once the structure is sound.
        let sound = text.replacing("\"max_age\": \"soon\", ", with: "")
        do {
            _ = try parse(sound)
            Issue.record("a registry with problems was accepted")
        } catch {
            let message = error.description
            for expected in [
                "feature view 'planes': duplicate feature 'seats'", "duplicate feature view 'planes'",
                "feature view 'boats': unknown entity 'boat'", "feature view 'empty' has no features",
                "feature service 'm', view 'trains': unknown feature view 'trains'",
                "unknown feature 'wingspan'", "duplicate feature service 'm'",
                "feature service 'n': duplicate view 'planes' (a view used twice needs an \"as\" alias",
                "feature service 'o', view 'routes': join_keys names 'speed', which is not a join key of entity 'route'",
                "feature service 'm' uses no views",
            ] {
                #expect(message.contains(expected), "missing '\(expected)' in:\n\(message)")
            }
        }
    }

    @Test func aRegistryPastItsLimitsIsRefused() {
        let views = (0...Registry.maxViews).map {
            #"{"name": "v\#($0)", "entity": "e", "features": [{"name": "f", "type": "int64"}]}"#
        }
        let many =
            #"{"entities": [{"name": "e", "join_keys": [{"name": "k", "type": "string"}]}], "feature_views": ["#
            + views.joined(separator: ",") + "]}"
        #expect(
            throws: RegistryError(
                source: "many.json", problems: ["the registry has 1001 feature views; the limit is 1000"])
        ) {
            try Registry.parse(json: Array(many.utf8), source: "many.json")
        }
        let padded =
            Array(#"{"description": ""#.utf8) + [UInt8](repeating: UInt8(ascii: "x"), count: 2 << 20)
            + Array(#"", "entities": []}"#.utf8)
        do {
            _ = try Registry.parse(json: padded, source: "big.json")
            Issue.record("a registry over 2 MiB parsed")
        } catch {
            #expect(
                error.problems == [
                    "the registry is \(padded.count) bytes; the limit is 2097152 (2 MiB): it travels in admin RPCs and is stored whole"
                ])
        }
    }

    @Test func aFeatureNamedLikeAJoinKeyIsRefused() {
        // Regression: such a view could never be loaded from CSV (one column name for two things).
        let text = """
            {"entities": [{"name": "e", "join_keys": [{"name": "k", "type": "string"}]}],
             "feature_views": [{"name": "v", "entity": "e", "features": [{"name": "k", "type": "int64"}]}]}
            """
        #expect {
            _ = try parse(text)
        } throws: { error in
            (error as? RegistryError)?.description.contains("feature 'k' has the name of a join key of entity 'e'")
                == true
        }
    }

    @Test func aByteOrderMarkIsIgnoredAndMissingFieldsAreAllReported() throws {
        let text = "\u{FEFF}{\"entities\": [], \"feature_views\": [{\"features\": [{}]}]}"
        #expect {
            _ = try parse(text)
        } throws: { error in
            let message = (error as? RegistryError)?.description ?? ""
            return message.contains("feature_views[0].name: missing")
                && message.contains("feature_views[0].entity: missing")
        }
        let features =
            "{\"entities\": [{\"name\": \"e\", \"join_keys\": [{\"name\": \"k\", \"type\": \"string\"}]}], \"feature_views\": [{\"name\": \"v\", \"entity\": \"e\", \"features\": [{}]}]}"
        #expect {
            _ = try parse(features)
        } throws: { error in
            let message = (error as? RegistryError)?.description ?? ""
            return message.contains("features[0].name: missing") && message.contains("features[0].type: missing")
        }
    }

    @Test func requestKeyUsedWithTwoTypesIsRefused() {
        let text = """
            {"entities": [{"name": "a", "join_keys": [{"name": "id", "type": "string"}]},
                          {"name": "b", "join_keys": [{"name": "id", "type": "int64"}]}],
             "feature_views": [{"name": "va", "entity": "a", "features": [{"name": "x", "type": "bool"}]},
                               {"name": "vb", "entity": "b", "features": [{"name": "y", "type": "bool"}]}],
             "feature_services": [{"name": "s", "views": [{"view": "va", "features": ["x"]}, {"view": "vb", "features": ["y"]}]}]}
            """
        #expect {
            _ = try parse(text)
        } throws: { error in
            (error as? RegistryError)?.description.contains("request key 'id' is used as both string and int64") == true
        }
    }

    @Test func servicePlanSharesRequestKeysAcrossViews() throws {
        let registry = try parse(
            """
            {\(entities), \(views),
             "feature_services": [{"name": "s", "views": [
               {"view": "airports", "as": "origin_airport", "join_keys": {"faa": "origin"}, "features": ["tz"]},
               {"view": "routes", "features": ["km"]},
               {"view": "airports", "as": "dest_airport", "join_keys": {"faa": "dest"}, "features": ["name", "tz"]}]}]}
            """)
        let plan = try QueryPlan(service: "s", registry: registry)
        #expect(plan.requestKeys.map(\.name) == ["origin", "hops", "dest"])
        #expect(plan.projections.map(\.name) == ["origin_airport", "routes", "dest_airport"])
        #expect(plan.projections[1].requestKeys == [0, 1], "routes reads origin (shared) and hops")
        #expect(plan.projections[2].featureIndexes == [1, 0])
        #expect(throws: QueryPlanError.self) { try QueryPlan(service: "nope", registry: registry) }
    }

    @Test func referencePlanGroupsFeaturesByView() throws {
        let registry = try parse("{\(entities), \(views)}")
        let plan = try QueryPlan(references: ["planes:year", "airports:tz", "planes:seats"], registry: registry)
        #expect(plan.projections.map(\.name) == ["planes", "airports"])
        #expect(plan.projections[0].featureNames == ["year", "seats"])
        #expect(plan.requestKeys.map(\.name) == ["tailnum", "faa"])
        for (references, expected) in [
            (["planes"], "not of the form view:feature"), (["planes:"], "not of the form"),
            (["boats:x"], "unknown feature view 'boats'"), (["planes:wingspan"], "has no feature 'wingspan'"),
            ([], "no features requested"),
        ] {
            #expect {
                _ = try QueryPlan(references: references, registry: registry)
            } throws: { error in
                (error as? QueryPlanError)?.message.contains(expected) == true
            }
        }
    }
}
