// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// `freshet stats`: the views, row counts and LMDB usage of a data directory.

import FreshetCore
import FreshetPosix
import FreshetServer

enum StatsCommand {
    static let specs: [FlagSpec] = [
        FlagSpec(
            name: "data", kind: .value(placeholder: "DIR"), help: "data directory (may be in use by a running server)"),
        FlagSpec(name: "json", kind: .toggle, help: "print one JSON document"),
    ]

    static func run(_ arguments: [String]) throws -> Int32 {
        if arguments.contains("--help") {
            Console.out(
                usage(
                    "freshet stats --data DIR [--json]",
                    "Prints each stored view with its row count (and deleted rows kept as tombstones), each replication source's\nposition and counters, and the LMDB map usage.",
                    Self.specs))
            return 0
        }
        let flags = try Flags(arguments, specs: Self.specs)
        let data = try flags.required("data")
        let statistics: StoreStatistics
        do {
            statistics = try FeatureStore.inspect(directory: data)
        } catch {
            throw CommandError("no Freshet data directory at \(data) (\(error))")
        }
        if flags.isSet("json") {
            var writer = JSONWriter(pretty: true)
            writer.beginObject()
            writer.key("map_size_bytes")
            writer.writeInt64(Int64(statistics.mapSize))
            writer.key("used_bytes")
            writer.writeInt64(Int64(statistics.usedBytes))
            writer.key("registry_version")
            writer.writeInt64(Int64(clamping: statistics.registryVersion))
            writer.key("views")
            writer.beginObject()
            for view in statistics.views {
                writer.key(view.name)
                writer.beginObject()
                writer.key("rows")
                writer.writeInt64(Int64(view.rows))
                writer.key("deleted")
                writer.writeInt64(Int64(view.deleted))
                writer.key("features")
                writer.writeInt64(Int64(view.features))
                writer.key("backfill_from_version")
                if let mark = view.backfill {
                    writer.writeInt64(Int64(clamping: mark.version))
                } else {
                    writer.writeNull()
                }
                writer.key("backfill_id")
                if let mark = view.backfill {
                    writer.writeInt64(Int64(clamping: mark.id))
                } else {
                    writer.writeNull()
                }
                writer.endObject()
            }
            writer.endObject()
            writer.key("sources")
            writer.beginObject()
            for source in statistics.sources {
                writer.key(source.name)
                writer.beginObject()
                for (name, value) in [
                    ("applied_sequence", source.appliedSequence), ("written", source.written),
                    ("superseded", source.superseded), ("duplicates", source.duplicates),
                    ("unsubscribed", source.unsubscribed),
                ] {
                    writer.key(name)
                    writer.writeInt64(Int64(clamping: value))
                }
                writer.key("last_commit")
                if let time = source.lastCommit { writer.writeString(time.iso8601) } else { writer.writeNull() }
                writer.endObject()
            }
            writer.endObject()
            writer.endObject()
            print(writer.string)
        } else {
            print("map: \(statistics.usedBytes) of \(statistics.mapSize) bytes used")
            if statistics.registryVersion > 0 { print("registry: version \(statistics.registryVersion)") }
            for view in statistics.views {
                let deleted = view.deleted > 0 ? " (+\(view.deleted) deleted)" : ""
                let backfill =
                    view.backfill.map { "; needs backfill (subscribed at version \($0.version); backfill id \($0.id))" }
                    ?? ""
                print("view \(view.name): \(view.rows) rows\(deleted), \(view.features) features\(backfill)")
            }
            for source in statistics.sources {
                print(
                    "source \(source.name): position \(source.appliedSequence) (written \(source.written), superseded \(source.superseded), duplicates skipped \(source.duplicates)\(source.unsubscribed > 0 ? ", not stored here \(source.unsubscribed)" : "")), last commit \(source.lastCommit?.iso8601 ?? "never")"
                )
            }
        }
        return 0
    }
}
