// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// `freshet snapshot`: a consistent, compacted copy of a data directory, to start a new region from.

import FreshetCore
import FreshetPosix
import FreshetServer
import FreshetStorage

enum SnapshotCommand {
    static let specs: [FlagSpec] = [
        FlagSpec(
            name: "data", kind: .value(placeholder: "DIR"),
            help: "the data directory to copy (may be in use by a running server: writes go on while it copies)"),
        FlagSpec(name: "out", kind: .value(placeholder: "FILE"), help: "the snapshot file to write (replaced)"),
    ]

    static func run(_ arguments: [String]) throws -> Int32 {
        if arguments.contains("--help") {
            Console.out(
                usage(
                    "freshet snapshot --data DIR --out FILE",
                    """
                    Writes a consistent, compacted copy of the store (LMDB copy with compaction): its rows, registry and
                    replication positions, all of one instant. Start a new region from it with
                    freshet serve --bootstrap FILE; producers then resume from the snapshot's positions.
                    """,
                    Self.specs))
            return 0
        }
        let flags = try Flags(arguments, specs: Self.specs)
        let data = try flags.required("data")
        let out = try flags.required("out")
        let started = ContinuousClock.now
        let summary: SnapshotSummary
        do {
            summary = try FeatureStore.writeSnapshot(directory: data, to: out)
        } catch let error as StorageError where error.code == .io || error.code == .invalid {
            throw CommandError("no Freshet data directory at \(data) (\(error))")
        }
        let elapsed = ContinuousClock.now - started
        var lines = [
            "snapshot \(out): \(summary.bytes) bytes, compacted from a data file of \(summary.sourceFileBytes) bytes, in \(elapsed.formatted)",
            "registry version \(summary.contents.registryVersion)",
        ]
        for view in summary.contents.views {
            lines.append("view \(view.name): \(view.rows) rows\(view.deleted > 0 ? " (+\(view.deleted) deleted)" : "")")
        }
        for source in summary.contents.sources {
            lines.append("source \(source.name): position \(source.appliedSequence)")
        }
        Console.out(lines.joined(separator: "\n") + "\n")
        return 0
    }
}
