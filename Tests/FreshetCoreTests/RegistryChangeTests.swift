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
        // A feature at the end that no service uses may go (positions of the others stay).
        var dropped = added
        dropped.views[0].features.removeAll { $0.name == "engines" }
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
        removed.views[0].features.removeAll { $0.name == "seats" }
        removed.services[0].projections[0].features = ["year"]
        #expect(
            RegistryChange.problems(from: Self.base, to: removed) == [
                "view 'planes': feature 'seats' is removed, but service 'delay_model' still uses it; drop it from the service first"
            ])

        // Stored rows keep values by position: a feature removed from the middle, or a reorder, moves the others.
        var middle = Self.base
        middle.views[0].features.removeAll { $0.name == "year" }
        middle.services[0].projections[0].features = ["seats"]
        let moved1 = RegistryChange.problems(from: Self.base, to: middle)
        #expect(
            moved1.count == 2 && moved1[0].hasPrefix("view 'planes': feature 'seats' moves from position 2 to 1"),
            "\(moved1)")
        var reordered = Self.base
        reordered.views[0].features.reverse()
        #expect(
            RegistryChange.problems(from: Self.base, to: reordered).first?.hasPrefix(
                "view 'planes': feature 'year' moves from position 1 to 2; stored rows keep their values by position")
                == true)

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
