// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// The store's LMDB layout: schema checks that keep stored rows readable, and loads where the newest event wins.

import FreshetCore
import FreshetProto
import FreshetServer
import FreshetStorage
import Glibc
import Testing

private func temporaryDirectory() -> String {
    var template = Array("/tmp/freshet-store-XXXXXX".utf8CString)
    _ = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    return String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

private func removeDirectory(_ path: String) {
    for file in ["data.mdb", "lock.mdb"] { unlink(path + "/" + file) }
    rmdir(path)
}

private func registry(features: [Feature], keyType: JoinKeyType = .string) -> Registry {
    Registry(
        entities: [Entity(name: "plane", joinKeys: [.init(name: "tailnum", type: keyType)])],
        views: [FeatureView(name: "planes", entity: "plane", features: features)])
}

private let seats = Feature(name: "seats", type: .int64)
private let year = Feature(name: "year", type: .int64)

@Suite("Feature store", .serialized)
struct FeatureStoreTests {
    @Test func appendingAFeatureKeepsOldRowsReadable() throws {
        let path = temporaryDirectory()
        defer { removeDirectory(path) }
        do {
            let store = try FeatureStore(directory: path, registry: registry(features: [seats]))
            let row = ParsedRow(key: [.string("N1")], values: [.int64(55)], eventTime: Timestamp(seconds: 10), line: 2)
            #expect(try store.load(view: "planes", rows: [row], ingestTime: Timestamp(seconds: 20)).written == 1)
        }
        let store = try FeatureStore(directory: path, registry: registry(features: [seats, year]))
        let stored = try store.environment.read { transaction in
            try transaction.get(store.database(forView: "planes")!, key: Array("N1".utf8))
        }
        let values = try #require(stored).withUnsafeBytes { StoredRowView($0)?.decodeValues() }
        #expect(values == [.int64(55)], "one segment; the new feature reads as missing")
    }

    @Test func aRegistryMayGoBackToAPrefixOfTheStoredFeatures() throws {
        // Regression: starting a server once with an added feature made the old registry unusable for good.
        let path = temporaryDirectory()
        defer { removeDirectory(path) }
        _ = try FeatureStore(directory: path, registry: registry(features: [seats]))
        _ = try FeatureStore(directory: path, registry: registry(features: [seats, year]))
        do {
            let back = try FeatureStore(directory: path, registry: registry(features: [seats]))
            _ = try back.load(
                view: "planes",
                rows: [ParsedRow(key: [.string("A")], values: [.int64(1)], eventTime: Timestamp(seconds: 1), line: 1)],
                ingestTime: Timestamp(seconds: 2))
        }
        // The longer schema is remembered: the second position cannot now hold another feature.
        let other = Feature(name: "speed", type: .int64)
        #expect {
            _ = try FeatureStore(directory: path, registry: registry(features: [seats, other]))
        } throws: { error in
            (error as? StoreError)?.message.contains("stores feature 2 as 'year int64'") == true
        }
        _ = try FeatureStore(directory: path, registry: registry(features: [seats, year, other]))
    }

    @Test(arguments: [
        (
            [Feature(name: "seats", type: .string)], JoinKeyType.string,
            "stores feature 1 as 'seats int64', but the registry has 'seats string'"
        ),
        ([year, seats], .string, "stores feature 1 as 'seats int64', but the registry has 'year int64'"),
        ([seats], .int64, "was stored with entity key"),
    ])
    func incompatibleChangesAreRefused(features: [Feature], keyType: JoinKeyType, expected: String) throws {
        let path = temporaryDirectory()
        defer { removeDirectory(path) }
        do {
            _ = try FeatureStore(directory: path, registry: registry(features: [seats]))
        }
        #expect {
            _ = try FeatureStore(directory: path, registry: registry(features: features, keyType: keyType))
        } throws: { error in
            let message = (error as? StoreError)?.message ?? ""
            return message.contains(expected) && message.contains("feature view 'planes'")
        }
    }

    @Test func newestEventWinsWithinAndAcrossLoads() throws {
        let path = temporaryDirectory()
        defer { removeDirectory(path) }
        let store = try FeatureStore(directory: path, registry: registry(features: [seats]))
        func row(_ key: String, _ value: Int64, at seconds: Int64) -> ParsedRow {
            ParsedRow(key: [.string(key)], values: [.int64(value)], eventTime: Timestamp(seconds: seconds), line: 1)
        }
        let first = try store.load(
            view: "planes", rows: [row("A", 1, at: 100), row("A", 2, at: 50), row("B", 3, at: 10)],
            ingestTime: Timestamp(seconds: 1000))
        #expect(first.written == 2)
        #expect(first.skippedOlder == 1)
        let second = try store.load(
            view: "planes", rows: [row("A", 4, at: 99), row("B", 5, at: 10)], ingestTime: Timestamp(seconds: 2000))
        #expect(second.written == 1, "an equal event time overwrites")
        #expect(second.skippedOlder == 1)
        let values = try store.environment.read { transaction in
            try ["A", "B"].map { key in
                try transaction.get(store.database(forView: "planes")!, key: Array(key.utf8)).map { bytes in
                    bytes.withUnsafeBytes { buffer in
                        let view = StoredRowView(buffer)!
                        return (view.decodeValues(), view.ingestTime)
                    }
                }
            }
        }
        #expect(values[0]?.0 == [.int64(1)])
        #expect(values[0]?.1 == Timestamp(seconds: 1000))
        #expect(values[1]?.0 == [.int64(5)])
        #expect(values[1]?.1 == Timestamp(seconds: 2000))
        #expect(try store.rowCounts().map(\.rows) == [2])
        #expect(throws: StoreError.self) { try store.load(view: "boats", rows: [], ingestTime: Timestamp(seconds: 1)) }
    }

    @Test func inspectDescribesViewsWithoutARegistry() throws {
        let path = temporaryDirectory()
        defer { removeDirectory(path) }
        do {
            let store = try FeatureStore(directory: path, registry: registry(features: [seats, year]))
            _ = try store.load(
                view: "planes",
                rows: [
                    ParsedRow(
                        key: [.string("A")], values: [.int64(1), .null], eventTime: Timestamp(seconds: 1), line: 1)
                ],
                ingestTime: Timestamp(seconds: 2))
        }
        let statistics = try FeatureStore.inspect(directory: path)
        #expect(statistics.views.map(\.name) == ["planes"])
        #expect(statistics.views.first?.rows == 1)
        #expect(statistics.views.first?.features == 2)
        #expect(statistics.usedBytes > 0)
    }
}
