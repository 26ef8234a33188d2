// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// The real binary loads planes.csv and serves every plane back exactly: types, nulls, unknown and null keys.

import FreshetCore
import FreshetGRPC
import FreshetPosix
import FreshetProto
import Testing

/// planes.csv parsed independently of the product's CSV and value parsers: the file has no quoted fields, so a
/// split on commas is exact; an empty field is null.
private struct ExpectedPlanes {
    static let features = ["year", "type", "manufacturer", "model", "engines", "seats", "speed", "engine"]
    static let integerColumns: Set<String> = ["year", "engines", "seats", "speed"]

    var tailnums: [String] = []
    var rows: [String: [FeatureValue]] = [:]

    init() throws {
        let text = String(decoding: try FileIO.readAll(Paths.examples + "/planes.csv"), as: UTF8.self)
        let lines = text.split(separator: "\n")
        let header = lines[0].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        for line in lines.dropFirst() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            precondition(fields.count == header.count)
            var values: [FeatureValue] = []
            for feature in Self.features {
                let text = fields[header.firstIndex(of: feature)!]
                if text.isEmpty {
                    values.append(.null)
                } else if Self.integerColumns.contains(feature) {
                    values.append(.int64(Int64(text)!))
                } else {
                    values.append(.string(text))
                }
            }
            self.tailnums.append(fields[0])
            self.rows[fields[0]] = values
        }
    }
}

@Suite("planes end to end", .serialized)
struct PlanesEndToEndTests {
    @Test func everyPlaneComesBackExactly() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let data = scratch.file("data")
        let loaded = freshet(
            "load", "--data", data, "--registry", Paths.registry, "--view", "planes", "--csv",
            Paths.examples + "/planes.csv")
        #expect(loaded.status == 0, "\(loaded.stderr)")
        #expect(loaded.stdout.contains("loaded 3322 rows into planes"))

        let expected = try ExpectedPlanes()
        #expect(expected.tailnums.count == 3322)
        let server = try ServerProcess(data: data, scratch: scratch)
        let client = try server.client()
        let references = ExpectedPlanes.features.map { "planes:\($0)" }

        // Every known plane, in batches of varied size, with unknown and null tailnums mixed in.
        let unknown = ["NOPE1", "N0000X", "D942DN", "n14228", "N14228 ", String(repeating: "Z", count: 300)]
        var keys: [FeaturesRequest.Key] = expected.tailnums.map { .string($0) }
        for (index, tailnum) in unknown.enumerated() {
            keys.insert(.string(tailnum), at: index * 500)
        }
        keys.insert(.null, at: 42)
        keys.insert(.null, at: 2000)
        let batchSizes = [1, 2, 7, 100, 333, 1000, 5000]
        var start = 0
        var round = 0
        var seen = 0
        var nullYears = 0
        var notFound = 0
        while start < keys.count {
            let size = min(batchSizes[round % batchSizes.count], keys.count - start)
            let batch = Array(keys[start..<start + size])
            let request = FeaturesRequest(target: .references(references), rows: batch.map { [("tailnum", $0)] })
            let response = try server.getFeatures(request, client: client)
            #expect(response.views.map(\.name) == ["planes"])
            #expect(response.views.first?.features == ExpectedPlanes.features)
            try #require(response.rows.count == batch.count, "one result per request row")
            for (key, result) in zip(batch, response.rows) {
                let view = result[0]
                guard case .string(let tailnum) = key, let values = expected.rows[tailnum] else {
                    #expect(view.status == .notFound, "\(key) must be NOT_FOUND")
                    #expect(view.values.count == ExpectedPlanes.features.count)
                    #expect(view.values.allSatisfy { $0 == nil }, "NOT_FOUND values are missing, not null")
                    #expect(view.eventTime == nil && view.ingestTime == nil)
                    notFound += 1
                    continue
                }
                #expect(view.status == .present, "\(tailnum)")
                #expect(view.values == values.map { Optional($0) }, "\(tailnum): \(view.values) != \(values)")
                #expect(view.eventTime != nil && view.ingestTime != nil)
                if values[0] == .null { nullYears += 1 }
                seen += 1
            }
            start += size
            round += 1
        }
        #expect(seen == 3322)
        #expect(nullYears == 70, "planes.csv has 70 planes with an empty year")
        #expect(notFound == unknown.count + 2)
        #expect(server.terminate() == 0)
    }

    @Test func serviceJoinsOneViewUnderTwoKeyNames() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let data = scratch.file("data")
        try load(data: data, view: "planes", csv: Paths.examples + "/planes.csv")
        try load(data: data, view: "airports", csv: Paths.examples + "/airports.csv")
        try load(data: data, view: "airlines", csv: Paths.examples + "/airlines.csv")
        try load(data: data, view: "weather", jsonl: Paths.examples + "/weather_updates.jsonl")
        let server = try ServerProcess(data: data, scratch: scratch)
        let request = FeaturesRequest(
            target: .service("delay_model"),
            rows: [
                [
                    ("tailnum", .string("N14228")), ("origin", .string("EWR")), ("dest", .string("IAH")),
                    ("carrier", .string("UA")),
                ],
                // A cancelled flight (null tailnum) to a destination missing from airports.csv.
                [("tailnum", .null), ("origin", .string("JFK")), ("dest", .string("SJU")), ("carrier", .string("AA"))],
            ])
        let response = try server.getFeatures(request)
        #expect(response.views.map(\.name) == ["planes", "origin_airport", "dest_airport", "airlines", "weather"])
        #expect(response.views[1].joinKeys == ["origin"])
        #expect(response.views[2].joinKeys == ["dest"])
        let first = response.rows[0]
        #expect(first.map(\.status) == [.present, .present, .present, .present, .stale])
        // EWR: 40.6925,-74.168667,18 ft,-5 h; IAH: George Bush Intercontinental,29.984433,-95.341442,97,-6.
        #expect(first[1].values == [.double(40.6925), .double(-74.168667), .int64(18), .int64(-5)])
        #expect(first[2].values.first == .string("George Bush Intercontinental"))
        #expect(first[2].values[1] == .double(29.984433))
        #expect(first[3].values == [.string("United Air Lines Inc.")])
        // The newest EWR observation in the stream (2013-10-19T03:00:00Z): temp 51.98, wind_gust null.
        #expect(first[4].eventTime == (try Timestamp(iso8601: "2013-10-19T03:00:00Z")))
        #expect(first[4].values[0] == .double(51.98))
        #expect(first[4].values[5] == .null)
        let second = response.rows[1]
        #expect(second.map(\.status) == [.notFound, .present, .notFound, .present, .stale])
        #expect(server.terminate() == 0)
    }
}
