// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// `freshet registry apply|show` against running servers: refused changes name every problem and change nothing;
// accepted ones take effect live (no restart); subscriptions follow the registry, with backfills and freed space.

import FreshetCore
import FreshetGRPC
import FreshetPosix
import FreshetProto
import Glibc
import Synchronization
import Testing

/// The example registry with text edits; each edit must apply (a test of a change that was not made proves
/// nothing).
private func editedRegistry(_ edits: [(String, String)]) throws -> String {
    var text = readText(Paths.registry)
    for (old, new) in edits {
        guard text.contains(old) else { throw HarnessError("registry edit did not apply: \(old)") }
        text = text.replacing(old, with: new)
    }
    return text
}

private let airlinesView = #"{"name": "airlines", "entity": "airline", "max_age": "0","#
private let airlinesFeatures = #""features": [{"name": "name", "type": "string"}]},"#
private let weatherModel = #"{"view": "weather", "features": ["temp", "humid", "wind_speed", "precip", "visib"]}"#

/// Pushes one example file into `servers` as source `central-VIEW`.
private func push(_ servers: [ServerProcess], view: String, registry: String = Paths.registry) throws {
    let files = [
        "planes": ("--csv", "planes.csv"), "airports": ("--csv", "airports.csv"),
        "airlines": ("--csv", "airlines.csv"), "weather": ("--jsonl", "weather_updates.jsonl"),
    ]
    let (flag, file) = files[view]!
    let result = freshet(
        [
            "push", "--server", servers.map(\.endpoint.description).joined(separator: ","), "--source",
            "central-\(view)", "--registry", registry, "--view", view, flag, Paths.examples + "/" + file,
        ] + (flag == "--csv" ? ["--event-time", "2024-01-01T00:00:00Z"] : []))
    guard result.status == 0 else { throw HarnessError("push of \(file) failed (\(result.status)): \(result.stderr)") }
}

private func registryShow(_ server: ServerProcess) -> CommandResult {
    freshet("registry", "show", "--server", server.endpoint.description)
}

@Suite("live registry changes end to end", .serialized)
struct LiveRegistryEndToEndTests {
    @Test func everyRefusedChangeNamesItsProblemAndChangesNothing() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let server = try ServerProcess(data: scratch.file("data"), scratch: scratch)
        try push([server], view: "planes")
        let cases: [(what: String, edits: [(String, String)], message: String)] = [
            (
                "an unknown view in a service", [(weatherModel, #"{"view": "flights", "features": ["delay"]}"#)],
                "feature service 'weather_model', view 'flights': unknown feature view 'flights'"
            ),
            (
                "a duplicate name",
                [(airlinesView, #"{"name": "planes", "entity": "airline", "max_age": "0","#)],
                "duplicate feature view 'planes'"
            ),
            (
                "a changed feature type",
                [(#"{"name": "seats", "type": "int64""#, #"{"name": "seats", "type": "string""#)],
                "view 'planes': feature 'seats' changes type from int64 to string; a type change needs a new view version"
            ),
            (
                "a removed feature that a service uses",
                [
                    (#"{"name": "seats", "type": "int64"},"#, ""),
                    (
                        #"["year", "type", "manufacturer", "engines", "seats"]"#,
                        #"["year", "type", "manufacturer", "engines"]"#
                    ),
                ],
                "view 'planes': feature 'seats' is removed, but service 'delay_model' still uses it; drop it from the service first"
            ),
            (
                "a changed entity key",
                [
                    (
                        #"{"name": "airline", "join_keys": [{"name": "carrier", "type": "string"}]"#,
                        #"{"name": "airline", "join_keys": [{"name": "carrier", "type": "int64"}]"#
                    )
                ],
                "entity 'airline' changes its join keys from [carrier string] to [carrier int64]"
            ),
        ]
        for (what, edits, message) in cases {
            let file = scratch.write("bad.json", try editedRegistry(edits))
            let refused = freshet("registry", "apply", file, "--server", server.endpoint.description)
            #expect(refused.status != 0, "\(what) was accepted")
            #expect(refused.stderr.contains(message), "\(what): \(refused.stderr)")
            // The server itself refuses it too (the CLI's own check is not the only one): the admin RPC with the
            // same JSON answers INVALID_ARGUMENT naming the problem.
            var request: [UInt8] = []
            AdminCodec.appendApplyRequest(
                ApplyRegistryRequestMessage(registryJSON: Array(readText(file).utf8), version: 2), to: &request)
            let answer = try server.client().unary(path: "/freshet.v1.Admin/ApplyRegistry", request: request)
            #expect(answer.status.code == .invalidArgument, "\(what): \(answer.status)")
            #expect(answer.status.message.contains(message), "\(what): \(answer.status.message)")
        }
        // Nothing changed: version 1, the same lookups.
        #expect(registryShow(server).stdout.contains("registry version 1\n"), "\(registryShow(server).stdout)")
        let planes = try server.getFeatures(
            FeaturesRequest(target: .references(["planes:seats"]), rows: [[("tailnum", .string("N14228"))]]))
        #expect(planes.rows[0][0].values == [.int64(149)])

        // A version that is taken by another registry is a conflict, not a silent overwrite.
        let added = scratch.write(
            "added.json",
            try editedRegistry([
                (
                    airlinesFeatures,
                    #""features": [{"name": "name", "type": "string"}, {"name": "alliance", "type": "string"}]},"#
                )
            ]))
        let conflict = freshet("registry", "apply", added, "--server", server.endpoint.description, "--version", "1")
        #expect(conflict.status == 1)
        #expect(conflict.stderr.contains("holds a different registry as version 1"), "\(conflict.stderr)")
        #expect(server.terminate() == 0)
    }

    @Test func acceptedChangesTakeEffectLiveWithoutARestart() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let server = try ServerProcess(data: scratch.file("data"), scratch: scratch)
        for view in ["planes", "airlines", "weather"] { try push([server], view: view) }
        // One connection for the whole test: the change reaches it without a reconnect.
        let client = try server.client()
        let flight: [(String, FeaturesRequest.Key)] = [
            ("tailnum", .string("N14228")), ("origin", .string("EWR")), ("dest", .string("IAH")),
            ("carrier", .string("UA")),
        ]
        let before = try server.getFeatures(
            FeaturesRequest(target: .service("delay_model"), rows: [flight]), client: client)
        #expect(before.views[0].features == ["year", "type", "manufacturer", "engines", "seats"])
        #expect(before.rows[0][4].status == .stale, "the 2013 weather is older than max_age 2h")

        // Version 2: a feature added to airlines, a new entity and view, a new service, a longer weather max_age,
        // and delay_model's plane features changed.
        let version2 = try editedRegistry([
            (
                airlinesFeatures,
                #""features": [{"name": "name", "type": "string"}, {"name": "alliance", "type": "string"}]}, {"name": "routes", "entity": "route", "max_age": "0", "features": [{"name": "distance", "type": "int64"}]},"#
            ),
            (
                #"{"name": "airline", "join_keys""#,
                #"{"name": "route", "join_keys": [{"name": "route", "type": "string"}]}, {"name": "airline", "join_keys""#
            ),
            (#""max_age": "2h""#, #""max_age": "100000d""#),
            (
                #"{"view": "planes", "features": ["year", "type", "manufacturer", "engines", "seats"]}"#,
                #"{"view": "planes", "features": ["model", "seats"]}"#
            ),
            (
                #"{"name": "weather_model","#,
                #"{"name": "route_model", "views": [{"view": "routes", "features": ["distance"]}, {"view": "airlines", "features": ["name", "alliance"]}]}, {"name": "weather_model","#
            ),
        ])
        let file = scratch.write("v2.json", version2)
        let applied = freshet("registry", "apply", file, "--server", server.endpoint.description)
        #expect(applied.status == 0, "\(applied.stderr)")
        #expect(applied.stdout.contains("applied version 2; now stores routes"), "\(applied.stdout)")
        #expect(!applied.stdout.contains("needs backfill"), "a view new in the registry had no updates to miss")

        let after = try server.getFeatures(
            FeaturesRequest(target: .service("delay_model"), rows: [flight]), client: client)
        #expect(after.views[0].features == ["model", "seats"])
        #expect(after.rows[0][0].values == [.string("737-824"), .int64(149)], "planes.csv: N14228")
        #expect(after.rows[0][4].status == .present, "max_age is 100000d now")

        // The new feature and view take updates at once, and the new service serves them.
        let airlines = scratch.write(
            "airlines.jsonl",
            #"{"entity": {"carrier": "UA"}, "event_time": "2024-06-01T00:00:00Z", "features": {"name": "United Air Lines Inc.", "alliance": "Star Alliance"}}"#
                + "\n")
        let routes = scratch.write(
            "routes.jsonl",
            #"{"entity": {"route": "EWR-IAH"}, "event_time": "2024-06-01T00:00:00Z", "features": {"distance": 1400}}"#
                + "\n")
        for (view, path) in [("airlines", airlines), ("routes", routes)] {
            let pushed = freshet(
                "push", "--server", server.endpoint.description, "--source", "live-\(view)", "--registry", file,
                "--view", view, "--jsonl", path)
            #expect(pushed.status == 0, "\(pushed.stderr)")
        }
        let route = try server.getFeatures(
            FeaturesRequest(
                target: .service("route_model"), rows: [[("route", .string("EWR-IAH")), ("carrier", .string("UA"))]]),
            client: client)
        #expect(route.rows[0][0].values == [.int64(1400)])
        #expect(route.rows[0][1].values == [.string("United Air Lines Inc."), .string("Star Alliance")])
        // A row stored before the feature existed reads it as missing.
        let older = try server.getFeatures(
            FeaturesRequest(target: .references(["airlines:alliance"]), rows: [[("carrier", .string("AA"))]]),
            client: client)
        #expect(older.rows[0][0].status == .present)
        #expect(older.rows[0][0].values == [nil])

        #expect(registryShow(server).stdout.contains("registry version 2\n"))
        #expect(server.process.status == nil, "the server ran through every change")
        #expect(server.terminate() == 0)
        // The version stays across a restart without --registry.
        let again = try ServerProcess(data: scratch.file("data"), registry: nil, scratch: scratch)
        #expect(registryShow(again).stdout.contains("registry version 2\n"))
        #expect(
            try again.getFeatures(
                FeaturesRequest(
                    target: .service("route_model"),
                    rows: [[("route", .string("EWR-IAH")), ("carrier", .string("UA"))]])
            ).rows[0][0].values == [.int64(1400)])
        #expect(again.terminate() == 0)
    }

    @Test func regionsReachOneVersionAndSubscriptionsFollowTheRegistry() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let delay = try ServerProcess(data: scratch.file("a"), extra: ["--serve", "delay_model"], scratch: scratch)
        let weather = try ServerProcess(data: scratch.file("b"), extra: ["--serve", "weather_model"], scratch: scratch)
        let both = [delay, weather]
        for view in ["planes", "weather"] { try push(both, view: view) }
        #expect(!registryShow(weather).stdout.contains("stores planes"))
        let usedBefore = try self.usedBytes(weather, scratch.file("b"))

        // weather_model starts using planes: region b subscribes to it, and since it skipped the planes updates
        // it reports a backfill; region a stores planes already.
        let withPlanes = scratch.write(
            "v2.json",
            try editedRegistry([(weatherModel, weatherModel + #", {"view": "planes", "features": ["seats"]}"#)]))
        let applied = freshet("registry", "apply", withPlanes, "--server", "\(delay.endpoint),\(weather.endpoint)")
        #expect(applied.status == 0, "\(applied.stderr)")
        #expect(applied.stdout.contains("\(delay.endpoint): applied version 2\n"), "\(applied.stdout)")
        #expect(
            applied.stdout.contains(
                "\(weather.endpoint): applied version 2; now stores planes; view planes needs a backfill (freshet push --backfill --view planes --server \(weather.endpoint) ...)"
            ),
            "\(applied.stdout)")
        #expect(
            registryShow(weather).stdout.contains(
                "stores planes: 0 entries; needs backfill (subscribed at version 2; backfill id 1)"))
        let pending = freshet("stats", "--data", scratch.file("b")).stdout
        #expect(
            pending.contains(
                "view planes: 0 rows, 8 features; needs backfill (subscribed at version 2; backfill id 1)"),
            "\(pending)")

        let backfill = freshet(
            "push", "--backfill", "--server", "\(delay.endpoint),\(weather.endpoint)", "--registry", withPlanes,
            "--view", "planes", "--csv", Paths.examples + "/planes.csv", "--event-time", "2024-01-01T00:00:00Z")
        #expect(backfill.status == 0, "\(backfill.stderr)")
        #expect(backfill.stdout.contains("\(delay.endpoint): skipped: view planes needs no backfill there"))
        #expect(backfill.stdout.contains("\(weather.endpoint): backfill of view planes finished"), "\(backfill.stdout)")
        let shown = registryShow(weather).stdout
        #expect(shown.contains("stores planes: 3322 entries\n"), "\(shown)")
        let seats = try weather.getFeatures(
            FeaturesRequest(
                target: .service("weather_model"), rows: [[("origin", .string("EWR")), ("tailnum", .string("N14228"))]])
        )
        #expect(seats.rows[0][1].values == [.int64(149)])
        let again = freshet(
            "push", "--backfill", "--server", "\(weather.endpoint)", "--registry", withPlanes, "--view", "planes",
            "--csv", Paths.examples + "/planes.csv", "--event-time", "2024-01-01T00:00:00Z")
        #expect(again.stdout.contains("no server needs a backfill of view planes"), "\(again.stdout)")
        let usedWithPlanes = try self.usedBytes(weather, scratch.file("b"))
        #expect(usedWithPlanes > usedBefore)

        // The original registry again, as version 3: region b stops storing planes and frees its pages; a later
        // subscription reuses them instead of growing the file.
        let reverted = freshet("registry", "apply", Paths.registry, "--server", "\(delay.endpoint),\(weather.endpoint)")
        #expect(reverted.status == 0, "\(reverted.stderr)")
        #expect(reverted.stdout.contains("\(weather.endpoint): applied version 3; freed planes"), "\(reverted.stdout)")
        #expect(!registryShow(weather).stdout.contains("stores planes"))
        let stats = freshet("stats", "--data", scratch.file("b"))
        #expect(!stats.stdout.contains("view planes"), "\(stats.stdout)")
        #expect(freshet("registry", "apply", withPlanes, "--server", "\(weather.endpoint)").status == 0)
        let refill = freshet(
            "push", "--backfill", "--server", "\(weather.endpoint)", "--registry", withPlanes, "--view", "planes",
            "--csv", Paths.examples + "/planes.csv", "--event-time", "2024-01-01T00:00:00Z")
        #expect(refill.status == 0, "\(refill.stderr)")
        let usedAfterRefill = try self.usedBytes(weather, scratch.file("b"))
        #expect(usedAfterRefill <= usedWithPlanes + 64 << 10, "\(usedAfterRefill) vs \(usedWithPlanes)")

        // Region a was not reachable for that last change; a change applied to both now brings both to one
        // version (b is at 4, so the change is 5 everywhere).
        let both5 = freshet("registry", "apply", Paths.registry, "--server", "\(delay.endpoint),\(weather.endpoint)")
        #expect(both5.status == 0, "\(both5.stderr)")
        #expect(registryShow(delay).stdout.contains("registry version 5\n"), "\(registryShow(delay).stdout)")
        #expect(registryShow(weather).stdout.contains("registry version 5\n"))
        #expect(delay.terminate() == 0)
        #expect(weather.terminate() == 0)
    }

    @Test func lookupsAndAPushRunThroughRegistryChangesWithoutAFailure() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let server = try ServerProcess(data: scratch.file("data"), extra: ["--sync", "none"], scratch: scratch)
        try push([server], view: "planes")
        let endpoint = server.endpoint
        let stop = Atomic<Bool>(false)
        let counts = Mutex<(ok: Int, failed: [String])>((0, []))
        let reader = try OSThread(name: "lookups") {
            guard let client = try? GRPCClient(endpoint: endpoint) else {
                counts.withLock { $0.failed.append("cannot connect") }
                return
            }
            let request = FeaturesRequest(
                target: .service("delay_model"),
                rows: [
                    [
                        ("tailnum", .string("N14228")), ("origin", .string("EWR")), ("dest", .string("IAH")),
                        ("carrier", .string("UA")),
                    ]
                ]
            ).encoded()
            while !stop.load(ordering: .relaxed) {
                do {
                    let response = try client.unary(path: "/freshet.v1.FeatureServing/GetFeatures", request: request)
                    let decoded = try FeaturesResponse(decoding: response.messages.first ?? [])
                    if response.status.code == .ok && decoded.rows[0][0].status == .present {
                        counts.withLock { $0.ok += 1 }
                    } else {
                        counts.withLock { $0.failed.append("\(response.status)") }
                    }
                } catch {
                    counts.withLock { $0.failed.append("\(error)") }
                }
            }
        }
        // The weather stream goes in while the registry changes: every update is applied under one of them.
        let pusher = ChildProcess(
            [
                Paths.binary, "push", "--server", endpoint.description, "--source", "central-weather", "--registry",
                Paths.registry, "--view", "weather", "--jsonl", Paths.examples + "/weather_updates.jsonl",
                "--batch-rows", "50",
            ], stdout: scratch.file("push.out"), stderr: scratch.file("push.err"))
        for round in 0..<20 {
            let file = scratch.write(
                "v\(round).json", try editedRegistry([(#""max_age": "2h""#, "\"max_age\": \"\(round + 3)h\"")]))
            let applied = freshet("registry", "apply", file, "--server", endpoint.description)
            #expect(applied.status == 0, "\(applied.stderr)")
        }
        #expect(pusher.wait(timeout: .seconds(120)) == 0, "\(readText(scratch.file("push.err")))")
        stop.store(true, ordering: .relaxed)
        reader.join()
        let (ok, failed) = counts.withLock { $0 }
        #expect(failed.isEmpty, "\(failed.prefix(5))")
        #expect(ok > 0)
        #expect(registryShow(server).stdout.contains("registry version 21\n"))
        let stats = freshet("stats", "--data", scratch.file("data"))
        #expect(stats.stdout.contains("source central-weather: position 20914"), "\(stats.stdout)")
        #expect(server.terminate() == 0)
    }

    /// The bytes of the map in use, from `freshet stats --json`.
    private func usedBytes(_ server: ServerProcess, _ data: String) throws -> Int {
        let stats = freshet("stats", "--data", data, "--json")
        guard let line = stats.stdout.split(separator: "\n").first(where: { $0.contains("\"used_bytes\"") }),
            let number = Int(line.filter(\.isNumber))
        else { throw HarnessError("no used_bytes in \(stats.stdout)") }
        return number
    }
}
