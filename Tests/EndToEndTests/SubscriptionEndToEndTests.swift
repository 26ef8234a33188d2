// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Regions that serve different feature services (`freshet serve --serve`): each stores only the views its services
// read, skips (and counts) the updates of the others, and refuses lookups of services it does not serve.

import FreshetCore
import FreshetGRPC
import FreshetPosix
import FreshetProto
import Glibc
import Testing

@Suite("regions serving different services", .serialized)
struct SubscriptionEndToEndTests {
    /// Pushes every nycflights table and the weather stream into `servers`, one `freshet push` per file.
    private func pushAll(_ servers: [ServerProcess]) throws {
        let list = servers.map(\.endpoint.description).joined(separator: ",")
        let files: [(view: String, flag: String, file: String, extra: [String])] = [
            ("planes", "--csv", "planes.csv", ["--event-time", "2024-01-01T00:00:00Z"]),
            ("airports", "--csv", "airports.csv", ["--event-time", "2024-01-01T00:00:00Z"]),
            ("airlines", "--csv", "airlines.csv", ["--event-time", "2024-01-01T00:00:00Z"]),
            ("weather", "--jsonl", "weather_updates.jsonl", []),
        ]
        for (view, flag, file, extra) in files {
            let result = freshet(
                [
                    "push", "--server", list, "--source", "central-\(view)", "--registry", Paths.registry, "--view",
                    view, flag, Paths.examples + "/" + file,
                ] + extra)
            guard result.status == 0 else {
                throw HarnessError("push of \(file) failed (\(result.status)): \(result.stderr)")
            }
        }
    }

    @Test func eachRegionStoresExactlyTheViewsOfItsServices() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let everything = try ServerProcess(
            data: scratch.file("a"), extra: ["--serve", "delay_model"], scratch: scratch)
        let weatherOnly = try ServerProcess(
            data: scratch.file("b"), extra: ["--serve", "weather_model"], scratch: scratch)
        try self.pushAll([everything, weatherOnly])

        // Lookups: each region serves its own service, with the source's values, and refuses the other's.
        let flight: [(String, FeaturesRequest.Key)] = [
            ("tailnum", .string("N14228")), ("origin", .string("EWR")), ("dest", .string("IAH")),
            ("carrier", .string("UA")),
        ]
        let delay = try everything.getFeatures(FeaturesRequest(target: .service("delay_model"), rows: [flight]))
        #expect(delay.rows[0].map(\.status) == [.present, .present, .present, .present, .stale])
        #expect(delay.rows[0][0].values.last == .int64(149), "N14228 has 149 seats in planes.csv")
        let weather = try weatherOnly.getFeatures(
            FeaturesRequest(target: .service("weather_model"), rows: [[("origin", .string("EWR"))]]))
        // The newest EWR observation is the last one in weather_updates.jsonl (the stream is in event-time order).
        let lastEWR = readText(Paths.examples + "/weather_updates.jsonl").split(separator: "\n").last {
            $0.contains("\"origin\": \"EWR\"")
        }!
        #expect(
            weather.rows[0][0].eventTime?.iso8601.prefix(19) == lastEWR.split(separator: "\"")[9].prefix(19),
            "\(lastEWR)")
        let refused = try weatherOnly.client().unary(
            path: "/freshet.v1.FeatureServing/GetFeatures",
            request: FeaturesRequest(target: .service("delay_model"), rows: [flight]).encoded())
        #expect(refused.status.code == .failedPrecondition)
        #expect(refused.status.message.contains("it serves: weather_model"), "\(refused.status.message)")
        let refs = try weatherOnly.client().unary(
            path: "/freshet.v1.FeatureServing/GetFeatures",
            request: FeaturesRequest(target: .references(["planes:seats"]), rows: [[("tailnum", .string("N14228"))]])
                .encoded())
        #expect(refs.status.code == .failedPrecondition)
        #expect(refs.status.message.contains("'planes' is not stored in this region"), "\(refs.status.message)")
        #expect(everything.terminate() == 0)
        #expect(weatherOnly.terminate() == 0)

        // Storage: the weather-only region has only the weather view, and counted the other updates as not stored.
        let a = freshet("stats", "--data", scratch.file("a"))
        let b = freshet("stats", "--data", scratch.file("b"))
        for view in ["planes: 3322 rows", "airports: 1458 rows", "airlines: 16 rows", "weather: 3 rows"] {
            #expect(a.stdout.contains("view \(view)"), "\(a.stdout)")
        }
        #expect(b.stdout.contains("view weather: 3 rows"), "\(b.stdout)")
        for view in ["planes", "airports", "airlines"] {
            #expect(!b.stdout.contains("view \(view)"), "\(b.stdout)")
        }
        #expect(
            b.stdout.contains(
                "source central-planes: position 3322 (written 0, superseded 0, duplicates skipped 0, not stored here 3322)"
            ), "\(b.stdout)")
        #expect(
            a.stdout.contains(
                "source central-planes: position 3322 (written 3322, superseded 0, duplicates skipped 0)"),
            "\(a.stdout)")
    }

    @Test func anUnknownServiceInServeStopsTheStart() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let result = freshet(
            "serve", "--data", scratch.file("d"), "--registry", Paths.registry, "--listen", "127.0.0.1:0", "--serve",
            "delay_model,fraud_model")
        #expect(result.status == 2)
        #expect(
            result.stderr.contains("no feature service 'fraud_model' (it has: delay_model, weather_model)"),
            "\(result.stderr)")
        let twice = freshet(
            "serve", "--data", scratch.file("d"), "--registry", Paths.registry, "--listen", "127.0.0.1:0", "--serve",
            "delay_model,weather_model,delay_model")
        #expect(twice.status == 2)
        #expect(twice.stderr.contains("--serve: service 'delay_model' is named twice"), "\(twice.stderr)")
    }
}
