// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// The registry a data directory holds, versioned: accepted changes at start, and refused ones with every problem named.

import FreshetCore
import FreshetGRPC
import FreshetPosix
import FreshetProto
import Glibc
import Testing

@Suite("versioned registry end to end", .serialized)
struct RegistryEndToEndTests {
    @Test func aChangedRegistryIsCheckedAtStartAndVersioned() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let data = scratch.file("data")
        let first = try ServerProcess(data: data, scratch: scratch)
        #expect(first.terminate() == 0)
        #expect(freshet("stats", "--data", data).stdout.contains("registry: version 1"))

        // The same file again: the version stays.
        let again = try ServerProcess(data: data, scratch: scratch)
        #expect(again.terminate() == 0)
        #expect(freshet("stats", "--data", data).stdout.contains("registry: version 1"))

        // A retyped feature and a changed entity key: the start stops and names both problems.
        let original = readText(Paths.registry)
        let broken = original.replacing(
            #"{"name": "seats", "type": "int64""#, with: #"{"name": "seats", "type": "string""#
        ).replacing(
            #"{"name": "airline", "join_keys": [{"name": "carrier", "type": "string"}]"#,
            with: #"{"name": "airline", "join_keys": [{"name": "carrier", "type": "int64"}]"#)
        #expect(broken != original, "the test's registry edits did not apply")
        let refused = freshet(
            "serve", "--data", data, "--registry", scratch.write("broken.json", broken), "--listen", "127.0.0.1:0")
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("cannot replace version 1"), "\(refused.stderr)")
        #expect(
            refused.stderr.contains(
                "feature 'seats' changes type from int64 to string; a type change needs a new view version"),
            "\(refused.stderr)")
        #expect(
            refused.stderr.contains("entity 'airline' changes its join keys from [carrier string] to [carrier int64]"),
            "\(refused.stderr)")

        // An accepted change (a new service): version 2, served at once.
        let extended = original.replacing(
            #"{"name": "weather_model","#,
            with:
                #"{"name": "airline_model", "views": [{"view": "airlines", "features": ["name"]}]}, {"name": "weather_model","#
        )
        #expect(extended != original)
        let server = try ServerProcess(
            data: data, registry: scratch.write("extended.json", extended), scratch: scratch)
        let airline = try server.getFeatures(
            FeaturesRequest(target: .service("airline_model"), rows: [[("carrier", .string("UA"))]]))
        #expect(airline.rows[0][0].status == .notFound, "nothing loaded yet, but the service is known and served")
        #expect(server.terminate() == 0)
        #expect(freshet("stats", "--data", data).stdout.contains("registry: version 2"))
    }
}
