// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// `freshet.v1.Replication` messages: update batches, acks and positions, decoded with protobuf-c and encoded by hand.

internal import CFreshetProto
internal import CProtobufC
public import FreshetCore

/// A name and a value from a protobuf map (`nil` value: a `Value` with no kind set).
public struct NamedValue: Hashable, Sendable {
    public var name: String
    public var value: FeatureValue?

    public init(_ name: String, _ value: FeatureValue?) {
        self.name = name
        self.value = value
    }
}

/// One update of an ``UpdateBatchMessage``, as sent (not yet checked against the registry).
public struct UpdateMessage: Hashable, Sendable {
    /// What an update does to its row.
    public enum Change: Hashable, Sendable {
        /// Replace the row with these values (feature name → value).
        case upsert([NamedValue])
        /// Remove the row.
        case delete
        /// Neither was set (invalid).
        case none
    }

    public var view: String
    /// The entity key, by join key name.
    public var key: [NamedValue]
    /// `nil` when the update has no `event_time`, or an invalid one.
    public var eventTime: Timestamp?
    public var change: Change

    public init(view: String, key: [NamedValue], eventTime: Timestamp?, change: Change) {
        self.view = view
        self.key = key
        self.eventTime = eventTime
        self.change = change
    }
}

/// `freshet.v1.UpdateBatch`.
public struct UpdateBatchMessage: Hashable, Sendable {
    public var source: String
    public var firstSequence: UInt64
    public var updates: [UpdateMessage]

    public init(source: String, firstSequence: UInt64, updates: [UpdateMessage]) {
        self.source = source
        self.firstSequence = firstSequence
        self.updates = updates
    }
}

/// `freshet.v1.ReplicateAck`.
public struct ReplicateAckMessage: Hashable, Sendable {
    public var source: String
    public var appliedSequence: UInt64
    public var firstSequence: UInt64
    public var written: UInt64
    public var superseded: UInt64
    public var duplicates: UInt64
    public var unsubscribed: UInt64

    public init(
        source: String, appliedSequence: UInt64, firstSequence: UInt64, written: UInt64, superseded: UInt64,
        duplicates: UInt64, unsubscribed: UInt64 = 0
    ) {
        self.unsubscribed = unsubscribed
        self.source = source
        self.appliedSequence = appliedSequence
        self.firstSequence = firstSequence
        self.written = written
        self.superseded = superseded
        self.duplicates = duplicates
    }
}

/// `freshet.v1.SourcePosition`: a source's position and counters in one region.
public struct SourcePositionMessage: Hashable, Sendable {
    public var source: String
    public var appliedSequence: UInt64
    public var written: UInt64
    public var superseded: UInt64
    public var duplicates: UInt64
    public var unsubscribed: UInt64
    public var lastCommitTime: Timestamp?

    public init(
        source: String, appliedSequence: UInt64 = 0, written: UInt64 = 0, superseded: UInt64 = 0,
        duplicates: UInt64 = 0, unsubscribed: UInt64 = 0, lastCommitTime: Timestamp? = nil
    ) {
        self.unsubscribed = unsubscribed
        self.source = source
        self.appliedSequence = appliedSequence
        self.written = written
        self.superseded = superseded
        self.duplicates = duplicates
        self.lastCommitTime = lastCommitTime
    }
}

/// Encoding and decoding of the replication messages.
public enum ReplicationCodec {
    // MARK: - UpdateBatch

    /// Where a batch has a string with a NUL byte, which protobuf-c would cut short (it hands strings over
    /// NUL-terminated): "EWR\0x" would read as "EWR" and update another key. `nil` when there is none (or the
    /// bytes are not wire format at all, which ``decodeBatch(_:)`` reports).
    public static func nulInStrings(_ bytes: UnsafeRawBufferPointer) -> String? {
        func hasNUL(_ field: WireReader.Field) -> Bool { field.wireType == 2 && field.bytes.contains(0) }
        /// A `Value`: string_value (6) or string_list (12, its values are field 1).
        func valueHasNUL(_ bytes: UnsafeRawBufferPointer) throws(WireReader.Malformed) -> Bool {
            var reader = WireReader(bytes)
            while let field = try reader.next() {
                if field.number == 6 && hasNUL(field) { return true }
                if field.number == 12 && field.wireType == 2 {
                    var list = WireReader(field.bytes)
                    while let item = try list.next() {
                        if item.number == 1 && hasNUL(item) { return true }
                    }
                }
            }
            return false
        }
        /// A `map<string, Value>` entry: its name (1) or its value (2).
        func entryHasNUL(_ bytes: UnsafeRawBufferPointer) throws(WireReader.Malformed) -> Bool {
            var reader = WireReader(bytes)
            while let field = try reader.next() {
                if field.number == 1 && hasNUL(field) { return true }
                if field.number == 2 && field.wireType == 2, try valueHasNUL(field.bytes) { return true }
            }
            return false
        }
        do {
            var batch = WireReader(bytes)
            var index = 0
            while let field = try batch.next() {
                if field.number == 1 && hasNUL(field) { return "source contains a NUL byte" }
                guard field.number == 3, field.wireType == 2 else { continue }
                defer { index += 1 }
                var update = WireReader(field.bytes)
                while let part = try update.next() {
                    switch part.number {
                    case 1 where hasNUL(part):
                        return "update \(index): view contains a NUL byte"
                    case 2 where part.wireType == 2:
                        if try entryHasNUL(part.bytes) {
                            return "update \(index): a key name or value contains a NUL byte"
                        }
                    case 4 where part.wireType == 2:
                        var upsert = WireReader(part.bytes)
                        while let entry = try upsert.next() {
                            guard entry.number == 1, entry.wireType == 2 else { continue }
                            if try entryHasNUL(entry.bytes) {
                                return "update \(index): a feature name or string value contains a NUL byte"
                            }
                        }
                    default:
                        break
                    }
                }
            }
        } catch {
            return nil
        }
        return nil
    }

    /// Decodes an `UpdateBatch`; `nil` when the bytes are not one (protobuf-c refuses them).
    ///
    /// Strings come back cut at their first NUL byte: check ``nulInStrings(_:)`` first.
    public static func decodeBatch(_ bytes: UnsafeRawBufferPointer) -> UpdateBatchMessage? {
        guard let message = withProtobufInput(bytes, { freshet__v1__update_batch__unpack(nil, $1, $0) }) else {
            return nil
        }
        defer { freshet__v1__update_batch__free_unpacked(message, nil) }
        let batch = message.pointee
        var updates: [UpdateMessage] = []
        updates.reserveCapacity(batch.n_updates)
        for index in 0..<batch.n_updates {
            let update = batch.updates[index]!.pointee
            var key: [NamedValue] = []
            for entry in UnsafeBufferPointer(start: update.key, count: update.n_key) {
                let pair = entry!.pointee
                key.append(NamedValue(String(cString: pair.key), pair.value.flatMap { ValueCodec.featureValue($0) }))
            }
            var eventTime: Timestamp?
            if let time = update.event_time {
                eventTime = Timestamp(exactlySeconds: time.pointee.seconds, nanoseconds: time.pointee.nanos)
            }
            let change: UpdateMessage.Change
            switch update.change_case {
            case FRESHET__V1__UPDATE__CHANGE_UPSERT:
                let upsert = update.upsert.pointee
                var values: [NamedValue] = []
                values.reserveCapacity(upsert.n_values)
                for entry in UnsafeBufferPointer(start: upsert.values, count: upsert.n_values) {
                    let pair = entry!.pointee
                    values.append(
                        NamedValue(String(cString: pair.key), pair.value.flatMap { ValueCodec.featureValue($0) }))
                }
                change = .upsert(values)
            case FRESHET__V1__UPDATE__CHANGE_DELETE:
                change = .delete
            default:
                change = .none
            }
            updates.append(
                UpdateMessage(view: String(cString: update.view), key: key, eventTime: eventTime, change: change))
        }
        return UpdateBatchMessage(
            source: String(cString: batch.source), firstSequence: batch.first_sequence, updates: updates)
    }

    /// Reads only the top-level `source` and `first_sequence` of an `UpdateBatch`, skipping the updates without
    /// decoding them (a few nanoseconds per update): what an event loop needs before it hands the batch on.
    /// `nil` when the top level is not valid protobuf wire format (or the source is not UTF-8).
    public static func peekBatch(_ bytes: UnsafeRawBufferPointer) -> (source: String, firstSequence: UInt64)? {
        var reader = WireReader(bytes)
        var source = ""
        var first: UInt64 = 0
        do {
            while let field = try reader.next() {
                switch (field.number, field.wireType) {
                case (1, 2):
                    guard let text = String(validating: field.bytes, as: UTF8.self) else { return nil }
                    source = text
                case (2, 0):
                    first = field.value
                default:
                    break
                }
            }
        } catch {
            return nil
        }
        return (source, first)
    }

    /// Encodes an `UpdateBatch`.
    public static func encode(_ batch: UpdateBatchMessage) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(64 + batch.updates.count * 160)
        if !batch.source.isEmpty { ProtoWire.appendStringField(1, batch.source, to: &output) }
        if batch.firstSequence != 0 { ProtoWire.appendVarintField(2, batch.firstSequence, to: &output) }
        for update in batch.updates {
            ProtoWire.appendMessageField(3, to: &output) { Self.appendUpdate(update, to: &$0) }
        }
        return output
    }

    /// Appends the fields of one `Update` message (without its own tag and length).
    public static func appendUpdate(_ update: UpdateMessage, to output: inout [UInt8]) {
        if !update.view.isEmpty { ProtoWire.appendStringField(1, update.view, to: &output) }
        for entry in update.key {
            ProtoWire.appendMessageField(2, to: &output) { Self.appendMapEntry(entry, to: &$0) }
        }
        if let eventTime = update.eventTime {
            ProtoWire.appendMessageField(3, to: &output) { ValueCodec.appendTimestampMessage(eventTime, to: &$0) }
        }
        switch update.change {
        case .upsert(let values):
            ProtoWire.appendMessageField(4, to: &output) { upsert in
                for entry in values {
                    ProtoWire.appendMessageField(1, to: &upsert) { Self.appendMapEntry(entry, to: &$0) }
                }
            }
        case .delete:
            ProtoWire.appendMessageField(5, to: &output) { _ in }
        case .none:
            break
        }
    }

    /// A `map<string, Value>` entry: key (1), value (2).
    private static func appendMapEntry(_ entry: NamedValue, to output: inout [UInt8]) {
        ProtoWire.appendStringField(1, entry.name, to: &output)
        ProtoWire.appendMessageField(2, to: &output) { value in
            if let feature = entry.value { ValueCodec.appendValueMessage(feature, to: &value) }
        }
    }

    // MARK: - ReplicateAck

    /// Appends an encoded `ReplicateAck`.
    public static func appendAck(_ ack: ReplicateAckMessage, to output: inout [UInt8]) {
        if !ack.source.isEmpty { ProtoWire.appendStringField(1, ack.source, to: &output) }
        let numbers = [
            ack.appliedSequence, ack.firstSequence, ack.written, ack.superseded, ack.duplicates, ack.unsubscribed,
        ]
        for (offset, number) in numbers.enumerated() where number != 0 {
            ProtoWire.appendVarintField(2 + offset, number, to: &output)
        }
    }

    /// Decodes a `ReplicateAck`; `nil` when the bytes are not one.
    public static func decodeAck(_ bytes: [UInt8]) -> ReplicateAckMessage? {
        let decoded = bytes.withUnsafeBytes { buffer in
            withProtobufInput(buffer) { freshet__v1__replicate_ack__unpack(nil, $1, $0) }
        }
        guard let message = decoded else { return nil }
        defer { freshet__v1__replicate_ack__free_unpacked(message, nil) }
        let ack = message.pointee
        return ReplicateAckMessage(
            source: String(cString: ack.source), appliedSequence: ack.applied_sequence,
            firstSequence: ack.first_sequence, written: ack.written, superseded: ack.superseded,
            duplicates: ack.duplicates, unsubscribed: ack.unsubscribed)
    }

    // MARK: - GetPosition

    /// Encodes a `GetPositionRequest`.
    public static func encodePositionRequest(source: String) -> [UInt8] {
        var output: [UInt8] = []
        if !source.isEmpty { ProtoWire.appendStringField(1, source, to: &output) }
        return output
    }

    /// Decodes a `GetPositionRequest`'s source; `nil` when the bytes are not one, or the source holds a NUL byte
    /// (protobuf-c would cut it there and answer for another source).
    public static func decodePositionRequest(_ bytes: UnsafeRawBufferPointer) -> String? {
        var reader = WireReader(bytes)
        while let field = try? reader.next() {
            if field.number == 1 && field.wireType == 2 && field.bytes.contains(0) { return nil }
        }
        guard let message = withProtobufInput(bytes, { freshet__v1__get_position_request__unpack(nil, $1, $0) })
        else { return nil }
        defer { freshet__v1__get_position_request__free_unpacked(message, nil) }
        return String(cString: message.pointee.source)
    }

    /// Appends an encoded `SourcePosition`.
    public static func appendPosition(_ position: SourcePositionMessage, to output: inout [UInt8]) {
        if !position.source.isEmpty { ProtoWire.appendStringField(1, position.source, to: &output) }
        let numbers = [position.appliedSequence, position.written, position.superseded, position.duplicates]
        for (offset, number) in numbers.enumerated() where number != 0 {
            ProtoWire.appendVarintField(2 + offset, number, to: &output)
        }
        if let time = position.lastCommitTime {
            ProtoWire.appendMessageField(6, to: &output) { ValueCodec.appendTimestampMessage(time, to: &$0) }
        }
        if position.unsubscribed != 0 { ProtoWire.appendVarintField(7, position.unsubscribed, to: &output) }
    }

    /// Decodes a `SourcePosition`; `nil` when the bytes are not one.
    public static func decodePosition(_ bytes: [UInt8]) -> SourcePositionMessage? {
        let decoded = bytes.withUnsafeBytes { buffer in
            withProtobufInput(buffer) { freshet__v1__source_position__unpack(nil, $1, $0) }
        }
        guard let message = decoded else { return nil }
        defer { freshet__v1__source_position__free_unpacked(message, nil) }
        let position = message.pointee
        var time: Timestamp?
        if let commit = position.last_commit_time {
            time = Timestamp(exactlySeconds: commit.pointee.seconds, nanoseconds: commit.pointee.nanos)
        }
        return SourcePositionMessage(
            source: String(cString: position.source), appliedSequence: position.applied_sequence,
            written: position.written, superseded: position.superseded, duplicates: position.duplicates,
            unsubscribed: position.unsubscribed, lastCommitTime: time)
    }
}
