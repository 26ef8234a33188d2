// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// `freshet load`: a CSV or JSONL file into one feature view, in one write transaction.

import FreshetCore
import FreshetPosix
import FreshetServer
import FreshetStorage

enum LoadCommand {
    static let specs: [FlagSpec] =
        [
            FlagSpec(
                name: "data", kind: .value(placeholder: "DIR"),
                help: "data directory (may be in use by a running server)")
        ] + RowFileFlags.specs + [
            FlagSpec(name: "map-size", kind: .value(placeholder: "SIZE"), help: "LMDB map size (default 4GiB)")
        ]

    static func run(_ arguments: [String]) throws -> Int32 {
        if arguments.contains("--help") {
            Console.out(
                usage(
                    "freshet load --data DIR --registry FILE --view VIEW (--csv FILE | --jsonl FILE) [options]",
                    "Loads every row of the file into the view in one LMDB write transaction: a bad line loads nothing.\nA stored row with a newer event_time is kept (newest event wins). Works while a server runs on DIR.",
                    Self.specs))
            return 0
        }
        let flags = try Flags(arguments, specs: Self.specs)
        let data = try flags.required("data")
        let started = ContinuousClock.now
        let file = try RowFileFlags(flags)
        let (registry, view, entity, path, eventTime) = (
            file.registry, file.view, file.entity, file.path, file.eventTime
        )
        var options = StoreOptions()
        options.mapSize = try flags.byteSize("map-size", default: 4 << 30)
        let summary: FeatureStore.LoadSummary
        do {
            // A CSV header is checked before the store opens; each line is parsed inside the one write transaction,
            // so a bad line aborts the whole load.
            if file.isCSV {
                var rows = try CSVRowReader(file.bytes, file: path, view: view, entity: entity, eventTime: eventTime)
                let store = try FeatureStore(directory: data, registry: registry, options: options)
                summary = try store.load(view: view.name, from: &rows, ingestTime: Timestamp.now())
            } else {
                var rows = JSONLRowReader(file.bytes, file: path, view: view, entity: entity, eventTime: eventTime)
                let store = try FeatureStore(directory: data, registry: registry, options: options)
                summary = try store.load(view: view.name, from: &rows, ingestTime: Timestamp.now())
            }
        } catch let error as StorageError where error.code == .mapFull {
            throw CommandError(
                "\(error): the data directory is full at --map-size \(options.mapSize) bytes; nothing was loaded. "
                    + "Rerun with a larger --map-size (a running server adopts the larger map by itself).")
        }
        let elapsed = ContinuousClock.now - started
        print(
            "loaded \(summary.written) rows into \(view.name) from \(path) (\(summary.skippedOlder) kept because the stored row is newer) in \(elapsed.formatted)"
        )
        return 0
    }
}

extension Duration {
    /// `0.123 s`.
    var formatted: String {
        let (seconds, attoseconds) = self.components
        let milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        let fraction = String(milliseconds % 1000)
        return "\(milliseconds / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction) s"
    }
}
