// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// The flags `freshet load` and `freshet push` share: the registry, the view, the file and where event times come from.

import FreshetCore
import FreshetPosix

/// A row file named on the command line, checked against the registry and read into memory.
struct RowFileFlags {
    /// The flags themselves, for each command's table.
    static let specs: [FlagSpec] = [
        FlagSpec(name: "registry", kind: .value(placeholder: "FILE"), help: "registry JSON"),
        FlagSpec(name: "view", kind: .value(placeholder: "VIEW"), help: "the feature view the file holds"),
        FlagSpec(
            name: "csv", kind: .value(placeholder: "FILE"), help: "CSV with a header naming the join keys and features"),
        FlagSpec(
            name: "jsonl", kind: .value(placeholder: "FILE"),
            help:
                "JSON lines {\"entity\":{..},\"event_time\":..,\"features\":{..}}; \"op\":\"delete\" (no features) deletes"
        ),
        FlagSpec(
            name: "event-time-column", kind: .value(placeholder: "NAME"),
            help: "column (CSV) or member (JSONL) holding each row's ISO 8601 event time"),
        FlagSpec(
            name: "event-time", kind: .value(placeholder: "ISO8601"),
            help: "one event time for every row (CSV default: now)"),
    ]

    let registry: Registry
    let view: FeatureView
    let entity: Entity
    /// The file's path, and whether it is CSV (else JSONL).
    let path: String
    let isCSV: Bool
    let eventTime: EventTimeSource
    let bytes: [UInt8]

    /// Checks the flags and reads the registry and the file.
    /// - Throws: ``UsageError`` for bad or conflicting flags; ``CommandError`` when a file cannot be read.
    init(_ flags: Flags) throws {
        self.registry = try loadRegistry(try flags.required("registry"))
        let viewName = try flags.required("view")
        guard let view = self.registry.view(named: viewName), let entity = self.registry.entity(named: view.entity)
        else {
            throw UsageError(
                "--view: the registry has no feature view '\(viewName)' (it has: \(self.registry.views.map(\.name).joined(separator: ", ")))"
            )
        }
        self.view = view
        self.entity = entity
        let csv = flags.value("csv")
        let jsonl = flags.value("jsonl")
        guard (csv == nil) != (jsonl == nil) else { throw UsageError("give exactly one of --csv and --jsonl") }
        if flags.isSet("event-time") && flags.isSet("event-time-column") {
            throw UsageError("give at most one of --event-time and --event-time-column")
        }
        if let text = flags.value("event-time") {
            do {
                self.eventTime = .fixed(try Timestamp(iso8601: text))
            } catch {
                throw UsageError("--event-time: \(error)")
            }
        } else if let column = flags.value("event-time-column") {
            self.eventTime = .column(column)
        } else {
            self.eventTime = csv != nil ? .fixed(Timestamp.now()) : .column("event_time")
        }
        self.isCSV = csv != nil
        self.path = csv ?? jsonl!
        do {
            self.bytes = try FileIO.readAll(self.path)
        } catch {
            throw CommandError("cannot read \(self.path): \(error)")
        }
    }
}
