// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// `freshet snapshot` and `freshet serve --bootstrap`: a new region starts from a snapshot of a running one, resumes
// the stream from the snapshot's positions, and ends identical to it.

import FreshetCore
import FreshetGRPC
import FreshetPosix
import FreshetProto
import Glibc
import Testing

/// The weather rows of the three stations, as a region serves them: values and event times.
private func weather(_ server: ServerProcess) throws -> [String] {
    try ["EWR", "JFK", "LGA"].map { origin in
        let response = try server.getFeatures(
            FeaturesRequest(target: .service("weather_model"), rows: [[("origin", .string(origin))]]))
        let result = response.rows[0][0]
        return "\(origin): \(result.values) at \(String(describing: result.eventTime))"
    }
}

/// A source's position in a data directory, from `freshet stats --json`.
private func positionLine(_ data: String, source: String) -> String {
    let stats = freshet("stats", "--data", data).stdout
    return stats.split(separator: "\n").first { $0.hasPrefix("source \(source):") }.map(String.init) ?? "(none)"
}

@Suite("snapshots and bootstrap end to end", .serialized)
struct SnapshotEndToEndTests {
    @Test func aRegionBootstrappedFromASnapshotEndsIdenticalWithNothingAppliedTwice() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let a = try ServerProcess(data: scratch.file("a"), scratch: scratch)
        let lines = readText(Paths.examples + "/weather_updates.jsonl").split(separator: "\n")
        #expect(lines.count == 20914)
        let half = scratch.write("half.jsonl", lines[..<10457].joined(separator: "\n") + "\n")
        func push(_ servers: [ServerProcess], _ file: String) -> CommandResult {
            freshet(
                "push", "--server", servers.map(\.endpoint.description).joined(separator: ","), "--source",
                "central-weather", "--registry", Paths.registry, "--view", "weather", "--jsonl", file)
        }
        #expect(push([a], half).status == 0)

        // The snapshot is taken from region A while it serves.
        let snapshot = scratch.file("a.snap")
        let taken = freshet("snapshot", "--server", a.endpoint.description, "--out", snapshot)
        #expect(taken.status == 0, "\(taken.stderr)")
        #expect(taken.stdout.contains("registry version 1\n"), "\(taken.stdout)")
        #expect(taken.stdout.contains("source central-weather: position 10457\n"), "\(taken.stdout)")
        print(taken.stdout, terminator: "")

        let b = try ServerProcess(
            data: scratch.file("b"), registry: nil, extra: ["--bootstrap", snapshot], scratch: scratch)
        #expect(b.log.contains(#""msg":"bootstrapped""#))
        #expect(try weather(b) == weather(a), "B starts where the snapshot was taken")

        // The rest of the stream to both: each resumes from its own position, B from the snapshot's.
        let rest = push([a, b], Paths.examples + "/weather_updates.jsonl")
        #expect(rest.status == 0, "\(rest.stderr)")
        for server in [a, b] {
            #expect(
                rest.stdout.contains("\(server.endpoint): done: position 20914 of 20914"), "\(rest.stdout)")
        }
        #expect(try weather(b) == weather(a), "value for value")
        #expect(a.terminate() == 0)
        #expect(b.terminate() == 0)
        // Positions prove nothing was applied twice: the same totals in both regions, and no duplicate skipped.
        let positionA = positionLine(scratch.file("a"), source: "central-weather")
        let positionB = positionLine(scratch.file("b"), source: "central-weather")
        #expect(
            positionA.contains("position 20914 (written 20914, superseded 0, duplicates skipped 0)"), "\(positionA)")
        #expect(
            positionB.split(separator: ")")[0] == positionA.split(separator: ")")[0], "\(positionB) vs \(positionA)")
    }

    @Test func theSnapshotCallsRefuseWhatTheyCannotServe() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let server = try ServerProcess(data: scratch.file("data"), scratch: scratch)
        let client = try server.client()
        func call(_ method: String, _ request: [UInt8]) throws -> GRPCResponse {
            try client.unary(path: "/freshet.v1.Admin/" + method, request: request)
        }
        func read(_ id: String, offset: UInt64) throws -> GRPCResponse {
            var request: [UInt8] = []
            AdminCodec.appendReadSnapshotRequest(
                ReadSnapshotRequestMessage(id: id, offset: offset, maxBytes: 0), to: &request)
            return try call("ReadSnapshot", request)
        }
        let first = try call("CreateSnapshot", [])
        #expect(first.status.code == .ok, "\(first.status)")
        let info = try #require(
            first.messages.first.flatMap { $0.withUnsafeBytes { AdminCodec.decodeSnapshotInfo($0) } })
        #expect(info.registryVersion == 1 && info.bytes > 0)
        let whole = try read(info.id, offset: 0)
        let chunk = try #require(
            whole.messages.first.flatMap { $0.withUnsafeBytes { AdminCodec.decodeSnapshotChunk($0) } })
        #expect(chunk.data.count == Int(info.bytes) && chunk.end)
        #expect(try read(info.id, offset: info.bytes + 1).status.code == .outOfRange)
        #expect(try read("nope", offset: 0).status.code == .notFound)
        #expect(try call("ReadSnapshot", [0xFF]).status.code == .invalidArgument)
        #expect(try call("CreateSnapshot", []).status.code == .ok)
        let third = try call("CreateSnapshot", [])
        #expect(third.status.code == .resourceExhausted)
        #expect(third.status.message.contains("2 snapshots exist already on this server: "), "\(third.status)")
        #expect(third.status.message.contains(info.id), "the message lists them: \(third.status)")
        var delete: [UInt8] = []
        AdminCodec.appendSnapshotID(info.id, to: &delete)
        #expect(try call("DeleteSnapshot", delete).status.code == .ok)
        #expect(try read(info.id, offset: 0).status.code == .notFound)
        #expect(try call("DeleteSnapshot", delete).status.code == .notFound)
        #expect(try call("CreateSnapshot", []).status.code == .ok, "a deleted snapshot frees its place")
        #expect(try FileIO.list(scratch.file("data") + "/snapshots").count == 2)
        // A snapshot is never written where it could replace the store's files or be removed with snapshots/.
        for out in [
            scratch.file("data") + "/lock.mdb", scratch.file("data") + "/snapshots/mine.snap", scratch.file(""), "",
        ] {
            let refused = freshet("snapshot", "--server", server.endpoint.description, "--out", out)
            #expect(refused.status == 1, "\(out)")
            #expect(refused.stderr.contains("--out: "), "\(out): \(refused.stderr)")
        }
        #expect(server.terminate() == 0)
        #expect(try FileIO.list(scratch.file("data") + "/snapshots").isEmpty, "removed at shutdown")
        // What a killed server leaves behind is removed at the next start.
        var killed = try ServerProcess(data: scratch.file("data"), scratch: scratch)
        #expect(try killed.client().unary(path: "/freshet.v1.Admin/CreateSnapshot", request: []).status.code == .ok)
        killed.process.signal(SIGKILL)
        _ = killed.process.wait(timeout: .seconds(10))
        #expect(try FileIO.list(scratch.file("data") + "/snapshots").count == 1)
        killed = try ServerProcess(data: scratch.file("data"), scratch: scratch)
        #expect(try FileIO.list(scratch.file("data") + "/snapshots").isEmpty)
        #expect(killed.terminate() == 0)
    }

    @Test func aSnapshotIsCompactedAndABootstrapRefusesWhatItCannotUse() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        // Many overwrites: the weather stream writes its 3 rows 20,914 times.
        let data = scratch.file("data")
        try load(data: data, view: "weather", jsonl: Paths.examples + "/weather_updates.jsonl")
        for _ in 0..<3 { try load(data: data, view: "planes", csv: Paths.examples + "/planes.csv") }
        let snapshot = scratch.file("s.snap")
        let taken = freshet("snapshot", "--data", data, "--out", snapshot)
        #expect(taken.status == 0, "\(taken.stderr)")
        print(taken.stdout, terminator: "")
        let snapshotBytes = try #require(try FileIO.size(of: snapshot))
        let fileBytes = try #require(try FileIO.size(of: data + "/data.mdb"))
        #expect(snapshotBytes <= fileBytes, "compaction leaves out free pages: \(snapshotBytes) vs \(fileBytes)")
        #expect(try FileIO.size(of: snapshot + ".partial") == nil)

        // This store was filled by freshet load: it holds no registry, so it cannot start a region on its own,
        // and the failed start leaves the directory without a store.
        let noRegistry = freshet(
            "serve", "--data", scratch.file("b"), "--bootstrap", snapshot, "--listen", "127.0.0.1:0")
        #expect(noRegistry.status == 1)
        #expect(
            noRegistry.stderr.contains("cannot start a region (the data directory is left empty)"),
            "\(noRegistry.stderr)")
        #expect(try FileIO.size(of: scratch.file("b") + "/data.mdb") == nil)
        // With a registry it can; then a second bootstrap into the same directory is refused.
        let withRegistry = try ServerProcess(
            data: scratch.file("b"), extra: ["--bootstrap", snapshot], scratch: scratch)
        #expect(
            try withRegistry.getFeatures(
                FeaturesRequest(
                    target: .service("delay_model"),
                    rows: [
                        [
                            ("tailnum", .string("N14228")), ("origin", .string("EWR")), ("dest", .string("IAH")),
                            ("carrier", .string("UA")),
                        ]
                    ])
            ).rows[0][0].status == .present)
        #expect(withRegistry.terminate() == 0)
        let again = freshet(
            "serve", "--data", scratch.file("b"), "--bootstrap", snapshot, "--listen", "127.0.0.1:0")
        #expect(again.status == 1)
        #expect(again.stderr.contains("holds a store already"), "\(again.stderr)")

        // A copy cut short (a transfer that stopped) is refused before it is mapped: reading past its end would
        // kill the server with SIGBUS.
        let bytes = try FileIO.readAll(snapshot)
        let cut = scratch.file("cut.snap")
        try FileIO.writeAll(cut, Array(bytes[..<(bytes.count / 2)]))
        let short = freshet(
            "serve", "--data", scratch.file("e"), "--registry", Paths.registry, "--bootstrap", cut, "--listen",
            "127.0.0.1:0")
        #expect(short.status == 1)
        #expect(
            short.stderr.contains("is cut short: \(bytes.count / 2) bytes, but its pages need \(bytes.count)"),
            "\(short.stderr)")
        #expect(try FileIO.size(of: scratch.file("e") + "/data.mdb") == nil)
        // A snapshot written into the data directory itself could replace the live data file.
        let inside = freshet("snapshot", "--data", data, "--out", data + "/data.mdb")
        #expect(inside.status == 1)
        #expect(inside.stderr.contains("is inside the data directory"), "\(inside.stderr)")
        #expect(try FileIO.size(of: data + "/data.mdb") == fileBytes)

        let notASnapshot = freshet(
            "serve", "--data", scratch.file("c"), "--bootstrap", Paths.registry, "--listen", "127.0.0.1:0")
        #expect(notASnapshot.status == 1)
        #expect(notASnapshot.stderr.contains("is not a Freshet snapshot (not an LMDB data file)"))
        let missing = freshet("snapshot", "--data", scratch.file("none"), "--out", scratch.file("x.snap"))
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("no Freshet data directory at"), "\(missing.stderr)")

        // Through a server whose messages are at most 64 KiB, the snapshot comes in 11 chunks, whole.
        let server = try ServerProcess(data: data, extra: ["--max-message-bytes", "64KiB"], scratch: scratch)
        let pulled = freshet("snapshot", "--server", server.endpoint.description, "--out", scratch.file("p.snap"))
        #expect(pulled.status == 0, "\(pulled.stderr)")
        #expect(pulled.stdout.contains("view planes: 3322 entries\nview weather: 3 entries\n"), "\(pulled.stdout)")
        #expect(server.terminate() == 0)
        let fromPulled = try ServerProcess(
            data: scratch.file("d"), registry: nil, extra: ["--bootstrap", scratch.file("p.snap")], scratch: scratch)
        #expect(
            try fromPulled.getFeatures(
                FeaturesRequest(target: .service("weather_model"), rows: [[("origin", .string("JFK"))]])
            ).rows[0][0].status == .stale, "the 2013 row is there (older than max_age)")
        #expect(fromPulled.terminate() == 0)
    }
}
