// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Which registry changes a data directory can take in place, and why the others are refused.

/// The checks on a change from the registry a store holds to a new one.
///
/// Stored rows keep their values by feature position and their keys in the entity's key encoding, and deployed
/// models read features by name and type. So a change may add views and features, change `max_age` and descriptions,
/// and change which features a service lists; it may not change a feature's type or an entity's join keys (that
/// needs a new view version), and it may not remove a feature that a service of the old registry still in the new
/// one used (drop it from the service first). Features keep their positions (rows store values by position), so
/// they may be added or removed only at the end. Duplicate names and services naming unknown views or features never
/// get this far: ``Registry/parse(json:source:)`` refuses them.
public enum RegistryChange {
    /// Every problem with changing `old` into `new`, one message each, in registry order; empty when the change is
    /// fine.
    public static func problems(from old: Registry, to new: Registry) -> [String] {
        var problems: [String] = []
        for entity in new.entities {
            guard let before = old.entity(named: entity.name), before.joinKeys != entity.joinKeys else { continue }
            problems.append(
                "entity '\(entity.name)' changes its join keys from \(Self.describe(before.joinKeys)) to \(Self.describe(entity.joinKeys)); stored keys would no longer match (a key change needs a new view version)"
            )
        }
        for view in new.views {
            guard let before = old.view(named: view.name) else { continue }
            if before.entity != view.entity {
                problems.append(
                    "view '\(view.name)' changes its entity from '\(before.entity)' to '\(view.entity)'; stored keys would no longer match (a key change needs a new view version)"
                )
            }
            for feature in view.features {
                guard let previous = before.features.first(where: { $0.name == feature.name }),
                    previous.type != feature.type
                else { continue }
                problems.append(
                    "view '\(view.name)': feature '\(feature.name)' changes type from \(previous.type) to \(feature.type); a type change needs a new view version"
                )
            }
            // Rows keep their values by position: the features both registries have must keep their positions.
            for (position, feature) in before.features.enumerated() {
                guard let now = view.featureIndex(feature.name), now != position else { continue }
                problems.append(
                    "view '\(view.name)': feature '\(feature.name)' moves from position \(position + 1) to \(now + 1); stored rows keep their values by position, so features may only be added at the end or removed from the end (anything else needs a new view version)"
                )
                break
            }
            for feature in before.features where view.featureIndex(feature.name) == nil {
                let users = old.services.filter { service in
                    new.service(named: service.name) != nil
                        && service.projections.contains { $0.view == view.name && $0.features.contains(feature.name) }
                }
                if !users.isEmpty {
                    problems.append(
                        "view '\(view.name)': feature '\(feature.name)' is removed, but service \(users.map { "'\($0.name)'" }.joined(separator: ", ")) still uses it; drop it from the service first"
                    )
                }
            }
        }
        for view in old.views where new.view(named: view.name) == nil {
            let users = old.services.filter { service in
                new.service(named: service.name) != nil && service.projections.contains { $0.view == view.name }
            }
            if !users.isEmpty {
                problems.append(
                    "view '\(view.name)' is removed, but service \(users.map { "'\($0.name)'" }.joined(separator: ", ")) still uses it; drop it from the service first"
                )
            }
        }
        return problems
    }

    private static func describe(_ keys: [Entity.JoinKey]) -> String {
        "[" + keys.map { "\($0.name) \($0.type)" }.joined(separator: ", ") + "]"
    }
}
