// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// The CLI as users run it: loads that fail whole, loads beside a running server, bad registries, get output, SIGTERM.

import FreshetCore
import FreshetGRPC
import FreshetPosix
import FreshetProto
import Glibc
import Testing

@Suite("freshet commands end to end", .serialized)
struct CommandsEndToEndTests {
    @Test func csvWithABadLineNamesFileAndLineAndLoadsNothing() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let data = scratch.file("data")
        try load(data: data, view: "planes", csv: Paths.examples + "/planes.csv")
        let header = "tailnum,year,type,manufacturer,model,engines,seats,speed,engine\n"
        let good = "N1,2004,Fixed wing multi engine,EMBRAER,EMB-145XR,2,55,,Turbo-fan\n"
        let cases: [(String, String, String)] = [
            (header + good + "N2,20x4,Fixed wing,EMBRAER,E,2,55,,Turbo-fan\n", ":3:", "'20x4' is not an int64"),
            (header + good + good + "N3,2004,Fixed wing,EMBRAER\n", ":4:", "expected 9 fields, found 4"),
            (header + good + ",2004,Fixed wing,EMBRAER,E,2,55,,Turbo-fan\n", ":3:", "join key 'tailnum' is empty"),
            (header + "N4,2004,\"Fixed wing,EMBRAER,E,2,55,,Turbo-fan\n", ":2:", "unterminated"),
            (
                "tailnum,year,type,manufacturer,model,engines,seats,speed,engine,wingspan\n", ":1:",
                "'wingspan' is not a join key or feature"
            ),
            ("tailnum,year\n", ":1:", "lacks columns"),
        ]
        for (index, (text, line, reason)) in cases.enumerated() {
            let file = scratch.write("bad\(index).csv", text)
            let result = freshet(
                "load", "--data", data, "--registry", Paths.registry, "--view", "planes", "--csv", file)
            #expect(result.status == 1, "case \(index): \(result.stderr)")
            #expect(result.stderr.contains(file + line), "case \(index) should name \(file)\(line): \(result.stderr)")
            #expect(result.stderr.contains(reason), "case \(index) should say \(reason): \(result.stderr)")
        }
        // The good lines before each bad one were not loaded: one write transaction per file.
        let stats = freshet("stats", "--data", data)
        #expect(stats.status == 0, "\(stats.stderr)")
        #expect(stats.stdout.contains("view planes: 3322 rows"), "\(stats.stdout)")
        let missing = freshet("stats", "--data", scratch.file("nowhere"))
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("no Freshet data directory at \(scratch.file("nowhere"))"), "\(missing.stderr)")
    }

    @Test func loadWorksWhileAServerRunsAndLookupsSeeIt() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let data = scratch.file("data")
        try load(data: data, view: "airlines", csv: Paths.examples + "/airlines.csv")
        let server = try ServerProcess(data: data, scratch: scratch)
        let request = FeaturesRequest(target: .references(["planes:seats"]), rows: [[("tailnum", .string("N14228"))]])
        #expect(try server.getFeatures(request).rows[0][0].status == .notFound)
        try load(data: data, view: "planes", csv: Paths.examples + "/planes.csv")
        #expect(try server.getFeatures(request).rows[0][0].values == [.int64(149)])

        // A reload with an older event time keeps the newer rows (newest event wins).
        let older = freshet(
            "load", "--data", data, "--registry", Paths.registry, "--view", "planes", "--csv",
            scratch.write(
                "old.csv", "tailnum,year,type,manufacturer,model,engines,seats,speed,engine\nN14228,1999,x,y,z,2,1,,e\n"
            ),
            "--event-time", "2000-01-01T00:00:00Z")
        #expect(older.status == 0)
        #expect(older.stdout.contains("loaded 0 rows"), "\(older.stdout)")
        #expect(try server.getFeatures(request).rows[0][0].values == [.int64(149)])
        #expect(server.terminate() == 0)
    }

    @Test func aServerKeepsServingAfterALoadGrowsTheMap() throws {
        // Regression: a load with a larger --map-size grew the file past the server's map, and every lookup failed
        // with MAP_RESIZED until a restart.
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let data = scratch.file("data")
        try load(data: data, view: "airlines", csv: Paths.examples + "/airlines.csv", extra: ["--map-size", "1MiB"])
        let server = try ServerProcess(data: data, extra: ["--map-size", "1MiB"], scratch: scratch)
        let airline = FeaturesRequest(target: .references(["airlines:name"]), rows: [[("carrier", .string("UA"))]])
        #expect(try server.getFeatures(airline).rows[0][0].values == [.string("United Air Lines Inc.")])

        // About 3 MB of rows: more than the server's 1 MiB map can hold.
        var text = "tailnum,year,type,manufacturer,model,engines,seats,speed,engine\n"
        let filler = String(repeating: "x", count: 1000)
        for index in 0..<3000 { text += "T\(index),2000,\(filler),m,x,2,\(index),,e\n" }
        let small = freshet(
            "load", "--data", data, "--registry", Paths.registry, "--view", "planes", "--csv",
            scratch.write("big.csv", text),
            "--map-size", "1MiB")
        #expect(small.status == 1)
        #expect(small.stderr.contains("Rerun with a larger --map-size"), "\(small.stderr)")
        try load(data: data, view: "planes", csv: scratch.file("big.csv"), extra: ["--map-size", "64MiB"])

        #expect(try server.getFeatures(airline).rows[0][0].values == [.string("United Air Lines Inc.")])
        let plane = FeaturesRequest(target: .references(["planes:seats"]), rows: [[("tailnum", .string("T2999"))]])
        #expect(try server.getFeatures(plane).rows[0][0].values == [.int64(2999)])
        #expect(server.terminate() == 0)
    }

    @Test func aRowTooLargeToServeIsRefusedAtLoad() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let huge = String(repeating: "w", count: 1_200_000)
        let line =
            "{\"entity\": {\"carrier\": \"ZZ\"}, \"event_time\": \"2013-01-01T00:00:00Z\", \"features\": {\"name\": \"\(huge)\"}}"
        let file = scratch.write(
            "huge.jsonl",
            "{\"entity\": {\"carrier\": \"AA\"}, \"event_time\": \"2013-01-01T00:00:00Z\", \"features\": {\"name\": \"ok\"}}\n"
                + line + "\n")
        let result = freshet(
            "load", "--data", scratch.file("data"), "--registry", Paths.registry, "--view", "airlines", "--jsonl", file)
        #expect(result.status == 1)
        #expect(result.stderr.contains(file + ":2: the row is"), "\(result.stderr)")
        #expect(result.stderr.contains("the limit is 1048576"))
        #expect(freshet("stats", "--data", scratch.file("data")).stdout.contains("view airlines: 0 rows"))
    }

    @Test func badRegistryStopsServeWithEveryProblemNamed() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let registry = scratch.write(
            "registry.json",
            """
            {"entities": [{"name": "plane", "join_keys": [{"name": "tailnum", "type": "string"}]}],
             "feature_views": [
               {"name": "planes", "entity": "plane", "features": [{"name": "seats", "type": "int32"}]},
               {"name": "planes", "entity": "boat", "features": [{"name": "seats", "type": "int64"}]}],
             "feature_services": [{"name": "m", "views": [{"view": "trains", "features": ["x"]}]}]}
            """)
        let result = freshet("serve", "--data", scratch.file("data"), "--registry", registry, "--listen", "127.0.0.1:0")
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty, "no listening line: \(result.stdout)")
        #expect(result.stderr.contains("'int32' is not a feature type"), "\(result.stderr)")
        let broken = scratch.write("broken.json", "{\"entities\": [}")
        let parse = freshet("serve", "--data", scratch.file("data"), "--registry", broken)
        #expect(parse.status == 1)
        #expect(parse.stderr.contains("line 1, column 15"), "\(parse.stderr)")
        let missing = freshet("serve", "--data", scratch.file("data"), "--registry", scratch.file("nope.json"))
        #expect(missing.stderr.contains("nope.json"), "\(missing.stderr)")
        let semantic = scratch.write(
            "semantic.json",
            """
            {"entities": [{"name": "plane", "join_keys": [{"name": "tailnum", "type": "string"}]}],
             "feature_views": [
               {"name": "planes", "entity": "plane", "features": [{"name": "seats", "type": "int64"}]},
               {"name": "planes", "entity": "boat", "features": [{"name": "seats", "type": "int64"}]}],
             "feature_services": [{"name": "m", "views": [{"view": "trains", "features": ["x"]}]}]}
            """)
        let problems = freshet("serve", "--data", scratch.file("data"), "--registry", semantic)
        #expect(problems.status == 1)
        for part in ["duplicate feature view 'planes'", "unknown entity 'boat'", "unknown feature view 'trains'"] {
            #expect(problems.stderr.contains(part), "should mention \(part): \(problems.stderr)")
        }
    }

    @Test func usageErrorsExitTwoWithAMessage() {
        let unknown = freshet("serve", "--dta", "x")
        #expect(unknown.status == 2)
        #expect(unknown.stderr.contains("unknown option --dta"))
        let listen = freshet("serve", "--data", "x", "--registry", Paths.registry, "--listen", "localhost")
        #expect(listen.status == 2)
        #expect(listen.stderr.contains("HOST:PORT"))
        let command = freshet("fly")
        #expect(command.status == 2)
        #expect(command.stderr.contains("unknown command 'fly'"))
        #expect(freshet("serve", "--help").status == 0)
    }

    @Test func getPrintsTextAndJSON() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let data = scratch.file("data")
        try load(data: data, view: "planes", csv: Paths.examples + "/planes.csv")
        let server = try ServerProcess(data: data, scratch: scratch)
        let address = server.endpoint.description
        let text = freshet(
            "get", "--server", address, "--features", "planes:year,planes:seats,planes:type", "--row", "tailnum=N10156",
            "--row",
            "tailnum=NOPE")
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("planes  PRESENT"))
        #expect(text.stdout.contains("year=2004  seats=55"))
        #expect(text.stdout.contains("planes  NOT_FOUND"))
        #expect(text.stdout.contains("type=\"Fixed wing multi engine\""))
        // Regression: strings were printed raw, so a quote or a newline in a value garbled the output.
        try load(
            data: data, view: "airlines", csv: scratch.write("odd.csv", "carrier,name\nQQ,\"Say \"\"hi\"\",\nbye\"\n"))
        let odd = freshet("get", "--server", address, "--features", "airlines:name", "--row", "carrier=QQ")
        #expect(odd.stdout.contains(#"name="Say \"hi\",\nbye""#), "\(odd.stdout)")
        let nullKey = freshet("get", "--server", address, "--features", "planes:year", "--row", "tailnum:null")
        #expect(nullKey.stdout.contains("row 0: tailnum:null"), "a null key prints as it is written: \(nullKey.stdout)")

        let json = freshet(
            "get", "--server", address, "--features", "planes:year,planes:speed", "--row", "tailnum=N10156", "--json")
        #expect(json.status == 0, "\(json.stderr)")
        let document = try JSONParser.parse(json.stdout)
        let view = document.objectValue?["rows"]?.arrayValue?.first?.objectValue?["views"]?.objectValue?["planes"]?
            .objectValue
        #expect(view?["status"] == .string("PRESENT"))
        #expect(view?["values"]?.objectValue?["year"] == .number(JSONNumber(2004)))
        #expect(view?["values"]?.objectValue?["speed"] == .null, "a null value prints as null")
        #expect(view?["event_time"]?.stringValue != nil)

        let failure = freshet("get", "--server", address, "--service", "nope", "--row", "tailnum=N10156")
        #expect(failure.status == 1)
        #expect(failure.stderr.contains("INVALID_ARGUMENT"))
        let unreachable = freshet("get", "--server", "127.0.0.1:1", "--service", "delay_model", "--row", "tailnum=N1")
        #expect(unreachable.status == 1)
        #expect(unreachable.stderr.contains("cannot reach 127.0.0.1:1"))
        #expect(server.terminate() == 0)
    }

    @Test func sigtermDrainsAndExitsZeroWithClientsConnected() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let data = scratch.file("data")
        try load(data: data, view: "planes", csv: Paths.examples + "/planes.csv")
        let server = try ServerProcess(data: data, scratch: scratch)
        let clients = try (0..<4).map { _ in try server.client() }
        for client in clients {
            let response = try client.unary(
                path: "/freshet.v1.FeatureServing/GetFeatures",
                request: FeaturesRequest(
                    target: .references(["planes:seats"]), rows: [[("tailnum", .string("N14228"))]]
                ).encoded())
            #expect(response.status.code == .ok)
        }
        let started = ContinuousClock.now
        #expect(server.terminate(timeout: .seconds(12)) == 0, "\(server.log)")
        #expect(ContinuousClock.now - started < .seconds(11))
        #expect(server.log.contains("\"msg\":\"draining\""))
        #expect(server.log.contains("\"msg\":\"stopped\""))
    }
}
