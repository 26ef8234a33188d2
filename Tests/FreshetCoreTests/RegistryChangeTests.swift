// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Tests for the registry change checks: which changes a store takes in place, and the message for each refusal.

import FreshetCore
import Testing

@Suite("Registry changes")
struct RegistryChangeTests {
    static let base = Registry(
        entities: [
            Entity(name: "plane", joinKeys: [.init(name: "tailnum", type: .string)]),
            Entity(name: "airport", joinKeys: [.init(name: "faa", type: .string)]),
        ],
        views: [
            FeatureView(
                name: "planes", entity: "plane",
                features: [Feature(name: "year", type: .int64), Feature(name: "seats", type: .int64)]),
            FeatureView(name: "airports", entity: "airport", features: [Feature(name: "tz", type: .int64)]),
        ],
        services: [
            FeatureService(
                name: "delay_model",
                projections: [
                    .init(view: "planes", features: ["year", "seats"]),
                    .init(view: "airports", features: ["tz"]),
                ])
        ])

    @Test("accepted: the same registry, a new feature, a new view, max_age, a service's feature list, a new service")
    func acceptedChanges() {
        var added = Self.base
        added.views[0].features.append(Feature(name: "engines", type: .int64))
        added.views.append(
            FeatureView(name: "weather", entity: "airport", features: [Feature(name: "temp", type: .double)]))
        added.views[1].maxAge = .seconds(3600)
        added.services[0].projections[0].features = ["seats"]
        added.services.append(
            FeatureService(name: "weather_model", projections: [.init(view: "weather", features: ["temp"])]))
        #expect(RegistryChange.problems(from: Self.base, to: Self.base).isEmpty)
        #expect(
            RegistryChange.problems(from: Self.base, to: added).isEmpty,
            "\(RegistryChange.problems(from: Self.base, to: added))")
        // A feature no service of the new registry keeps using may go once the service dropped it.
        var dropped = added
        dropped.views[0].features.removeAll { $0.name == "year" }
        #expect(RegistryChange.problems(from: added, to: dropped).isEmpty)
    }

    @Test("refused: a feature's type, an entity's key, a view's entity, a removed feature or view a service uses")
    func refusedChanges() {
        var retyped = Self.base
        retyped.views[0].features[1].type = .string
        #expect(
            RegistryChange.problems(from: Self.base, to: retyped) == [
                "view 'planes': feature 'seats' changes type from int64 to string; a type change needs a new view version"
            ])

        var rekeyed = Self.base
        rekeyed.entities[0].joinKeys = [.init(name: "tailnum", type: .int64)]
        #expect(
            RegistryChange.problems(from: Self.base, to: rekeyed).first?.contains(
                "entity 'plane' changes its join keys from [tailnum string] to [tailnum int64]") == true)

        var moved = Self.base
        moved.views[1].entity = "plane"
        #expect(
            RegistryChange.problems(from: Self.base, to: moved).first?.contains(
                "view 'airports' changes its entity from 'airport' to 'plane'") == true)

        // The service keeps existing but no longer lists the feature, and the view drops it in the same change.
        var removed = Self.base
        removed.views[0].features.removeAll { $0.name == "year" }
        removed.services[0].projections[0].features = ["seats"]
        #expect(
            RegistryChange.problems(from: Self.base, to: removed) == [
                "view 'planes': feature 'year' is removed, but service 'delay_model' still uses it; drop it from the service first"
            ])

        var viewGone = Self.base
        viewGone.views.removeAll { $0.name == "airports" }
        viewGone.services[0].projections.removeAll { $0.view == "airports" }
        #expect(
            RegistryChange.problems(from: Self.base, to: viewGone) == [
                "view 'airports' is removed, but service 'delay_model' still uses it; drop it from the service first"
            ])

        // Every problem is named, not just the first.
        var both = retyped
        both.entities[1].joinKeys = [.init(name: "code", type: .string)]
        #expect(RegistryChange.problems(from: Self.base, to: both).count == 2)
    }
}
