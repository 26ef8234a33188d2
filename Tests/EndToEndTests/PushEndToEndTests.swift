// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// `freshet push` against the real server: positions, deletes, refusals that name the problem, unreachable servers.

import FreshetCore
import FreshetGRPC
import FreshetPosix
import FreshetProto
import Glibc
import Testing

/// A source's position on a running server, through GetPosition.
private func position(_ server: ServerProcess, source: String) throws -> SourcePositionMessage {
    let response = try server.client().unary(
        path: "/freshet.v1.Replication/GetPosition", request: ReplicationCodec.encodePositionRequest(source: source))
    guard response.status.code == .ok, let message = response.messages.first,
        let position = ReplicationCodec.decodePosition(message)
    else { throw HarnessError("GetPosition failed: \(response.status)") }
    return position
}

private func push(_ server: ServerProcess, _ file: String, source: String = "s", extra: [String] = []) -> CommandResult
{
    freshet(
        [
            "push", "--server", server.endpoint.description, "--source", source, "--registry", Paths.registry,
            "--view", "weather", "--jsonl", file,
        ] + extra)
}

/// Two digits.
private func format2(_ number: Int) -> String { number < 10 ? "0\(number)" : "\(number)" }

private let weatherFeatures = "temp,dewp,humid,wind_dir,wind_speed,wind_gust,precip,pressure,visib"
    .split(separator: ",").map { "weather:\($0)" }

private func weatherLine(_ origin: String, _ time: String, temp: Double) -> String {
    """
    {"entity": {"origin": "\(origin)"}, "event_time": "\(time)", "features": {"temp": \(temp), "dewp": 1.0, \
    "humid": 2.0, "wind_dir": 3.0, "wind_speed": 4.0, "wind_gust": null, "precip": 0.0, "pressure": 1000.0, \
    "visib": 10.0}}
    """
}

@Suite("freshet push end to end", .serialized)
struct PushEndToEndTests {
    @Test func pushAppliesNewestEventsDeletesAndResumesFromThePosition() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let server = try ServerProcess(data: scratch.file("data"), scratch: scratch)
        let lines = [
            weatherLine("EWR", "2024-01-01T10:00:00Z", temp: 50),
            weatherLine("JFK", "2024-01-01T10:00:00Z", temp: 60),
            weatherLine("EWR", "2024-01-01T09:00:00Z", temp: 40),  // late and older: superseded
            #"{"entity": {"origin": "JFK"}, "event_time": "2024-01-01T11:00:00Z", "op": "delete"}"#,
            weatherLine("JFK", "2024-01-01T10:30:00Z", temp: 65),  // older than the delete: superseded
            "",
            weatherLine("LGA", "2024-01-01T12:00:00Z", temp: 70),
        ]
        let file = scratch.write("updates.jsonl", lines.joined(separator: "\n") + "\n")
        let first = push(server, file, extra: ["--batch-rows", "2"])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(
            first.stdout.contains(
                "done: position 6 of 6 (source totals: written 4, superseded 2, duplicates skipped 0)"),
            "\(first.stdout)")

        let request = FeaturesRequest(
            target: .references(["weather:temp"]),
            rows: ["EWR", "JFK", "LGA", "XXX"].map { [("origin", FeaturesRequest.Key.string($0))] },
            maxStaleness: nil)
        let rows = try server.getFeatures(request).rows
        #expect(rows[0][0].values == [.double(50)])
        #expect(rows[0][0].eventTime == (try Timestamp(iso8601: "2024-01-01T10:00:00Z")))
        #expect(rows[1][0].status == .notFound, "a deleted row reads NOT_FOUND, and an older upsert did not revive it")
        #expect(rows[2][0].values == [.double(70)])
        #expect(rows[3][0].status == .notFound)

        // A rerun with another batch size sends nothing new: the position says everything is there.
        let rerun = push(server, file, extra: ["--batch-rows", "5"])
        #expect(rerun.status == 0, "\(rerun.stderr)")
        let after = try position(server, source: "s")
        #expect(after.appliedSequence == 6)
        #expect(after.written + after.superseded == after.appliedSequence)
        #expect(after.duplicates == 0, "the rerun resumed from the position instead of resending")

        // The file grows: only the new line is sent.
        let longer = scratch.write(
            "updates.jsonl",
            (lines + [weatherLine("EWR", "2024-01-02T00:00:00Z", temp: 55)]).joined(separator: "\n") + "\n")
        let grown = push(server, longer)
        #expect(grown.status == 0, "\(grown.stderr)")
        #expect(try position(server, source: "s").appliedSequence == 7)
        #expect(try server.getFeatures(request).rows[0][0].values == [.double(55)])

        // freshet get shows each row's age.
        let get = freshet(
            "get", "--server", server.endpoint.description, "--features", "weather:temp", "--row", "origin=EWR")
        #expect(get.status == 0, "\(get.stderr)")
        #expect(get.stdout.contains("age="), "\(get.stdout)")
        #expect(server.terminate() == 0)

        // freshet stats shows the tombstone apart from live rows, and the source's position and counters.
        let stats = freshet("stats", "--data", scratch.file("data"))
        #expect(stats.status == 0, "\(stats.stderr)")
        #expect(stats.stdout.contains("view weather: 2 rows (+1 deleted), 9 features"), "\(stats.stdout)")
        #expect(
            stats.stdout.contains("source s: position 7 (written 5, superseded 2, duplicates skipped 0)"),
            "\(stats.stdout)")
    }

    @Test func aBadLineSendsNothingAndNamesTheFileAndLine() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let server = try ServerProcess(data: scratch.file("data"), scratch: scratch)
        let file = scratch.write(
            "bad.jsonl",
            weatherLine("EWR", "2024-01-01T10:00:00Z", temp: 1) + "\n"
                + #"{"entity": {"origin": "EWR"}, "event_time": "2024-01-01T11:00:00Z", "features": {"temp": "hot"}}"#
                + "\n")
        let result = push(server, file)
        #expect(result.status == 1)
        #expect(result.stderr.contains(file + ":2:"), "\(result.stderr)")
        #expect(try position(server, source: "s").appliedSequence == 0, "nothing may be sent when a line is bad")
        #expect(server.terminate() == 0)
    }

    @Test func aServerThatRefusesTheUpdatesFailsThePushWithItsReason() throws {
        // The producer's registry has a feature the server's lacks: the server refuses the first batch with
        // INVALID_ARGUMENT naming the update and the feature, and push stops for that server (no retry loop).
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let server = try ServerProcess(data: scratch.file("data"), scratch: scratch)
        let registryText = readText(Paths.registry).replacing(
            #"{"name": "visib", "type": "double", "description": "miles"}"#,
            with: #"{"name": "visib", "type": "double", "description": "miles"}, {"name": "snow", "type": "double"}"#)
        #expect(registryText != readText(Paths.registry), "the test registry edit did not apply")
        let registry = scratch.write("registry.json", registryText)
        let line = weatherLine("EWR", "2024-01-01T10:00:00Z", temp: 1).replacing(
            #""visib": 10.0}"#, with: #""visib": 10.0, "snow": 2.5}"#)
        let file = scratch.write("snow.jsonl", line + "\n")
        let started = ContinuousClock.now
        let result = freshet(
            "push", "--server", server.endpoint.description, "--source", "s", "--registry", registry, "--view",
            "weather", "--jsonl", file)
        #expect(result.status == 1)
        #expect(result.stderr.contains("INVALID_ARGUMENT"), "\(result.stderr)")
        #expect(result.stderr.contains("update 0"), "\(result.stderr)")
        #expect(result.stderr.contains("'snow'"), "\(result.stderr)")
        #expect(ContinuousClock.now - started < .seconds(30), "a refusal must not be retried until give-up")
        #expect(try position(server, source: "s").appliedSequence == 0)
        #expect(server.terminate() == 0)
    }

    @Test func anUnreachableServerIsGivenUpAfterTheLimitWhileTheOthersAreFed() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let server = try ServerProcess(data: scratch.file("data"), scratch: scratch)
        // A port nobody listens on: bind one, note it, close it.
        let probe = try Socket.listen(on: Endpoint(host: "127.0.0.1", port: 0), sharing: .firstOfGroup)
        let dead = try probe.localEndpoint()
        probe.close()
        let file = scratch.write("one.jsonl", weatherLine("LGA", "2024-01-01T10:00:00Z", temp: 3) + "\n")
        let result = freshet(
            "push", "--server", "\(dead),\(server.endpoint)", "--source", "s", "--registry", Paths.registry,
            "--view", "weather", "--jsonl", file, "--give-up-after", "1s")
        #expect(result.status == 1)
        #expect(result.stderr.contains("\(dead): FAILED: no progress"), "\(result.stderr)")
        #expect(result.stdout.contains("\(server.endpoint): done: position 1 of 1"), "\(result.stdout)")
        #expect(try position(server, source: "s").appliedSequence == 1)
        #expect(server.terminate() == 0)
    }

    @Test func batchesAreCutBySizeAndARowTooLargeForTheServerFailsAtOnce() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let server = try ServerProcess(
            data: scratch.file("data"), extra: ["--max-message-bytes", "2KiB"], scratch: scratch)
        // 40 rows of about 280 bytes: 500 rows per batch would be 11 KB, over the server's 2 KiB; --max-batch-bytes
        // cuts the batches so that they fit.
        let lines = (0..<40).map { weatherLine("EWR", "2024-01-01T10:\(format2($0)):00Z", temp: Double($0)) }
        let fits = scratch.write("fits.jsonl", lines.joined(separator: "\n") + "\n")
        let cut = push(server, fits, extra: ["--max-batch-bytes", "1500"])
        #expect(cut.status == 0, "\(cut.stderr)")
        #expect(try position(server, source: "s").appliedSequence == 40)

        // One row larger than the server's limit: refused as too large, and push stops at once instead of retrying
        // (it used to reconnect every 100 ms forever, since each reconnect counted as progress).
        let header = "tailnum,year,type,manufacturer,model,engines,seats,speed,engine\n"
        let tooLarge = scratch.write(
            "wide.csv", header + "N1,2004,Fixed wing,EMBRAER,\(String(repeating: "m", count: 3000)),2,55,,Turbo-fan\n")
        let started = ContinuousClock.now
        let refused = freshet(
            "push", "--server", server.endpoint.description, "--source", "w", "--registry", Paths.registry, "--view",
            "planes", "--csv", tooLarge, "--give-up-after", "60s")
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("refused a batch as too large"), "\(refused.stderr)")
        #expect(ContinuousClock.now - started < .seconds(30))
        #expect(server.terminate() == 0)
    }

    @Test func aFullStoreIsGivenUpAfterTheLimitNotRetriedForever() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let server = try ServerProcess(data: scratch.file("data"), extra: ["--map-size", "1MiB"], scratch: scratch)
        // 20,000 distinct stations need several MiB: the store fills, every commit fails with RESOURCE_EXHAUSTED, and
        // reconnecting is no progress.
        let lines = (0..<20_000).map { weatherLine("S\($0)", "2024-01-01T10:00:00Z", temp: Double($0)) }
        let file = scratch.write("many.jsonl", lines.joined(separator: "\n") + "\n")
        let started = ContinuousClock.now
        let result = push(server, file, extra: ["--give-up-after", "3s"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("FAILED: no progress"), "\(result.stderr)")
        #expect(result.stdout.contains("RESOURCE_EXHAUSTED"), "\(result.stdout)")
        #expect(ContinuousClock.now - started < .seconds(60))
        // The server logged the failing commits at most once per 10 s, not once per retry.
        let failures = server.log.split(separator: "\n").filter { $0.contains("replication commit failed") }
        #expect(failures.count <= 3, "\(failures.count) log lines")
        #expect(server.terminate() == 0)
    }

    @Test func usageErrorsExitTwo() {
        let cases: [[String]] = [
            ["push", "--source", "s", "--registry", Paths.registry, "--view", "weather", "--jsonl", "x"],
            [
                "push", "--server", "127.0.0.1:1", "--source", "", "--registry", Paths.registry, "--view", "weather",
                "--jsonl", "x",
            ],
            [
                "push", "--server", "127.0.0.1:1", "--source", "s", "--registry", Paths.registry, "--view", "nope",
                "--jsonl", "x",
            ],
            [
                "push", "--server", "127.0.0.1:1", "--source", "s", "--registry", Paths.registry, "--view", "weather",
                "--jsonl", "x", "--batch-rows", "0",
            ],
            [
                "push", "--server", "nohost", "--source", "s", "--registry", Paths.registry, "--view", "weather",
                "--jsonl", "x",
            ],
            [
                "push", "--server", "127.0.0.1:1,127.0.0.1:1", "--source", "s", "--registry", Paths.registry, "--view",
                "weather", "--jsonl", "x",
            ],
            [
                "push", "--server", "127.0.0.1:1", "--source", "a\u{1}b", "--registry", Paths.registry, "--view",
                "weather", "--jsonl", "x",
            ],
            [
                "push", "--server", "127.0.0.1:1", "--source", "s", "--registry", Paths.registry, "--view", "weather",
                "--jsonl", "x", "--max-batch-bytes", "10",
            ],
        ]
        for arguments in cases {
            let result = freshet(arguments)
            #expect(result.status == 2, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains("freshet push:"), "\(result.stderr)")
        }
    }
}
