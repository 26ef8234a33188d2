// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Tests for replication: batch checks, the apply rules (positions, duplicates, gaps, newest event wins), the writer
// thread (group commit, backpressure, stop) and the UpdateBatch codec.

import Foundation
import FreshetCore
import FreshetProto
import FreshetReplication
import FreshetStorage
import Testing

// MARK: - Fixtures

/// The registry under test: `weather` keyed by a string `origin`, `planes` keyed by an int64 `plane_id`.
let registry = Registry(
    entities: [
        Entity(name: "airport", joinKeys: [Entity.JoinKey(name: "origin", type: .string)]),
        Entity(name: "plane", joinKeys: [Entity.JoinKey(name: "plane_id", type: .int64)]),
    ],
    views: [
        FeatureView(
            name: "weather", entity: "airport",
            features: [
                Feature(name: "temp", type: .double), Feature(name: "wind", type: .double),
                Feature(name: "note", type: .string),
            ]),
        FeatureView(name: "planes", entity: "plane", features: [Feature(name: "seats", type: .int64)]),
    ])

/// Event times of the tests: `second` seconds after 2023-11-14, well before any ingest time.
func at(_ second: Int64) -> Timestamp {
    Timestamp(seconds: 1_700_000_000 + second)
}

/// The stored key of a `weather` row.
func key(_ origin: String) -> [UInt8] {
    EntityKey.encode([.string(origin)])
}

/// An upsert of `weather`; features left `nil` are not given.
func upsert(
    _ origin: String, at second: Int64, temp: Double? = nil, wind: Double? = nil, note: String? = nil
)
    -> UpdateMessage
{
    var values: [NamedValue] = []
    if let temp { values.append(NamedValue("temp", .double(temp))) }
    if let wind { values.append(NamedValue("wind", .double(wind))) }
    if let note { values.append(NamedValue("note", .string(note))) }
    return UpdateMessage(
        view: "weather", key: [NamedValue("origin", .string(origin))], eventTime: at(second), change: .upsert(values))
}

/// A delete of a `weather` row.
func delete(_ origin: String, at second: Int64) -> UpdateMessage {
    UpdateMessage(view: "weather", key: [NamedValue("origin", .string(origin))], eventTime: at(second), change: .delete)
}

/// `count` upserts of distinct keys `<prefix><sequence>`, each with event time and temp equal to its sequence.
func upserts(_ prefix: String, from first: UInt64, count: Int, temp: Double? = nil) -> [UpdateMessage] {
    (0..<UInt64(count)).map { offset in
        let sequence = first + offset
        return upsert("\(prefix)\(sequence)", at: Int64(sequence), temp: temp ?? Double(sequence))
    }
}

/// The ack in an outcome, `nil` for a gap or a failure.
func ack(_ outcome: ApplyOutcome?) -> ReplicateAckMessage? {
    if case .applied(let ack) = outcome { return ack }
    return nil
}

/// The expected sequence of a gap outcome, `nil` otherwise.
func gap(_ outcome: ApplyOutcome?) -> UInt64? {
    if case .gap(let expected) = outcome { return expected }
    return nil
}

/// A stored row, decoded out of its transaction.
struct Row: Equatable {
    var bytes: [UInt8]
    var values: [FeatureValue?]
    var eventTime: Timestamp
    var ingestTime: Timestamp
    var isTombstone: Bool
    var originSource: String
    var originSequence: UInt64
    /// The raw `values` field of each feature.
    var valueFields: [[UInt8]]

    init?(_ bytes: [UInt8]) {
        guard
            let row = bytes.withUnsafeBytes({ buffer -> Row? in
                guard let view = StoredRowView(buffer) else { return nil }
                return Row(
                    bytes: bytes, values: view.decodeValues(), eventTime: view.eventTime, ingestTime: view.ingestTime,
                    isTombstone: view.isTombstone, originSource: String(decoding: view.originSource, as: UTF8.self),
                    originSequence: view.originSequence,
                    valueFields: (0..<view.valueCount).map { Array(view.valueField($0)!) })
            })
        else { return nil }
        self = row
    }

    private init(
        bytes: [UInt8], values: [FeatureValue?], eventTime: Timestamp, ingestTime: Timestamp, isTombstone: Bool,
        originSource: String, originSequence: UInt64, valueFields: [[UInt8]]
    ) {
        self.bytes = bytes
        self.values = values
        self.eventTime = eventTime
        self.ingestTime = ingestTime
        self.isTombstone = isTombstone
        self.originSource = originSource
        self.originSequence = originSequence
        self.valueFields = valueFields
    }
}

/// A store in a temporary directory with the registry's view databases and the metadata database.
final class Store {
    let directory: TemporaryDirectory
    let environment: Environment
    let weather: Database
    let planes: Database
    let meta: Database
    let validator: UpdateValidator
    let applier: ReplicationApplier

    init(directory: TemporaryDirectory) throws {
        self.directory = directory
        self.environment = try Environment(
            path: directory.path, options: Environment.Options(mapSize: 64 << 20, maxDatabases: 8, sync: .noSync))
        self.weather = try self.environment.database(named: "view/weather", create: true)
        self.planes = try self.environment.database(named: "view/planes", create: true)
        self.meta = try self.environment.database(named: "freshet/meta", create: true)
        self.validator = UpdateValidator(
            registry: registry, databases: ["weather": self.weather, "planes": self.planes])
        self.applier = ReplicationApplier(meta: self.meta)
    }

    /// Starts a writer on this store; the test stops it.
    func writer(_ options: ReplicationWriter.Options = ReplicationWriter.Options()) throws -> ReplicationWriter {
        try ReplicationWriter(
            environment: self.environment, meta: self.meta, options: options, logger: Logger(level: .error))
    }

    /// Validates `message` and applies it directly, in a write transaction of its own, as the writer does.
    func apply(_ message: UpdateBatchMessage, ingestTime: Timestamp = .now()) throws -> ApplyOutcome {
        let batch = try self.validator.validate(message)
        return try self.environment.write { transaction in
            var positions: [String: SourcePosition] = [:]
            let outcome = try self.applier.apply(batch, ingestTime: ingestTime, positions: &positions, in: transaction)
            try self.applier.writePositions(positions, in: transaction)
            return outcome
        }
    }

    /// The source's stored position.
    func position(of source: String) throws -> SourcePosition {
        try self.environment.read { try self.applier.position(of: source, in: $0) }
    }

    /// The `weather` row of `origin`, or `nil` when there is none; a row that does not decode fails the test.
    func row(_ origin: String) throws -> Row? {
        try self.row(key(origin), in: self.weather)
    }

    func row(_ key: [UInt8], in database: Database) throws -> Row? {
        guard let bytes = try self.environment.read({ try $0.get(database, key: key) }) else { return nil }
        return try #require(Row(bytes), "a stored row does not decode")
    }

    /// The rejection message of `message`, or `nil` when it passes the checks.
    func rejection(_ message: UpdateBatchMessage) -> String? {
        do {
            _ = try self.validator.validate(message)
            return nil
        } catch {
            return error.message
        }
    }
}

/// Runs `body` with `count` fresh stores, and removes their directories once their environments are closed.
///
/// Not before: the process-wide registry of open environments knows a directory by device and inode, and a removed
/// directory's inode can be reused at once by another test's new directory, which would then refuse to open.
func withStores(count: Int, _ body: ([Store]) throws -> Void) throws {
    let directories = try (0..<count).map { _ in try TemporaryDirectory() }
    // Until the stores exist there is no environment to wait for.
    var isClosed: [() -> Bool] = directories.map { _ in { true } }
    defer {
        for (directory, closed) in zip(directories, isClosed) {
            // The writers were stopped and every reference dropped with the body's scope.
            if waitUntil(timeout: .seconds(10), closed) {
                directory.remove()
            } else {
                Issue.record("the environment in \(directory.path) is still open after the test; left in place")
            }
        }
    }
    try { () throws in
        let stores = try directories.map { try Store(directory: $0) }
        isClosed = stores.map { store in { [weak environment = store.environment] in environment == nil } }
        try body(stores)
    }()
}

/// Runs `body` with one fresh store (see ``withStores(count:_:)``).
func withStore(_ body: (Store) throws -> Void) throws {
    try withStores(count: 1) { try body($0[0]) }
}

/// Submits `batch` and waits for its completion.
func submitAndWait(_ writer: ReplicationWriter, _ batch: ValidatedBatch) throws -> ApplyOutcome {
    let result = Locked<ApplyOutcome?>(nil)
    let accepted = writer.submit(batch, completion: { outcome in result.withLock { $0 = outcome } }, onRoom: {})
    try #require(accepted, "the writer refused a batch with an empty queue")
    try #require(waitUntil { result.withLock { $0 != nil } }, "no completion within the timeout")
    return try #require(result.value)
}

// MARK: - Tests

@Suite("Replication apply rules")
struct ReplicationApplierTests {
    @Test("in-order batches advance the position, count writes and stamp ingest_time with the commit time")
    func inOrderBatches() throws {
        try withStore { store in
            let writer = try store.writer()
            defer { writer.stop() }

            let before = Timestamp.now()
            let first = try submitAndWait(
                writer,
                try store.validator.validate(
                    UpdateBatchMessage(
                        source: "central", firstSequence: 1,
                        updates: [
                            upsert("SFO", at: 1, temp: 10, wind: 3, note: "fog"), upsert("JFK", at: 2, temp: 20),
                            upsert("SFO", at: 3, temp: 11),
                        ])))
            let after = Timestamp.now()
            #expect(
                ack(first)
                    == ReplicateAckMessage(
                        source: "central", appliedSequence: 3, firstSequence: 1, written: 3, superseded: 0,
                        duplicates: 0))
            var position = try writer.position(of: "central")
            #expect(position.appliedSequence == 3)
            #expect(position.written == 3)
            #expect(
                (before.nanosecondsSinceEpoch...after.nanosecondsSinceEpoch).contains(position.lastCommitNanoseconds))

            // The second SFO update replaced the whole row: features it did not give are missing again.
            let sfo = try #require(try store.row("SFO"))
            #expect(sfo.values == [.double(11), nil, nil])
            #expect(sfo.eventTime == at(3))
            #expect(!sfo.isTombstone)
            #expect(sfo.originSource == "central")
            #expect(sfo.originSequence == 3)
            #expect(sfo.ingestTime >= before && sfo.ingestTime <= after)
            #expect(sfo.ingestTime > sfo.eventTime)
            let jfk = try #require(try store.row("JFK"))
            #expect(jfk.values == [.double(20), nil, nil])
            #expect(jfk.originSequence == 2)
            #expect(jfk.ingestTime == sfo.ingestTime, "one batch, one commit, one ingest time")

            let second = try submitAndWait(
                writer,
                try store.validator.validate(
                    UpdateBatchMessage(
                        source: "central", firstSequence: 4,
                        updates: [upsert("LAX", at: 4, note: "clear"), delete("JFK", at: 5)])))
            #expect(
                ack(second)
                    == ReplicateAckMessage(
                        source: "central", appliedSequence: 5, firstSequence: 4, written: 2, superseded: 0,
                        duplicates: 0))
            #expect(try store.row("LAX")?.values == [nil, nil, .string("clear")])
            let deleted = try #require(try store.row("JFK"))
            #expect(deleted.isTombstone)
            #expect(deleted.eventTime == at(5))
            #expect(deleted.values.isEmpty)

            // An empty batch is allowed and acks the position.
            let empty = try submitAndWait(
                writer,
                try store.validator.validate(UpdateBatchMessage(source: "central", firstSequence: 6, updates: [])))
            #expect(ack(empty)?.appliedSequence == 5)
            #expect(ack(empty)?.written == 0)
            position = try writer.position(of: "central")
            #expect(position.appliedSequence == 5)
            #expect(position.written == 5)
            #expect(position.message(source: "central").lastCommitTime != nil)
            #expect(try writer.position(of: "unknown") == SourcePosition())
        }
    }

    @Test("a resent batch and a batch overlapping the position apply only the updates past the position")
    func duplicates() throws {
        try withStore { store in
            let writer = try store.writer()
            defer { writer.stop() }

            let batch = try store.validator.validate(
                UpdateBatchMessage(source: "central", firstSequence: 1, updates: upserts("K", from: 1, count: 10)))
            #expect(ack(try submitAndWait(writer, batch))?.appliedSequence == 10)

            let resent = try submitAndWait(writer, batch)
            #expect(
                ack(resent)
                    == ReplicateAckMessage(
                        source: "central", appliedSequence: 10, firstSequence: 1, written: 0, superseded: 0,
                        duplicates: 10))

            // 6...10 again, with newer event times and other values: they must be skipped, not compared and written.
            var overlapping = (6...10).map { upsert("K\($0)", at: 1000 + Int64($0), temp: -1) }
            overlapping += upserts("K", from: 11, count: 5)
            let outcome = try submitAndWait(
                writer,
                try store.validator.validate(
                    UpdateBatchMessage(source: "central", firstSequence: 6, updates: overlapping)))
            #expect(
                ack(outcome)
                    == ReplicateAckMessage(
                        source: "central", appliedSequence: 15, firstSequence: 6, written: 5, superseded: 0,
                        duplicates: 5))
            for sequence in 6...10 {
                let row = try #require(try store.row("K\(sequence)"))
                #expect(row.values == [.double(Double(sequence)), nil, nil])
                #expect(row.eventTime == at(Int64(sequence)))
            }
            #expect(try store.row("K15")?.values == [.double(15), nil, nil])

            let position = try writer.position(of: "central")
            #expect(position.appliedSequence == 15)
            #expect(position.duplicates == 15)
            #expect(position.written + position.superseded == position.appliedSequence)
        }
    }

    @Test("a batch that starts past position + 1 is a gap: nothing is written and the position stays")
    func gapChangesNothing() throws {
        try withStore { store in
            #expect(
                ack(
                    try store.apply(
                        UpdateBatchMessage(source: "s", firstSequence: 1, updates: upserts("K", from: 1, count: 3))))?
                    .appliedSequence == 3)

            let outcome = try store.apply(
                UpdateBatchMessage(source: "s", firstSequence: 5, updates: upserts("G", from: 5, count: 2)))
            #expect(gap(outcome) == 4)
            #expect(try store.row("G5") == nil)
            #expect(try store.row("G6") == nil)
            #expect(try store.position(of: "s").appliedSequence == 3)
            #expect(try store.position(of: "s").written == 3)

            // A new source starts at 1; the writer reports the gap the same way.
            #expect(
                gap(try store.apply(UpdateBatchMessage(source: "new", firstSequence: 2, updates: [upsert("N", at: 1)])))
                    == 1)
            let writer = try store.writer()
            defer { writer.stop() }
            let viaWriter = try submitAndWait(
                writer,
                try store.validator.validate(
                    UpdateBatchMessage(source: "s", firstSequence: 6, updates: [upsert("G", at: 6, temp: 6)])))
            #expect(gap(viaWriter) == 4)
            #expect(try store.row("G") == nil)
            #expect(try writer.position(of: "s").appliedSequence == 3)
            #expect(try writer.position(of: "new") == SourcePosition())
        }
    }

    @Test("an older update that arrives after a newer one is superseded and the row keeps the newer values")
    func lateOlderUpdateIsSuperseded() throws {
        try withStore { store in
            _ = try store.apply(
                UpdateBatchMessage(
                    source: "s", firstSequence: 1, updates: [upsert("SFO", at: 10, temp: 20, note: "new")]))
            let late = try store.apply(
                UpdateBatchMessage(
                    source: "s", firstSequence: 2, updates: [upsert("SFO", at: 5, temp: 5), delete("SFO", at: 7)]))
            #expect(
                ack(late)
                    == ReplicateAckMessage(
                        source: "s", appliedSequence: 3, firstSequence: 2, written: 0, superseded: 2, duplicates: 0))
            let row = try #require(try store.row("SFO"))
            #expect(row.values == [.double(20), nil, .string("new")])
            #expect(row.eventTime == at(10))
            #expect(!row.isTombstone)
            #expect(row.originSequence == 1)
            let position = try store.position(of: "s")
            #expect(position.superseded == 2)
            #expect(position.written == 1)
            #expect(position.written + position.superseded == position.appliedSequence)
        }
    }

    @Test("a tombstone keeps the delete's event_time, beats an older upsert, and a newer upsert replaces it")
    func tombstoneWinsOverOlderUpsert() throws {
        try withStore { store in
            _ = try store.apply(
                UpdateBatchMessage(
                    source: "s", firstSequence: 1, updates: [upsert("SFO", at: 1, temp: 1), delete("SFO", at: 10)]))
            var row = try #require(try store.row("SFO"))
            #expect(row.isTombstone)
            #expect(row.eventTime == at(10))
            #expect(row.originSequence == 2)

            let older = try store.apply(
                UpdateBatchMessage(source: "s", firstSequence: 3, updates: [upsert("SFO", at: 5, temp: 5)]))
            #expect(ack(older)?.superseded == 1)
            #expect(ack(older)?.written == 0)
            row = try #require(try store.row("SFO"))
            #expect(row.isTombstone)
            #expect(row.eventTime == at(10))
            #expect(row.values.isEmpty)

            let newer = try store.apply(
                UpdateBatchMessage(source: "s", firstSequence: 4, updates: [upsert("SFO", at: 11, temp: 11)]))
            #expect(ack(newer)?.written == 1)
            row = try #require(try store.row("SFO"))
            #expect(!row.isTombstone)
            #expect(row.eventTime == at(11))
            #expect(row.values == [.double(11), nil, nil])
            #expect(row.originSequence == 4)
        }
    }

    @Test("on equal event times the higher (source, sequence) wins whatever the order of arrival")
    func equalEventTimesConverge() throws {
        // One ingest time everywhere, so converged rows are identical byte for byte.
        let ingest = Timestamp.now()
        let fromA = UpdateBatchMessage(
            source: "a", firstSequence: 1, updates: [upsert("SFO", at: 7, temp: 1), upsert("LAX", at: 7, temp: 1)])
        let fromB = UpdateBatchMessage(
            source: "b", firstSequence: 1, updates: [upsert("SFO", at: 7, temp: 2), delete("LAX", at: 7)])

        try withStores(count: 4) { stores in
            let (abFirst, baFirst, sequential, seeded) = (stores[0], stores[1], stores[2], stores[3])
            #expect(ack(try abFirst.apply(fromA, ingestTime: ingest))?.written == 2)
            #expect(ack(try abFirst.apply(fromB, ingestTime: ingest))?.written == 2)
            #expect(ack(try baFirst.apply(fromB, ingestTime: ingest))?.written == 2)
            let late = try baFirst.apply(fromA, ingestTime: ingest)
            #expect(ack(late)?.superseded == 2)
            #expect(ack(late)?.written == 0)

            for origin in ["SFO", "LAX"] {
                let one = try #require(try abFirst.row(origin))
                let other = try #require(try baFirst.row(origin))
                #expect(one.bytes == other.bytes, "\(origin) differs between the two orders of arrival")
                #expect(one.originSource == "b")
            }
            #expect(try abFirst.row("SFO")?.values == [.double(2), nil, nil])
            #expect(try abFirst.row("LAX")?.isTombstone == true)

            // The same source: the later sequence wins within a batch. The other order cannot arrive through one
            // source's stream, so the second store starts from the row (a, 2) wrote (as a copy of a region would) and
            // then receives (a, 1), which must lose.
            let both = try sequential.apply(
                UpdateBatchMessage(
                    source: "a", firstSequence: 1,
                    updates: [upsert("SFO", at: 7, temp: 1), upsert("SFO", at: 7, temp: 2)]),
                ingestTime: ingest)
            #expect(ack(both)?.written == 2)
            try seeded.environment.write { transaction in
                try transaction.put(
                    seeded.weather, key: key("SFO"),
                    value: StoredRow.encode(
                        optionalValues: [.double(2), nil, nil], eventTime: at(7), ingestTime: ingest,
                        originSource: Array("a".utf8), originSequence: 2))
            }
            let lower = try seeded.apply(
                UpdateBatchMessage(source: "a", firstSequence: 1, updates: [upsert("SFO", at: 7, temp: 1)]),
                ingestTime: ingest)
            #expect(ack(lower)?.superseded == 1)
            let one = try #require(try sequential.row("SFO"))
            let other = try #require(try seeded.row("SFO"))
            #expect(one.bytes == other.bytes)
            #expect(one.originSequence == 2)
            #expect(one.values == [.double(2), nil, nil])
        }
    }

    @Test(
        "the tie-break compares source names as bytes, then sequences",
        arguments: [
            ("b", 1, "a", 9, true), ("a", 9, "b", 1, false), ("ab", 1, "a", 9, true), ("a", 9, "ab", 1, false),
            ("a", 3, "a", 2, true), ("a", 2, "a", 3, false), ("a", 2, "a", 2, false), ("a", 1, "Z", 1, true),
            ("é", 1, "z", 1, true), ("a", 1, "", 0, true),
        ] as [(String, UInt64, String, UInt64, Bool)])
    func tieBreak(source: String, sequence: UInt64, storedSource: String, storedSequence: UInt64, wins: Bool) {
        let stored = StoredRow.encode(
            values: [.double(1)], eventTime: at(7), ingestTime: at(8), originSource: Array(storedSource.utf8),
            originSequence: storedSequence)
        stored.withUnsafeBytes { bytes in
            guard let row = StoredRowView(bytes) else {
                Issue.record("the row does not decode")
                return
            }
            #expect(
                ReplicationApplier.wins(eventTime: at(7), source: Array(source.utf8), sequence: sequence, over: row)
                    == wins)
            // The event time decides before any tie-break.
            #expect(ReplicationApplier.wins(eventTime: at(8), source: [], sequence: 0, over: row))
            #expect(!ReplicationApplier.wins(eventTime: at(6), source: Array("zz".utf8), sequence: 99, over: row))
        }
    }

    @Test("two interleaved sources keep separate positions, gaps and duplicates")
    func interleavedSources() throws {
        try withStore { store in
            let writer = try store.writer()
            defer { writer.stop() }
            let messages = [
                UpdateBatchMessage(source: "a", firstSequence: 1, updates: upserts("A", from: 1, count: 3)),
                UpdateBatchMessage(source: "b", firstSequence: 1, updates: upserts("B", from: 1, count: 2)),
                UpdateBatchMessage(source: "a", firstSequence: 4, updates: upserts("A", from: 4, count: 2)),
                UpdateBatchMessage(source: "b", firstSequence: 3, updates: upserts("B", from: 3, count: 2)),
                // b's gap (expected 5) and a's resend, in the same group as the rest.
                UpdateBatchMessage(source: "b", firstSequence: 6, updates: upserts("B", from: 6, count: 1)),
                UpdateBatchMessage(source: "a", firstSequence: 1, updates: upserts("A", from: 1, count: 3)),
                UpdateBatchMessage(source: "b", firstSequence: 5, updates: upserts("B", from: 5, count: 1)),
                UpdateBatchMessage(source: "a", firstSequence: 6, updates: []),
            ]
            let batches = try messages.map { try store.validator.validate($0) }
            let outcomes = Locked<[ApplyOutcome]>([])
            for batch in batches {
                let accepted = writer.submit(
                    batch, completion: { outcome in outcomes.withLock { $0.append(outcome) } }, onRoom: {})
                #expect(accepted)
            }
            try #require(waitUntil { outcomes.withLock { $0.count } == batches.count })
            let results = outcomes.value
            #expect(results.map { ack($0)?.appliedSequence } == [3, 2, 5, 4, nil, 5, 5, 5])
            #expect(gap(results[4]) == 5)
            #expect(ack(results[5])?.duplicates == 3)
            #expect(ack(results[5])?.written == 0)
            #expect(ack(results[6])?.written == 1)

            #expect(try store.row("B6") == nil)
            #expect(try store.row("B5")?.originSource == "b")
            #expect(try store.row("A5")?.originSequence == 5)
            let positions = try store.environment.read { try store.applier.positions(in: $0) }
            #expect(positions.map(\.source) == ["a", "b"])
            #expect(positions.map(\.position.appliedSequence) == [5, 5])
            #expect(positions.map(\.position.duplicates) == [3, 0])
            #expect(positions.map(\.position.written) == [5, 5])
        }
    }

    /// What is wrong with the third update of a batch.
    enum Defect: String, CaseIterable, Sendable {
        case unknownFeature, wrongType, wrongKeyType, missingEventTime, unknownView

        /// The field the rejection must name.
        var field: String {
            switch self {
            case .unknownFeature: "humidity"
            case .wrongType: "temp"
            case .wrongKeyType: "origin"
            case .missingEventTime: "event_time"
            case .unknownView: "traffic"
            }
        }

        func spoil(_ update: UpdateMessage) -> UpdateMessage {
            var update = update
            switch self {
            case .unknownFeature:
                update.change = .upsert([NamedValue("temp", .double(1)), NamedValue("humidity", .double(2))])
            case .wrongType: update.change = .upsert([NamedValue("temp", .string("hot"))])
            case .wrongKeyType: update.key = [NamedValue("origin", .int64(7))]
            case .missingEventTime: update.eventTime = nil
            case .unknownView: update.view = "traffic"
            }
            return update
        }
    }

    @Test(
        "a batch invalid halfway is refused as a whole, naming the batch, the update and the field",
        arguments: Defect.allCases)
    func invalidHalfway(defect: Defect) throws {
        try withStore { store in
            let writer = try store.writer()
            defer { writer.stop() }
            _ = try submitAndWait(
                writer,
                try store.validator.validate(
                    UpdateBatchMessage(source: "s", firstSequence: 1, updates: upserts("K", from: 1, count: 4))))

            let good = upserts("N", from: 5, count: 4)
            var bad = good
            bad[2] = defect.spoil(bad[2])
            let message = try #require(store.rejection(UpdateBatchMessage(source: "s", firstSequence: 5, updates: bad)))
            #expect(message.contains("first_sequence 5"), "\(message)")
            #expect(message.contains("update 2 (sequence 7)"), "\(message)")
            #expect(message.contains(defect.field), "\(message)")

            // Nothing of it reached the store: the position is still 4, so the corrected batch applies whole.
            #expect(try writer.position(of: "s").appliedSequence == 4)
            for origin in ["N5", "N6", "N7", "N8"] { #expect(try store.row(origin) == nil) }
            let corrected = try submitAndWait(
                writer, try store.validator.validate(UpdateBatchMessage(source: "s", firstSequence: 5, updates: good)))
            #expect(
                ack(corrected)
                    == ReplicateAckMessage(
                        source: "s", appliedSequence: 8, firstSequence: 5, written: 4, superseded: 0, duplicates: 0))
        }
    }

    @Test("the checks name what is wrong with a batch or an update")
    func validatorMessages() throws {
        try withStore { store in
            let sfo = [NamedValue("origin", .string("SFO"))]
            func one(_ update: UpdateMessage, first: UInt64 = 3) -> UpdateBatchMessage {
                UpdateBatchMessage(source: "s", firstSequence: first, updates: [upsert("X", at: 1), update])
            }
            let cases: [(UpdateBatchMessage, [String])] = [
                (
                    UpdateBatchMessage(source: "", firstSequence: 1, updates: [upsert("X", at: 1)]),
                    ["first_sequence 1", "source is empty"]
                ),
                (
                    UpdateBatchMessage(source: String(repeating: "x", count: 256), firstSequence: 1, updates: []),
                    ["source is 256 bytes", "limit is 255"]
                ),
                (
                    UpdateBatchMessage(source: "s", firstSequence: 0, updates: [upsert("X", at: 1)]),
                    ["first_sequence must be at least 1"]
                ),
                (
                    UpdateBatchMessage(
                        source: "s", firstSequence: UInt64.max, updates: [upsert("X", at: 1), upsert("Y", at: 1)]),
                    ["overflow"]
                ),
                (
                    one(UpdateMessage(view: "weather", key: [], eventTime: at(1), change: .delete)),
                    ["first_sequence 3", "update 1 (sequence 4)", "lacks join key 'origin'"]
                ),
                (
                    one(
                        UpdateMessage(
                            view: "weather", key: sfo + [NamedValue("extra", .string("x"))], eventTime: at(1),
                            change: .delete)),
                    ["update 1", "key field 'extra' is not a join key"]
                ),
                (
                    one(UpdateMessage(view: "weather", key: sfo + sfo, eventTime: at(1), change: .delete)),
                    ["update 1", "join key 'origin' twice"]
                ),
                (
                    one(
                        UpdateMessage(
                            view: "weather", key: [NamedValue("origin", .string("S\u{0}FO"))], eventTime: at(1),
                            change: .delete)),
                    ["update 1", "join key 'origin'", "no NUL bytes"]
                ),
                (
                    one(
                        UpdateMessage(
                            view: "weather", key: [NamedValue("origin", .string(""))], eventTime: at(1), change: .delete
                        )),
                    ["update 1", "join key 'origin' must be a non-empty string"]
                ),
                (
                    one(
                        UpdateMessage(
                            view: "weather", key: [NamedValue("origin", .null)], eventTime: at(1), change: .delete)),
                    ["update 1", "join key 'origin'", "found null"]
                ),
                (
                    one(
                        UpdateMessage(
                            view: "weather", key: sfo, eventTime: at(1),
                            change: .upsert([NamedValue("temp", .double(1)), NamedValue("temp", .double(2))]))),
                    ["update 1", "feature 'temp' is given twice"]
                ),
                (
                    one(UpdateMessage(view: "weather", key: sfo, eventTime: at(1), change: .none)),
                    ["update 1", "neither upsert nor delete"]
                ),
                (
                    one(
                        UpdateMessage(
                            view: "weather", key: sfo, eventTime: at(1),
                            change: .upsert([NamedValue("temp", .double(1)), NamedValue("wind", nil)]))),
                    ["update 1", "feature 'wind' has no value set"]
                ),
                (
                    one(UpdateMessage(view: "", key: sfo, eventTime: at(1), change: .delete)),
                    ["update 1", "view is empty"]
                ),
                (
                    one(
                        UpdateMessage(
                            view: "planes", key: [NamedValue("plane_id", .string("42"))], eventTime: at(1),
                            change: .upsert([NamedValue("seats", .int64(180))]))),
                    ["update 1", "join key 'plane_id' must be a non-empty int64", "found string"]
                ),
            ]
            for (batch, fragments) in cases {
                let message = store.rejection(batch)
                #expect(message != nil, "accepted: \(batch)")
                for fragment in fragments {
                    #expect(message?.contains(fragment) == true, "'\(message ?? "accepted")' lacks '\(fragment)'")
                }
            }
            // An empty batch passes whatever its first_sequence (it only asks for an ack of the position).
            #expect(store.rejection(UpdateBatchMessage(source: "s", firstSequence: 0, updates: [])) == nil)
        }
    }

    @Test("a feature not given is stored as missing, a null as null; an int64 key is stored in its encoding")
    func missingNullAndInt64Keys() throws {
        try withStore { store in
            let outcome = try store.apply(
                UpdateBatchMessage(
                    source: "s", firstSequence: 1,
                    updates: [
                        UpdateMessage(
                            view: "weather", key: [NamedValue("origin", .string("SFO"))], eventTime: at(1),
                            change: .upsert([NamedValue("temp", .double(3)), NamedValue("note", .null)])),
                        UpdateMessage(
                            view: "planes", key: [NamedValue("plane_id", .int64(-42))], eventTime: at(1),
                            change: .upsert([NamedValue("seats", .int64(180))])),
                    ]))
            #expect(ack(outcome)?.written == 2)
            let row = try #require(try store.row("SFO"))
            // decodeValues gives nil for the empty `Value` of a missing feature; the stored field is tag 2, length 0.
            #expect(row.values == [.double(3), nil, .null])
            #expect(row.valueFields[1] == [0x12, 0x00])
            #expect(row.valueFields[2] != [0x12, 0x00])
            let plane = try #require(try store.row(EntityKey.encode([.int64(-42)]), in: store.planes))
            #expect(plane.values == [.int64(180)])
            #expect(try store.row(EntityKey.encode([.int64(42)]), in: store.planes) == nil)
        }
    }

    @Test("group commit: many batches from one thread complete in order with contiguous positions")
    func groupCommit() throws {
        try withStore { store in
            let writer = try store.writer()
            defer { writer.stop() }
            let batches = try (0..<200).map { index in
                let first = UInt64(index * 10 + 1)
                return try store.validator.validate(
                    UpdateBatchMessage(
                        source: "bulk", firstSequence: first, updates: upserts("K", from: first, count: 10)))
            }
            let acks = Locked<[ReplicateAckMessage?]>([])
            for batch in batches {
                let accepted = writer.submit(
                    batch, completion: { outcome in acks.withLock { $0.append(ack(outcome)) } }, onRoom: {})
                #expect(accepted)
            }
            try #require(waitUntil { acks.withLock { $0.count } == batches.count })
            let received = acks.value
            let firstSequences: [UInt64?] = received.map { $0?.firstSequence }
            let expectedFirst: [UInt64?] = (0..<200).map { UInt64($0 * 10 + 1) }
            #expect(firstSequences == expectedFirst)
            let appliedSequences: [UInt64?] = received.map { $0?.appliedSequence }
            let expectedApplied: [UInt64?] = (1...200).map { UInt64($0 * 10) }
            #expect(appliedSequences == expectedApplied)
            #expect(received.allSatisfy { $0?.written == 10 })
            let counters = writer.counters
            #expect(counters.batches == 200)
            #expect((1...200).contains(counters.commits))
            #expect(counters.refusedSubmits == 0)
            let position = try writer.position(of: "bulk")
            #expect(position.appliedSequence == 2000)
            #expect(position.written == 2000)
            #expect(try store.row("K2000")?.originSequence == 2000)
        }
    }

    @Test("stop applies what is queued before it returns, and later submits are refused")
    func stopDrainsTheQueue() throws {
        try withStore { store in
            let writer = try store.writer()
            let completed = Locked(0)
            for index in 0..<20 {
                let first = UInt64(index * 5 + 1)
                let batch = try store.validator.validate(
                    UpdateBatchMessage(source: "s", firstSequence: first, updates: upserts("K", from: first, count: 5)))
                let accepted = writer.submit(batch, completion: { _ in completed.withLock { $0 += 1 } }, onRoom: {})
                #expect(accepted)
            }
            writer.stop()
            #expect(completed.value == 20)
            #expect(writer.isStopping)
            let late = try store.validator.validate(
                UpdateBatchMessage(source: "s", firstSequence: 101, updates: upserts("K", from: 101, count: 1)))
            let accepted = writer.submit(late, completion: { _ in }, onRoom: {})
            #expect(!accepted)
            #expect(try writer.position(of: "s").appliedSequence == 100)
        }
    }

    @Test("a full queue refuses a batch, calls onRoom once the writer takes work, then takes the batch")
    func backpressure() throws {
        try withStore { store in
            var options = ReplicationWriter.Options()
            options.maxQueuedUpdates = 10
            let writer = try store.writer(options)
            defer { writer.stop() }
            let batches = try (0..<6).map { index in
                let first = UInt64(index * 10 + 1)
                return try store.validator.validate(
                    UpdateBatchMessage(source: "s", firstSequence: first, updates: upserts("K", from: first, count: 10))
                )
            }
            let acks = Locked<[ReplicateAckMessage?]>([])
            let rooms = Locked(0)
            func submit(_ batch: ValidatedBatch) -> Bool {
                writer.submit(
                    batch, completion: { outcome in acks.withLock { $0.append(ack(outcome)) } },
                    onRoom: { rooms.withLock { $0 += 1 } })
            }

            // Holding LMDB's writer lock stalls the writer thread at its first commit, so the pipeline cannot drain:
            // the writer holds batch 1, the checked queue batch 2 (10 updates, its limit), the decoder batch 3 while
            // it waits for room, and the submitted queue batch 4; batch 5 is refused (10 + 10 > 10). Earlier refusals
            // are possible when the threads have not taken their batch yet.
            var next = 0
            try store.environment.write { _ in
                while next < batches.count && submit(batches[next]) { next += 1 }
            }
            #expect(next >= 1 && next <= 4, "refused at batch \(next)")
            try #require(next < batches.count, "no batch was refused with the writer stalled")
            #expect(writer.counters.refusedSubmits == 1)

            // Now the writer runs again; every refusal is followed by onRoom, after which the batch is taken.
            var refusals = 1
            while next < batches.count {
                try #require(waitUntil { rooms.value == refusals }, "onRoom did not come after refusal \(refusals)")
                while next < batches.count && submit(batches[next]) { next += 1 }
                if next < batches.count { refusals += 1 }
            }
            #expect(writer.counters.refusedSubmits == refusals)
            try #require(waitUntil { acks.withLock { $0.count } == batches.count })
            #expect(acks.value.map { $0?.appliedSequence } == (1...6).map { UInt64($0 * 10) })
            #expect(try writer.position(of: "s").appliedSequence == 60)
        }
    }

    @Test("raw batches are decoded and checked off the loop; a refused one ends its stream, not the others")
    func rawBatchesAndStreamTokens() throws {
        try withStore { store in
            let writer = try ReplicationWriter(
                environment: store.environment, meta: store.meta, validator: store.validator,
                logger: Logger(level: .error))
            defer { writer.stop() }
            let outcomes = Locked<[String: [ApplyOutcome]]>([:])
            func submit(_ bytes: [UInt8], _ name: String, _ stream: ReplicationStreamToken) {
                let accepted = writer.submit(
                    bytes, stream: stream,
                    completion: { outcome in outcomes.withLock { $0[name, default: []].append(outcome) } },
                    onRoom: {})
                #expect(accepted)
            }
            let bad = ReplicationStreamToken()
            let good = ReplicationStreamToken()
            let invalid = UpdateBatchMessage(
                source: "a", firstSequence: 1,
                updates: [upsert("X", at: 1, temp: 1), upsert("Y", at: 2, note: "n")]
                    + [
                        UpdateMessage(
                            view: "weather", key: [NamedValue("origin", .string("Z"))], eventTime: at(3),
                            change: .upsert([NamedValue("humidity", .double(1))]))
                    ])
            submit(ReplicationCodec.encode(invalid), "bad", bad)
            // The next batch of the refused stream would be valid, but the stream has ended.
            submit(
                ReplicationCodec.encode(
                    UpdateBatchMessage(source: "a", firstSequence: 1, updates: upserts("A", from: 1, count: 3))),
                "bad", bad)
            submit([0xff, 0xff, 0xff], "garbage", ReplicationStreamToken())
            submit(
                ReplicationCodec.encode(
                    UpdateBatchMessage(source: "b", firstSequence: 1, updates: upserts("B", from: 1, count: 3))),
                "good", good)
            try #require(waitUntil { outcomes.withLock { $0.values.map(\.count).reduce(0, +) } == 4 })
            let result = outcomes.value
            guard case .rejected(let message) = result["bad"]?.first else {
                Issue.record("the invalid batch was not rejected: \(String(describing: result["bad"]))")
                return
            }
            #expect(message.contains("update 2") && message.contains("'humidity'"), "\(message)")
            guard case .abandoned = result["bad"]?.last else {
                Issue.record("the refused stream's next batch was not abandoned: \(String(describing: result["bad"]))")
                return
            }
            guard case .rejected(let garbage) = result["garbage"]?.first else {
                Issue.record("bytes that are no batch were not rejected")
                return
            }
            #expect(garbage.contains("not a valid freshet.v1.UpdateBatch"))
            #expect(ack(result["good"]?.first)?.appliedSequence == 3)
            #expect(try writer.position(of: "a").appliedSequence == 0, "nothing of the refused stream was applied")
            #expect(try writer.position(of: "b").appliedSequence == 3)
        }
    }

    @Test("a perform item runs alone between batches, and batches submitted after it are checked with its new checks")
    func performIsOrderedWithBatches() throws {
        try withStore { store in
            // Before the change the weather view has no 'note' feature; the change (a registry change in the server)
            // installs the full registry's checks.
            var narrow = registry
            narrow.views[0].features.removeLast()
            let current = Locked(
                UpdateValidator(registry: narrow, databases: ["weather": store.weather, "planes": store.planes]))
            let writer = try ReplicationWriter(
                environment: store.environment, meta: store.meta, currentValidator: { current.value },
                logger: Logger(level: .error))
            defer { writer.stop() }
            let events = Locked<[String]>([])
            let outcomes = Locked<[String: ApplyOutcome]>([:])
            func submit(_ batch: UpdateBatchMessage, _ name: String) {
                let accepted = writer.submit(
                    ReplicationCodec.encode(batch), stream: ReplicationStreamToken(),
                    completion: { outcome in
                        events.withLock { $0.append(name) }
                        outcomes.withLock { $0[name] = outcome }
                    }, onRoom: {})
                #expect(accepted)
            }
            submit(UpdateBatchMessage(source: "a", firstSequence: 1, updates: [upsert("X", at: 1, temp: 1)]), "before")
            submit(
                UpdateBatchMessage(source: "b", firstSequence: 1, updates: [upsert("Y", at: 1, note: "early")]),
                "note-before")
            let wide = store.validator
            #expect(
                writer.perform {
                    events.withLock { $0.append("change") }
                    current.withLock { $0 = wide }
                })
            submit(
                UpdateBatchMessage(source: "c", firstSequence: 1, updates: [upsert("Z", at: 1, note: "late")]),
                "note-after")
            try #require(waitUntil { events.withLock { $0.count } == 4 })
            #expect(events.value == ["before", "note-before", "change", "note-after"])
            let result = outcomes.value
            guard case .rejected(let message) = result["note-before"] else {
                Issue.record("a batch submitted before the change was not checked with the old checks: \(result)")
                return
            }
            #expect(message.contains("no feature 'note'"), "\(message)")
            #expect(ack(result["note-after"])?.appliedSequence == 1, "\(String(describing: result["note-after"]))")
            #expect(ack(result["before"])?.appliedSequence == 1)
        }
    }

    @Test("peekBatch reads the source and first sequence without decoding the updates, and refuses broken wire format")
    func peekBatch() {
        let bytes = ReplicationCodec.encode(
            UpdateBatchMessage(source: "central", firstSequence: 77, updates: upserts("P", from: 77, count: 5)))
        let peeked = bytes.withUnsafeBytes { ReplicationCodec.peekBatch($0) }
        #expect(peeked?.source == "central")
        #expect(peeked?.firstSequence == 77)
        for cut in [1, 2, 5, bytes.count - 1] {
            #expect(Array(bytes.prefix(cut)).withUnsafeBytes { ReplicationCodec.peekBatch($0) } == nil, "cut at \(cut)")
        }
        #expect([0xff, 0xff].withUnsafeBytes { ReplicationCodec.peekBatch($0) } == nil)
        #expect([UInt8]().withUnsafeBytes { ReplicationCodec.peekBatch($0) }?.source == "")
    }

    @Test("strings with NUL bytes are refused, never cut short onto another key, view, source or value")
    func nulBytesAreRefused() throws {
        // Regression: protobuf-c hands strings over NUL-terminated, so "EWR\0evil" updated EWR, a source
        // "dp\0other" was counted as source dp, and "abc\0def" was stored as "abc".
        let good = upsert("EWR", at: 1, temp: 1)
        var key = good
        key.key = [NamedValue("origin", .string("EWR\0evil"))]
        var view = good
        view.view = "weather\0zzz"
        var value = good
        value.change = .upsert([NamedValue("note", .string("abc\0def"))])
        var list = good
        list.change = .upsert([NamedValue("note", .stringList(["ok", "a\0b"]))])
        var name = good
        name.change = .upsert([NamedValue("note\0x", .string("n"))])
        let cases: [(UpdateBatchMessage, String)] = [
            (UpdateBatchMessage(source: "s", firstSequence: 1, updates: [good, key]), "update 1: a key name or value"),
            (UpdateBatchMessage(source: "s", firstSequence: 1, updates: [view]), "update 0: view"),
            (
                UpdateBatchMessage(source: "s", firstSequence: 1, updates: [value]),
                "update 0: a feature name or string value"
            ),
            (
                UpdateBatchMessage(source: "s", firstSequence: 1, updates: [list]),
                "update 0: a feature name or string value"
            ),
            (
                UpdateBatchMessage(source: "s", firstSequence: 1, updates: [name]),
                "update 0: a feature name or string value"
            ),
            (UpdateBatchMessage(source: "dp\0other", firstSequence: 1, updates: [good]), "source contains a NUL byte"),
        ]
        for (batch, expected) in cases {
            let problem = ReplicationCodec.encode(batch).withUnsafeBytes { ReplicationCodec.nulInStrings($0) }
            #expect(problem?.contains(expected) == true, "\(expected): \(String(describing: problem))")
        }
        #expect(
            ReplicationCodec.encode(UpdateBatchMessage(source: "s", firstSequence: 1, updates: [good, good]))
                .withUnsafeBytes { ReplicationCodec.nulInStrings($0) } == nil)
        #expect(
            ReplicationCodec.encodePositionRequest(source: "dp\0other").withUnsafeBytes {
                ReplicationCodec.decodePositionRequest($0)
            } == nil, "GetPosition must not answer for the source cut at the NUL")

        // Through the pipeline: refused, nothing applied, EWR untouched.
        try withStore { store in
            let writer = try ReplicationWriter(
                environment: store.environment, meta: store.meta, validator: store.validator,
                logger: Logger(level: .error))
            defer { writer.stop() }
            let outcome = Locked<ApplyOutcome?>(nil)
            let accepted = writer.submit(
                ReplicationCodec.encode(UpdateBatchMessage(source: "s", firstSequence: 1, updates: [key])),
                stream: ReplicationStreamToken(), completion: { result in outcome.withLock { $0 = result } },
                onRoom: {})
            #expect(accepted)
            try #require(waitUntil { outcome.value != nil })
            guard case .rejected(let message) = outcome.value else {
                Issue.record("a key with a NUL byte was not rejected: \(String(describing: outcome.value))")
                return
            }
            #expect(message.contains("NUL"), "\(message)")
            #expect(try writer.position(of: "s").appliedSequence == 0)
        }
    }

    @Test("NaN and infinities, rows over 1 MiB stored, and control characters in the source are refused")
    func valuesRowsAndSourcesOutOfBounds() throws {
        try withStore { store in
            func problem(_ batch: UpdateBatchMessage) -> String? {
                do {
                    _ = try store.validator.validate(batch)
                    return nil
                } catch {
                    return error.message
                }
            }
            for bad in [Double.nan, .infinity, -.infinity] {
                let message = problem(
                    UpdateBatchMessage(source: "s", firstSequence: 1, updates: [upsert("A", at: 1, temp: bad)]))
                #expect(
                    message?.contains("'temp' is not a finite number") == true, "\(bad): \(String(describing: message))"
                )
            }
            let huge = String(repeating: "x", count: 2 << 20)
            let big = problem(
                UpdateBatchMessage(source: "s", firstSequence: 1, updates: [upsert("A", at: 1, note: huge)]))
            #expect(big?.contains("when stored; the limit is 1048576") == true, "\(String(describing: big))")
            let nearly = String(repeating: "x", count: 900 << 10)
            #expect(
                problem(UpdateBatchMessage(source: "s", firstSequence: 1, updates: [upsert("A", at: 1, note: nearly)]))
                    == nil)
            for source in ["a\u{1}b", "tab\there", "prod\u{FFFD}"] {
                let message = problem(
                    UpdateBatchMessage(source: source, firstSequence: 1, updates: [upsert("A", at: 1)]))
                #expect(message?.contains("source contains") == true, "\(source): \(String(describing: message))")
            }
        }
    }

    // MARK: - Codec

    @Test("UpdateBatch encodes and decodes back: upserts of every value type, deletes, unset changes")
    func codecRoundTrip() {
        let everyType: [NamedValue] = [
            NamedValue("null", .null), NamedValue("int", .int64(-5)), NamedValue("zero", .int64(0)),
            NamedValue("double", .double(1.5)), NamedValue("double0", .double(0)), NamedValue("float", .float(2.5)),
            NamedValue("true", .bool(true)), NamedValue("false", .bool(false)), NamedValue("string", .string("héllo")),
            NamedValue("empty", .string("")), NamedValue("bytes", .bytes([0, 1, 255])),
            NamedValue("ints", .int64List([1, -2, .max, .min])), NamedValue("doubles", .doubleList([0.5, -1e300])),
            NamedValue("floats", .floatList([1.25])), NamedValue("bools", .boolList([true, false, true])),
            NamedValue("strings", .stringList(["a", "", "ü"])), NamedValue("byteses", .bytesList([[], [9, 0]])),
            NamedValue("nolist", .int64List([])), NamedValue("missing", nil),
        ]
        let batch = UpdateBatchMessage(
            source: "central-weather", firstSequence: 1 << 40,
            updates: [
                UpdateMessage(
                    view: "weather",
                    key: [NamedValue("origin", .string("SFO")), NamedValue("n", .int64(-1)), NamedValue("k", nil)],
                    eventTime: Timestamp(nanosecondsSinceEpoch: 1_700_000_000_123_456_789), change: .upsert(everyType)),
                UpdateMessage(
                    view: "weather", key: [NamedValue("origin", .string("JFK"))],
                    eventTime: Timestamp(nanosecondsSinceEpoch: -1_500_000_001), change: .delete),
                UpdateMessage(view: "weather", key: [], eventTime: at(0), change: .upsert([])),
                UpdateMessage(view: "", key: [], eventTime: nil, change: .none),
            ])
        let encoded = ReplicationCodec.encode(batch)
        #expect(encoded.withUnsafeBytes { ReplicationCodec.decodeBatch($0) } == batch)
        let empty = UpdateBatchMessage(source: "", firstSequence: 0, updates: [])
        #expect(ReplicationCodec.encode(empty).isEmpty)
        #expect([UInt8]().withUnsafeBytes { ReplicationCodec.decodeBatch($0) } == empty)
    }

    @Test(
        "decodeBatch refuses bytes that are not an UpdateBatch",
        arguments: [
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], [0x1a, 0x05, 0x0a], [0x0a, 0x10, 0x61],
            [0x1a], [0x1a, 0x02, 0x22, 0x09], [0x07],
        ] as [[UInt8]])
    func codecRefusesGarbage(bytes: [UInt8]) {
        #expect(bytes.withUnsafeBytes { ReplicationCodec.decodeBatch($0) } == nil)
    }

    @Test("decodeBatch refuses every truncation of a valid batch that cuts a field")
    func codecRefusesTruncation() {
        let encoded = ReplicationCodec.encode(
            UpdateBatchMessage(
                source: "s", firstSequence: 1,
                updates: [upsert("SFO", at: 1, temp: 1, note: "x"), delete("JFK", at: 2)]))
        // The encoding ends inside the last update, so every proper prefix that ends within it cuts a message.
        let lastUpdateStart =
            encoded.count
            - ReplicationCodec.encode(
                UpdateBatchMessage(source: "", firstSequence: 0, updates: [delete("JFK", at: 2)])
            ).count
        for length in (lastUpdateStart + 1)..<encoded.count {
            #expect(
                Array(encoded.prefix(length)).withUnsafeBytes { ReplicationCodec.decodeBatch($0) } == nil, "\(length)")
        }
    }
}
