// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// The edges of registry changes and subscriptions found by trying to break them: a start that cannot serve, backfills
// after restarts and after a view comes back, the version limit, long refusals, concurrent changes, and misuse of
// backfills and tools.

import FreshetCore
import FreshetGRPC
import FreshetPosix
import FreshetProto
import Glibc
import Testing

private func show(_ server: ServerProcess) -> String {
    freshet("registry", "show", "--server", server.endpoint.description).stdout
}

private func pushPlanes(_ server: ServerProcess, source: String = "central-planes") -> CommandResult {
    freshet(
        "push", "--server", server.endpoint.description, "--source", source, "--registry", Paths.registry, "--view",
        "planes", "--csv", Paths.examples + "/planes.csv", "--event-time", "2024-01-01T00:00:00Z")
}

private func backfillPlanes(_ server: ServerProcess, registry: String = Paths.registry) -> CommandResult {
    freshet(
        "push", "--backfill", "--server", server.endpoint.description, "--registry", registry, "--view", "planes",
        "--csv", Paths.examples + "/planes.csv", "--event-time", "2024-01-01T00:00:00Z")
}

/// `ApplyRegistry` called directly, as a program other than the CLI would.
private func applyRegistry(
    _ server: ServerProcess, json: String, version: UInt64, expected: UInt64? = nil, dryRun: Bool = false
) throws -> GRPCResponse {
    var request: [UInt8] = []
    AdminCodec.appendApplyRequest(
        ApplyRegistryRequestMessage(
            registryJSON: Array(json.utf8), version: version, dryRun: dryRun, expectedVersion: expected),
        to: &request)
    return try server.client().unary(path: "/freshet.v1.Admin/ApplyRegistry", request: request)
}

/// Runs several `freshet` commands at the same time and returns their results, in order.
private func freshetAtOnce(_ commands: [[String]], scratch: TemporaryDirectory) -> [CommandResult] {
    let children = commands.enumerated().map { index, arguments in
        let out = scratch.file("at-once-\(index)-\(UInt32.random(in: 0...UInt32.max))")
        return (ChildProcess([Paths.binary] + arguments, stdout: out + ".out", stderr: out + ".err"), out)
    }
    return children.map { child, out in
        let status = child.wait(timeout: .seconds(120)) ?? -1
        return CommandResult(status: status, stdout: readText(out + ".out"), stderr: readText(out + ".err"))
    }
}

/// Takes a port and keeps it: a listening socket nobody accepts on.
private func occupiedPort() throws -> (Socket, Endpoint) {
    let socket = try Socket.listen(on: Endpoint(host: "127.0.0.1", port: 0), sharing: .exclusive)
    return (socket, try socket.localEndpoint())
}

@Suite("registry edges end to end", .serialized)
struct RegistryEdgeEndToEndTests {
    @Test func aStartThatCannotServeLeavesTheDataDirectoryAlone() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let data = scratch.file("data")
        let server = try ServerProcess(data: data, scratch: scratch)
        #expect(pushPlanes(server).status == 0)

        // A second server on the same directory, asking for a subscription without planes: refused before it
        // touches the store, so the running server keeps its rows.
        let second = freshet(
            "serve", "--data", data, "--serve", "weather_model", "--listen", "127.0.0.1:0", "--threads", "1")
        #expect(second.status == 1)
        #expect(second.stderr.contains("is in use by another freshet serve"), "\(second.stderr)")
        #expect(show(server).contains("stores planes: 3322 entries"), "\(show(server))")
        #expect(server.terminate() == 0)

        // No server now, but the address is taken: the start fails on the address, before the subscription frees
        // planes.
        let (holder, taken) = try occupiedPort()
        defer { holder.close() }
        let blocked = freshet(
            "serve", "--data", data, "--registry", Paths.registry, "--serve", "weather_model", "--listen",
            taken.description, "--threads", "1")
        #expect(blocked.status == 1)
        #expect(blocked.stderr.contains("Address already in use"), "\(blocked.stderr)")
        let stats = freshet("stats", "--data", data).stdout
        #expect(stats.contains("view planes: 3322 rows"), "\(stats)")
        let fresh = freshet(
            "serve", "--data", scratch.file("never"), "--registry", Paths.registry, "--listen", taken.description)
        #expect(fresh.status == 1)
        #expect(access(scratch.file("never"), F_OK) != 0, "a start that cannot bind creates no data directory")
    }

    @Test func overlappingAppliesNeverSplitOneVersion() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let servers = try ["a", "b"].map { try ServerProcess(data: scratch.file($0), scratch: scratch) }
        let list = servers.map(\.endpoint.description).joined(separator: ",")
        let original = readText(Paths.registry)
        // Four runs at once, round after round: whichever lands, both regions must end with one registry per
        // version (some runs are refused; one lands everywhere).
        for round in 1...12 {
            let files = [40, 140, 240, 340].map { minutes in
                scratch.write(
                    "r\(round)-\(minutes).json",
                    original.replacing(#""max_age": "2h""#, with: #""max_age": "\#(minutes + round)m""#))
            }
            let results = freshetAtOnce(files.map { ["registry", "apply", $0, "--server", list] }, scratch: scratch)
            #expect(results.contains { $0.status == 0 }, "round \(round): \(results.map(\.stderr))")
            let shown = servers.map {
                freshet("registry", "show", "--server", $0.endpoint.description, "--json").stdout
            }
            let versions = servers.map { show($0).split(separator: "\n").first ?? "" }
            #expect(
                shown[0] == shown[1] && versions[0].hasSuffix(versions[1].split(separator: " ").last ?? "-"),
                "round \(round): \(versions) \(results.map(\.stderr))")
        }
        for server in servers { #expect(server.terminate() == 0) }
    }

    @Test func twoBackfillsOfOneViewAtOnceLoseNothing() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let data = scratch.file("data")
        var server = try ServerProcess(data: data, extra: ["--serve", "weather_model"], scratch: scratch)
        #expect(pushPlanes(server).status == 0)
        #expect(server.terminate() == 0)
        server = try ServerProcess(data: data, extra: ["--serve", "delay_model"], scratch: scratch)
        let lines = readText(Paths.examples + "/planes.csv").split(separator: "\n")
        let half = 1 + (lines.count - 1) / 2
        let halves = [
            scratch.write("first.csv", lines[..<half].joined(separator: "\n") + "\n"),
            scratch.write("second.csv", ([lines[0]] + lines[half...]).joined(separator: "\n") + "\n"),
        ]
        let results = freshetAtOnce(
            halves.map {
                [
                    "push", "--backfill", "--server", server.endpoint.description, "--registry", Paths.registry,
                    "--view", "planes", "--csv", $0, "--event-time", "2024-01-01T00:00:00Z", "--batch-rows", "50",
                ]
            }, scratch: scratch)
        #expect(results.contains { $0.status == 0 }, "\(results.map(\.stderr))")
        #expect(show(server).contains("stores planes: 3322 entries\n"), "\(show(server)) \(results.map(\.stdout))")
        #expect(server.terminate() == 0)
        // Unsubscribing planes removes whatever backfill positions are left (a run whose mark the other cleared).
        server = try ServerProcess(data: data, extra: ["--serve", "weather_model"], scratch: scratch)
        let stats = freshet("stats", "--data", data).stdout
        #expect(!stats.contains("source backfill/"), "\(stats)")
        #expect(stats.contains("source central-planes: position 3322"), "\(stats)")

        // The backfill sources are the backfill's own.
        let taken = freshet(
            "push", "--server", server.endpoint.description, "--source", "backfill/planes@1", "--registry",
            Paths.registry, "--view", "planes", "--csv", Paths.examples + "/planes.csv")
        #expect(taken.status == 2)
        #expect(taken.stderr.contains("names starting with backfill/ are kept for freshet push --backfill"))
        #expect(server.terminate() == 0)
    }

    @Test func aRegistryLargerThanAResponseIsReportedAtStart() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        // The example registry is about 4 KB; a 2 KiB response cannot carry it.
        let server = try ServerProcess(
            data: scratch.file("d"), extra: ["--max-message-bytes", "2KiB"], scratch: scratch)
        #expect(server.log.contains("the registry does not fit in a response of --max-message-bytes"), "\(server.log)")
        let shown = freshet("registry", "show", "--server", server.endpoint.description)
        #expect(shown.status == 1)
        #expect(shown.stderr.contains("larger than the server's limit of 2048 bytes (--max-message-bytes)"))
        #expect(server.terminate() == 0)
    }

    @Test func anEndlessRegistryFileIsRefusedWithoutFillingMemory() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let limit = "the file is larger than 2097152 bytes (2 MiB), the limit of a registry"
        let served = freshet(
            "serve", "--data", scratch.file("d"), "--registry", "/dev/zero", "--listen", "127.0.0.1:0")
        #expect(served.status == 1)
        #expect(served.stderr.contains("registry /dev/zero: \(limit)"), "\(served.stderr)")
        let applied = freshet("registry", "apply", "/dev/zero", "--server", "127.0.0.1:1")
        #expect(applied.status == 1)
        #expect(applied.stderr.contains(limit), "\(applied.stderr)")
        let loaded = freshet(
            "load", "--data", scratch.file("d"), "--registry", "/dev/zero", "--view", "planes", "--csv",
            Paths.examples + "/planes.csv")
        #expect(loaded.status == 1)
        #expect(loaded.stderr.contains(limit), "\(loaded.stderr)")
    }

    @Test func aViewSubscribedAgainAfterARestartIsBackfilledAgain() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let data = scratch.file("data")
        var server = try ServerProcess(data: data, extra: ["--serve", "weather_model"], scratch: scratch)
        #expect(pushPlanes(server).status == 0, "planes updates are acked and skipped here")
        #expect(server.terminate() == 0)

        // Restarts change the subscription without changing the registry version; each subscription of planes
        // is a new backfill, under a source no earlier backfill used.
        var sources: Set<String> = []
        for round in 1...2 {
            server = try ServerProcess(data: data, extra: ["--serve", "delay_model"], scratch: scratch)
            #expect(
                show(server).contains("stores planes: 0 entries; needs backfill"), "round \(round): \(show(server))")
            let backfill = backfillPlanes(server)
            #expect(backfill.status == 0, "round \(round): \(backfill.stderr)")
            let source = backfill.stdout.split(separator: "'").first { $0.hasPrefix("backfill/planes@") }
            #expect(source != nil, "\(backfill.stdout)")
            sources.insert(String(source ?? ""))
            #expect(show(server).contains("stores planes: 3322 entries\n"), "round \(round): \(show(server))")
            let stats = freshet("stats", "--data", data).stdout
            #expect(!stats.contains("source backfill/"), "a finished backfill's source is removed: \(stats)")
            #expect(server.terminate() == 0)
            server = try ServerProcess(data: data, extra: ["--serve", "weather_model"], scratch: scratch)
            #expect(!show(server).contains("stores planes"), "round \(round): planes is freed")
            #expect(server.terminate() == 0)
        }
        #expect(sources.count == 2, "each backfill has its own source: \(sources)")
    }

    @Test func aViewRemovedAndAddedAgainNeedsABackfill() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let server = try ServerProcess(data: scratch.file("data"), scratch: scratch)
        #expect(pushPlanes(server).status == 0)
        let original = readText(Paths.registry)
        let planesUse = #"{"view": "planes", "features": ["year", "type", "manufacturer", "engines", "seats"]},"#
        let planesView = #"{"name": "planes", "entity": "plane", "max_age": "0","#
        #expect(original.contains(planesUse) && original.contains(planesView))
        // Step 1: no service uses planes; step 2: planes is gone (its rows are freed); step 3: it is back.
        let unused = original.replacing(planesUse, with: "")
        var gone = unused
        let viewStart = gone.firstRange(of: planesView)!
        let viewEnd = gone[viewStart.upperBound...].firstRange(of: "]},")!
        gone.removeSubrange(viewStart.lowerBound..<viewEnd.upperBound)
        for (name, text) in [("unused", unused), ("gone", gone), ("back", original)] {
            let applied = freshet(
                "registry", "apply", scratch.write("\(name).json", text), "--server", server.endpoint.description)
            #expect(applied.status == 0, "\(name): \(applied.stderr)")
        }
        let shown = show(server)
        #expect(shown.contains("registry version 4"), "\(shown)")
        let logged = server.log.split(separator: "\n").filter { $0.contains(#""msg":"registry applied""#) }
        #expect(logged.count == 3, "one line per change, none for the dry runs: \(logged)")
        #expect(shown.contains("stores planes: 0 entries; needs backfill (subscribed at version 4"), "\(shown)")
        let backfill = backfillPlanes(server)
        #expect(backfill.status == 0, "\(backfill.stderr)")
        #expect(show(server).contains("stores planes: 3322 entries\n"))
        #expect(server.terminate() == 0)
    }

    @Test func theLargestVersionIsRefusedPastAndNeverCrashesAServer() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let data = scratch.file("data")
        let server = try ServerProcess(data: data, scratch: scratch)
        let changed = scratch.write(
            "changed.json", readText(Paths.registry).replacing(#""max_age": "2h""#, with: #""max_age": "3h""#))
        let largest = "9223372036854775807"
        let tooLarge = freshet(
            "registry", "apply", changed, "--server", server.endpoint.description, "--version", "9223372036854775808")
        #expect(tooLarge.status == 2, "\(tooLarge.stderr)")
        let direct = try applyRegistry(server, json: readText(changed), version: UInt64.max)
        #expect(direct.status.code == .invalidArgument)
        #expect(direct.status.message.contains("version must be from 1 to \(largest)"), "\(direct.status)")

        let atLargest = freshet(
            "registry", "apply", changed, "--server", server.endpoint.description, "--version", largest)
        #expect(atLargest.status == 0, "\(atLargest.stderr)")
        let next = freshet("registry", "apply", Paths.registry, "--server", server.endpoint.description)
        #expect(next.status == 1)
        #expect(next.stderr.contains("registry version \(largest) is the largest there is"), "\(next.stderr)")
        #expect(server.process.status == nil)
        #expect(server.terminate() == 0)

        // A start with a different file would need the next version: refused with a message, not a crash.
        let restart = freshet(
            "serve", "--data", data, "--registry", Paths.registry, "--listen", "127.0.0.1:0", "--threads", "1")
        #expect(restart.status == 1, "\(restart.stderr)")
        #expect(restart.stderr.contains("the largest there is; it cannot take a new one"), "\(restart.stderr)")
    }

    @Test func aLongRefusalReachesTheClientCut() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        // A view of 400 features; changing every type makes 400 problems, far more than a header can carry.
        func registry(_ type: String) -> String {
            let features = (0..<400).map { #"{"name": "feature_number_\#($0)", "type": "\#(type)"}"# }
            return #"{"entities": [{"name": "e", "join_keys": [{"name": "k", "type": "string"}]}], "#
                + #""feature_views": [{"name": "wide", "entity": "e", "features": ["#
                + features.joined(separator: ", ") + "]}], \"feature_services\": []}"
        }
        let first = scratch.write("first.json", registry("int64"))
        let server = try ServerProcess(data: scratch.file("data"), registry: first, scratch: scratch)
        let refused = freshet(
            "registry", "apply", scratch.write("retyped.json", registry("string")), "--server",
            server.endpoint.description)
        #expect(refused.status == 1)
        #expect(
            refused.stderr.contains("feature 'feature_number_0' changes type from int64 to string"),
            "\(refused.stderr.prefix(2000))")
        #expect(refused.stderr.contains("... (cut; the message is "), "\(refused.stderr.suffix(500))")
        #expect(refused.stderr.utf8.count < 8192)
        #expect(server.terminate() == 0)
    }

    @Test func twoChangesPreparedAgainstOneVersionCannotBothLand() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let server = try ServerProcess(data: scratch.file("data"), scratch: scratch)
        let original = readText(Paths.registry)
        let first = original.replacing(#""max_age": "2h""#, with: #""max_age": "3h""#)
        let second = original.replacing(#""max_age": "2h""#, with: #""max_age": "4h""#)
        #expect(first != original && second != original)
        // Both read version 1 and prepared version 2; the second finds version 2 there.
        let landed = try applyRegistry(server, json: first, version: 2, expected: 1)
        #expect(landed.status.code == .ok, "\(landed.status)")
        let late = try applyRegistry(server, json: second, version: 3, expected: 1)
        #expect(late.status.code == .failedPrecondition)
        #expect(
            late.status.message.contains(
                "this region holds registry version 2, not version 1 that the change was prepared against"),
            "\(late.status)")
        #expect(show(server).contains("registry version 2\n"))
        let json = freshet("registry", "show", "--server", server.endpoint.description, "--json").stdout
        #expect(json.contains(#""max_age": "3h""#))
        #expect(server.terminate() == 0)
    }

    @Test func aChangeOnlyOutsideTheRegistryKeepsTheStoredText() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let server = try ServerProcess(data: scratch.file("data"), scratch: scratch)
        let original = readText(Paths.registry)
        let described = original.replacing(
            #""description": "nycflights13"#, with: #""description": "Edited. nycflights13"#)
        #expect(described != original)
        let applied = freshet(
            "registry", "apply", scratch.write("described.json", described), "--server", server.endpoint.description)
        #expect(applied.status == 0, "\(applied.stderr)")
        #expect(applied.stdout.contains("version 1 already"), "\(applied.stdout)")
        // One version, one text in every region: the stored one.
        let json = freshet("registry", "show", "--server", server.endpoint.description, "--json").stdout
        #expect(json == original, "\(json.prefix(300))")
        #expect(server.terminate() == 0)
    }

    @Test func backfillAndToolMisuseIsRefusedWithAReason() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let data = scratch.file("data")
        let server = try ServerProcess(data: data, extra: ["--serve", "weather_model"], scratch: scratch)
        // A CSV backfill without event times would stamp every row with the push time.
        let noTimes = freshet(
            "push", "--backfill", "--server", server.endpoint.description, "--registry", Paths.registry, "--view",
            "planes", "--csv", Paths.examples + "/planes.csv")
        #expect(noTimes.status == 2)
        #expect(noTimes.stderr.contains("--backfill with --csv needs --event-time"), "\(noTimes.stderr)")

        let garbage = try server.client().unary(path: "/freshet.v1.Admin/GetRegistry", request: [0xFF])
        #expect(garbage.status.code == .invalidArgument, "\(garbage.status)")
        // FinishBackfill for a view the region does not store, and for a mark that is not there.
        for (view, code, message) in [
            ("planes", GRPCStatus.Code.notFound, "this region does not store view 'planes'"),
            ("weather", .failedPrecondition, "view 'weather' has no pending backfill"),
        ] {
            var request: [UInt8] = []
            AdminCodec.appendFinishBackfillRequest(
                FinishBackfillRequestMessage(view: view, backfillID: 7), to: &request)
            let response = try server.client().unary(path: "/freshet.v1.Admin/FinishBackfill", request: request)
            #expect(response.status.code == code, "\(view): \(response.status)")
            #expect(response.status.message.contains(message), "\(response.status)")
        }

        // freshet load into this region's directory may not store a view its subscription leaves out.
        let load = freshet(
            "load", "--data", data, "--registry", Paths.registry, "--view", "planes", "--csv",
            Paths.examples + "/planes.csv")
        #expect(load.status == 1)
        #expect(load.stderr.contains("does not store feature view 'planes'"), "\(load.stderr)")
        // Nor extend the region's registry: that is a registry change, versioned.
        let extended = scratch.write(
            "extended.json",
            readText(Paths.registry).replacing(
                #"{"name": "visib", "type": "double", "description": "miles"}"#,
                with: #"{"name": "visib", "type": "double"}, {"name": "extra", "type": "double"}"#))
        let weather = scratch.write(
            "weather.jsonl",
            #"{"entity": {"origin": "EWR"}, "event_time": "2024-01-01T00:00:00Z", "features": {"temp": 1, "dewp": null, "humid": null, "wind_dir": null, "wind_speed": null, "wind_gust": null, "precip": null, "pressure": null, "visib": null, "extra": 2}}"#
                + "\n")
        let longer = freshet(
            "load", "--data", data, "--registry", extended, "--view", "weather", "--jsonl", weather)
        #expect(longer.status == 1)
        #expect(
            longer.stderr.contains("has features that the region's registry does not have"), "\(longer.stderr)")
        #expect(!show(server).contains("stores planes"))
        #expect(server.terminate() == 0)
        #expect(!freshet("stats", "--data", data).stdout.contains("view planes"))
    }
}
