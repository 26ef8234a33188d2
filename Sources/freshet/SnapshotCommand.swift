// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// `freshet snapshot`: a consistent, compacted copy of a data directory, to start a new region from.

import FreshetCore
import FreshetGRPC
import FreshetPosix
import FreshetProto
import FreshetServer
import FreshetStorage

enum SnapshotCommand {
    static let specs: [FlagSpec] = [
        FlagSpec(
            name: "data", kind: .value(placeholder: "DIR"),
            help: "the data directory to copy (may be in use by a running server: writes go on while it copies)"),
        FlagSpec(
            name: "server", kind: .value(placeholder: "HOST:PORT"),
            help: "a running server to snapshot instead (freshet.v1.Admin CreateSnapshot, pulled in 1 MiB chunks)"),
        FlagSpec(name: "out", kind: .value(placeholder: "FILE"), help: "the snapshot file to write (replaced)"),
    ]

    static func run(_ arguments: [String]) throws -> Int32 {
        if arguments.contains("--help") {
            Console.out(
                usage(
                    "freshet snapshot (--data DIR | --server HOST:PORT) --out FILE",
                    """
                    Writes a consistent, compacted copy of the store (LMDB copy with compaction): its rows, registry and
                    replication positions, all of one instant. Start a new region from it with
                    freshet serve --bootstrap FILE; producers then resume from the snapshot's positions.
                    """,
                    Self.specs))
            return 0
        }
        let flags = try Flags(arguments, specs: Self.specs)
        let out = try flags.required("out")
        let started = ContinuousClock.now
        var lines: [String]
        let contents: StoreStatistics
        switch (flags.value("data"), flags.value("server")) {
        case (let data?, nil):
            let summary = try FeatureStore.writeSnapshot(directory: data, to: out)
            contents = summary.contents
            lines = [
                "snapshot \(out): \(summary.bytes) bytes, compacted from a data file of \(summary.sourceFileBytes) bytes, in \((ContinuousClock.now - started).formatted)"
            ]
        case (nil, _?):
            let server = try serverList(flags)
            guard server.count == 1 else { throw UsageError("--server: a snapshot is taken from one server") }
            let bytes: Int
            (bytes, contents) = try Self.download(from: server[0], to: out)
            lines = [
                "snapshot \(out): \(bytes) bytes, compacted, from \(server[0]) in \((ContinuousClock.now - started).formatted)"
            ]
        default:
            throw UsageError("give exactly one of --data and --server")
        }
        lines.append("registry version \(contents.registryVersion)")
        for view in contents.views {
            lines.append("view \(view.name): \(view.rows + view.deleted) entries")
        }
        for source in contents.sources {
            lines.append("source \(source.name): position \(source.appliedSequence)")
        }
        Console.out(lines.joined(separator: "\n") + "\n")
        return 0
    }

    /// Has `server` write a snapshot, pulls it chunk by chunk into `FILE.partial`, checks its length, and publishes
    /// it as `out`; the server's copy is deleted either way.
    static func download(from server: Endpoint, to out: String) throws -> (bytes: Int, contents: StoreStatistics) {
        try FeatureStore.checkSnapshotTarget(out)
        let client = try connect(server, "no snapshot was taken")
        let created = try client.unary(path: "/freshet.v1.Admin/CreateSnapshot", request: [], timeout: .seconds(3600))
        guard created.status.code == .ok else {
            throw CommandError("\(server): CreateSnapshot failed: \(created.status.code): \(created.status.message)")
        }
        guard let message = created.messages.first,
            let info = message.withUnsafeBytes({ AdminCodec.decodeSnapshotInfo($0) }), !info.id.isEmpty
        else {
            throw CommandError(
                "\(server): CreateSnapshot answered with a message that is not a freshet.v1.SnapshotInfo")
        }
        defer {
            var request: [UInt8] = []
            AdminCodec.appendSnapshotID(info.id, to: &request)
            _ = try? client.unary(path: "/freshet.v1.Admin/DeleteSnapshot", request: request, timeout: .seconds(30))
        }
        let staging = try FeatureStore.snapshotStaging(for: out)
        defer { FeatureStore.removeSnapshotStaging(staging) }
        let file = try FileWriter(path: staging + "/data.mdb")
        var offset: UInt64 = 0
        while offset < info.bytes {
            var request: [UInt8] = []
            AdminCodec.appendReadSnapshotRequest(
                ReadSnapshotRequestMessage(id: info.id, offset: offset, maxBytes: 1 << 20), to: &request)
            let response = try client.unary(
                path: "/freshet.v1.Admin/ReadSnapshot", request: request, timeout: .seconds(60))
            guard response.status.code == .ok else {
                throw CommandError(
                    "\(server): ReadSnapshot at offset \(offset) of \(info.bytes) failed: \(response.status.code): \(response.status.message)"
                )
            }
            guard let chunk = response.messages.first?.withUnsafeBytes({ AdminCodec.decodeSnapshotChunk($0) }),
                !chunk.data.isEmpty
            else {
                throw CommandError(
                    "\(server): ReadSnapshot at offset \(offset) of \(info.bytes) answered with no data")
            }
            try file.write(chunk.data)
            offset += UInt64(chunk.data.count)
        }
        guard offset == info.bytes else {
            throw CommandError("\(server): the snapshot has \(offset) bytes, not the \(info.bytes) announced")
        }
        try file.close()
        let contents = try FeatureStore.publishSnapshot(staging: staging, as: out)
        return (Int(offset), contents)
    }
}
