// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Applies validated batches inside a write transaction: positions, duplicates, gaps and newest-event-wins.

public import FreshetCore
public import FreshetProto
public import FreshetStorage

/// A source's position and counters as stored in the metadata database (`position/<source>`), written in the same
/// transaction as the updates they count.
public struct SourcePosition: Hashable, Sendable {
    /// The last sequence applied (0: none).
    public var appliedSequence: UInt64 = 0
    /// Updates written (upserts and tombstones).
    public var written: UInt64 = 0
    /// Updates that lost to a newer event already stored.
    public var superseded: UInt64 = 0
    /// Resent updates at or below the position, skipped.
    public var duplicates: UInt64 = 0
    /// Updates of views this region does not store (no service it serves reads them), acked and skipped.
    public var unsubscribed: UInt64 = 0
    /// The commit time of the last batch, ns since the epoch (0: none).
    public var lastCommitNanoseconds: Int64 = 0

    public init() {}

    /// 48 bytes; records written before `unsubscribed` existed have 40.
    static let encodedSize = 48

    init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count == Self.encodedSize || bytes.count == 40 else { return nil }
        func word(_ index: Int) -> UInt64 {
            bytes.loadUnaligned(fromByteOffset: 8 * index, as: UInt64.self).littleEndian
        }
        self.appliedSequence = word(0)
        self.written = word(1)
        self.superseded = word(2)
        self.duplicates = word(3)
        self.lastCommitNanoseconds = Int64(bitPattern: word(4))
        if bytes.count >= 48 { self.unsubscribed = word(5) }
    }

    var encoded: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.encodedSize)
        for word in [
            self.appliedSequence, self.written, self.superseded, self.duplicates,
            UInt64(bitPattern: self.lastCommitNanoseconds), self.unsubscribed,
        ] {
            withUnsafeBytes(of: word.littleEndian) { bytes.append(contentsOf: $0) }
        }
        return bytes
    }

    /// The wire form, for `GetPosition`.
    public func message(source: String) -> SourcePositionMessage {
        SourcePositionMessage(
            source: source, appliedSequence: self.appliedSequence, written: self.written,
            superseded: self.superseded, duplicates: self.duplicates, unsubscribed: self.unsubscribed,
            lastCommitTime: self.lastCommitNanoseconds == 0
                ? nil : Timestamp(nanosecondsSinceEpoch: self.lastCommitNanoseconds))
    }
}

/// The apply rules, run by the writer inside one write transaction per group of batches.
///
/// Per batch: updates at or below the source's position are duplicates and skipped; a batch that starts past
/// position + 1 is a gap and changes nothing; every other update is compared with the stored row of its key, and
/// written only when it is newer: a later `event_time`, or on equal times a higher (source, sequence), comparing
/// source names bytewise. Deletes write a tombstone that keeps the delete's `event_time` (and origin), so an older
/// upsert that arrives later still loses.
public struct ReplicationApplier: Sendable {
    public let meta: Database

    public init(meta: Database) {
        self.meta = meta
    }

    /// The metadata key of a source's position.
    static func positionKey(_ source: String) -> [UInt8] { Array("position/".utf8) + Array(source.utf8) }

    /// Reads a source's position (zero when the source never wrote here).
    public func position(of source: String, in transaction: borrowing ReadTransaction) throws -> SourcePosition {
        guard let bytes = try transaction.get(self.meta, key: Self.positionKey(source)) else { return SourcePosition() }
        return bytes.withUnsafeBytes { SourcePosition($0) } ?? SourcePosition()
    }

    /// Every source with a position, in name order.
    public func positions(
        in transaction: borrowing ReadTransaction
    ) throws -> [(source: String, position: SourcePosition)] {
        var result: [(String, SourcePosition)] = []
        let prefix = Array("position/".utf8)
        try transaction.forEach(self.meta, from: prefix) { key, value in
            guard key.starts(with: prefix) else { return false }
            if let position = SourcePosition(value) {
                result.append((String(decoding: key.dropFirst(prefix.count), as: UTF8.self), position))
            }
            return true
        }
        return result
    }

    /// Applies the batches of one group in `transaction`, in order. Positions read and changed here are kept in
    /// `positions` (by source) and written back by ``writePositions(_:in:)`` before the commit.
    /// - Returns: one outcome per batch (`.applied` or `.gap`); they hold only if the transaction commits.
    /// - Throws: ``StorageError`` from LMDB; the caller aborts the transaction.
    public func apply(
        _ batch: ValidatedBatch, ingestTime: Timestamp, positions: inout [String: SourcePosition],
        in transaction: borrowing WriteTransaction
    ) throws -> ApplyOutcome {
        var position: SourcePosition
        if let cached = positions[batch.source] {
            position = cached
        } else {
            let stored = try transaction.get(self.meta, key: Self.positionKey(batch.source))
            position = stored.flatMap { bytes in bytes.withUnsafeBytes { SourcePosition($0) } } ?? SourcePosition()
        }
        if batch.firstSequence > position.appliedSequence + 1 {
            return .gap(expected: position.appliedSequence + 1)
        }
        var ack = ReplicateAckMessage(
            source: batch.source, appliedSequence: 0, firstSequence: batch.firstSequence, written: 0, superseded: 0,
            duplicates: 0)
        let source = Array(batch.source.utf8)
        for (index, update) in batch.updates.enumerated() {
            let sequence = batch.firstSequence + UInt64(index)
            if sequence <= position.appliedSequence {
                ack.duplicates += 1
                continue
            }
            guard let database = update.database else {
                ack.unsubscribed += 1
                position.appliedSequence = sequence
                continue
            }
            let newer = try update.key.withUnsafeBytes { key in
                guard let stored = try transaction.get(database, key: key) else { return true }
                guard let row = StoredRowView(stored) else { return true }
                return Self.wins(
                    eventTime: update.eventTime, source: source, sequence: sequence, over: row)
            }
            if newer {
                let encoded: [UInt8]
                if let values = update.values {
                    encoded = StoredRow.encode(
                        optionalValues: values, eventTime: update.eventTime, ingestTime: ingestTime,
                        originSource: source, originSequence: sequence)
                } else {
                    encoded = StoredRow.encode(
                        values: [], eventTime: update.eventTime, ingestTime: ingestTime, tombstone: true,
                        originSource: source, originSequence: sequence)
                }
                try transaction.put(database, key: update.key, value: encoded)
                ack.written += 1
            } else {
                ack.superseded += 1
            }
            position.appliedSequence = sequence
        }
        position.written += ack.written
        position.superseded += ack.superseded
        position.duplicates += ack.duplicates
        position.unsubscribed += ack.unsubscribed
        position.lastCommitNanoseconds = ingestTime.nanosecondsSinceEpoch
        positions[batch.source] = position
        ack.appliedSequence = position.appliedSequence
        return .applied(ack)
    }

    /// Writes the positions a group changed.
    public func writePositions(_ positions: [String: SourcePosition], in transaction: borrowing WriteTransaction) throws
    {
        for (source, position) in positions {
            try transaction.put(self.meta, key: Self.positionKey(source), value: position.encoded)
        }
    }

    /// Whether an update beats the stored row: a later event time, or on equal times a higher (source, sequence).
    public static func wins(
        eventTime: Timestamp, source: [UInt8], sequence: UInt64, over row: StoredRowView
    ) -> Bool {
        if eventTime != row.eventTime { return eventTime > row.eventTime }
        let stored = row.originSource
        let common = min(source.count, stored.count)
        for index in 0..<common where source[index] != stored[index] {
            return source[index] > stored[index]
        }
        if source.count != stored.count { return source.count > stored.count }
        return sequence > row.originSequence
    }
}
