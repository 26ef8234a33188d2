// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// `freshet load`: a CSV or JSONL file into one feature view, in one write transaction.

import FreshetCore
import FreshetPosix
import FreshetServer
import FreshetStorage

enum LoadCommand {
    static let specs: [FlagSpec] = [
        FlagSpec(
            name: "data", kind: .value(placeholder: "DIR"), help: "data directory (may be in use by a running server)"),
        FlagSpec(name: "registry", kind: .value(placeholder: "FILE"), help: "registry JSON"),
        FlagSpec(name: "view", kind: .value(placeholder: "VIEW"), help: "the feature view to load"),
        FlagSpec(
            name: "csv", kind: .value(placeholder: "FILE"), help: "CSV with a header naming the join keys and features"),
        FlagSpec(
            name: "jsonl", kind: .value(placeholder: "FILE"),
            help: "JSON lines {\"entity\":{..},\"event_time\":..,\"features\":{..}}"),
        FlagSpec(
            name: "event-time-column", kind: .value(placeholder: "NAME"),
            help: "column (CSV) or member (JSONL) holding each row's ISO 8601 event time"),
        FlagSpec(
            name: "event-time", kind: .value(placeholder: "ISO8601"),
            help: "one event time for every row (CSV default: now)"),
        FlagSpec(name: "map-size", kind: .value(placeholder: "SIZE"), help: "LMDB map size (default 4GiB)"),
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
        let registry = try loadRegistry(try flags.required("registry"))
        let viewName = try flags.required("view")
        guard let view = registry.view(named: viewName), let entity = registry.entity(named: view.entity) else {
            throw UsageError(
                "--view: the registry has no feature view '\(viewName)' (it has: \(registry.views.map(\.name).joined(separator: ", ")))"
            )
        }
        let csv = flags.value("csv")
        let jsonl = flags.value("jsonl")
        guard (csv == nil) != (jsonl == nil) else { throw UsageError("give exactly one of --csv and --jsonl") }
        if flags.isSet("event-time") && flags.isSet("event-time-column") {
            throw UsageError("give at most one of --event-time and --event-time-column")
        }
        let started = ContinuousClock.now
        var eventTime: EventTimeSource
        if let text = flags.value("event-time") {
            do {
                eventTime = .fixed(try Timestamp(iso8601: text))
            } catch {
                throw UsageError("--event-time: \(error)")
            }
        } else if let column = flags.value("event-time-column") {
            eventTime = .column(column)
        } else {
            eventTime = csv != nil ? .fixed(Timestamp.now()) : .column("event_time")
        }
        let path = csv ?? jsonl!
        let bytes: [UInt8]
        do {
            bytes = try FileIO.readAll(path)
        } catch {
            throw CommandError("cannot read \(path): \(error)")
        }
        var options = StoreOptions()
        options.mapSize = try flags.byteSize("map-size", default: 4 << 30)
        let summary: FeatureStore.LoadSummary
        do {
            // A CSV header is checked before the store opens; each line is parsed inside the one write transaction,
            // so a bad line aborts the whole load.
            if csv != nil {
                var rows = try CSVRowReader(bytes, file: path, view: view, entity: entity, eventTime: eventTime)
                let store = try FeatureStore(directory: data, registry: registry, options: options)
                summary = try store.load(view: viewName, from: &rows, ingestTime: Timestamp.now())
            } else {
                var rows = JSONLRowReader(bytes, file: path, view: view, entity: entity, eventTime: eventTime)
                let store = try FeatureStore(directory: data, registry: registry, options: options)
                summary = try store.load(view: viewName, from: &rows, ingestTime: Timestamp.now())
            }
        } catch let error as StorageError where error.code == .mapFull {
            throw CommandError(
                "\(error): the data directory is full at --map-size \(options.mapSize) bytes; nothing was loaded. "
                    + "Rerun with a larger --map-size (a running server adopts the larger map by itself).")
        }
        let elapsed = ContinuousClock.now - started
        print(
            "loaded \(summary.written) rows into \(viewName) from \(path) (\(summary.skippedOlder) kept because the stored row is newer) in \(elapsed.formatted)"
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
