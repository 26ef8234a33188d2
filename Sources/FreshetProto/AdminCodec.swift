// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// The messages of `freshet.v1.Admin` (proto/freshet/v1/admin.proto), both ways: servers and the CLI use them.

/// `freshet.v1.ApplyRegistryRequest`.
public struct ApplyRegistryRequestMessage: Sendable, Hashable {
    public var registryJSON: [UInt8]
    public var version: UInt64
    public var dryRun: Bool
    /// Apply only if the region holds this version (`nil`: field absent, no check).
    public var expectedVersion: UInt64?

    public init(registryJSON: [UInt8], version: UInt64, dryRun: Bool = false, expectedVersion: UInt64? = nil) {
        self.registryJSON = registryJSON
        self.version = version
        self.dryRun = dryRun
        self.expectedVersion = expectedVersion
    }
}

/// `freshet.v1.FinishBackfillRequest`.
public struct FinishBackfillRequestMessage: Sendable, Hashable {
    public var view: String
    /// The id of the backfill mark the backfill filled (`StoredView.backfill_id`).
    public var backfillID: UInt64
    /// The backfill's replication source, whose position goes with the mark (empty: none).
    public var source: String

    public init(view: String, backfillID: UInt64, source: String = "") {
        self.view = view
        self.backfillID = backfillID
        self.source = source
    }
}

/// `freshet.v1.RegistryState`.
public struct RegistryStateMessage: Sendable, Hashable {
    /// `freshet.v1.StoredView`.
    public struct StoredView: Sendable, Hashable {
        public var name: String
        public var entries: UInt64
        /// The registry version that subscribed the view while it waits for a backfill; 0: no backfill needed.
        public var backfillFromVersion: UInt64
        /// The pending backfill's id (0: none).
        public var backfillID: UInt64

        public init(name: String, entries: UInt64, backfillFromVersion: UInt64 = 0, backfillID: UInt64 = 0) {
            self.name = name
            self.entries = entries
            self.backfillFromVersion = backfillFromVersion
            self.backfillID = backfillID
        }
    }

    public var version: UInt64 = 0
    public var registryJSON: [UInt8] = []
    public var servedServices: [String] = []
    public var servesAll = false
    public var storedViews: [StoredView] = []
    public var changed = false
    public var subscribedViews: [String] = []
    public var unsubscribedViews: [String] = []

    public init() {}
}

/// `freshet.v1.SnapshotInfo`.
public struct SnapshotInfoMessage: Sendable, Hashable {
    public var id: String
    public var bytes: UInt64
    public var registryVersion: UInt64

    public init(id: String, bytes: UInt64, registryVersion: UInt64) {
        self.id = id
        self.bytes = bytes
        self.registryVersion = registryVersion
    }
}

/// `freshet.v1.ReadSnapshotRequest`.
public struct ReadSnapshotRequestMessage: Sendable, Hashable {
    public var id: String
    public var offset: UInt64
    public var maxBytes: UInt32

    public init(id: String, offset: UInt64, maxBytes: UInt32) {
        self.id = id
        self.offset = offset
        self.maxBytes = maxBytes
    }
}

/// Encodes and decodes the admin messages. Decoders return `nil` for bytes that are not the message (malformed
/// wire format, a string field that is not UTF-8, a field of the wrong wire type); unknown fields are skipped.
public enum AdminCodec {
    public static func appendApplyRequest(_ request: ApplyRegistryRequestMessage, to output: inout [UInt8]) {
        if !request.registryJSON.isEmpty { ProtoWire.appendBytesField(1, request.registryJSON, to: &output) }
        if request.version != 0 { ProtoWire.appendVarintField(2, request.version, to: &output) }
        if request.dryRun { ProtoWire.appendVarintField(3, 1, to: &output) }
        // proto3 `optional`: present even when 0.
        if let expected = request.expectedVersion { ProtoWire.appendVarintField(4, expected, to: &output) }
    }

    public static func decodeApplyRequest(_ bytes: UnsafeRawBufferPointer) -> ApplyRegistryRequestMessage? {
        var request = ApplyRegistryRequestMessage(registryJSON: [], version: 0)
        let ok = Self.walk(bytes) { field in
            switch (field.number, field.wireType) {
            case (1, 2): request.registryJSON = Array(field.bytes)
            case (2, 0): request.version = field.value
            case (3, 0): request.dryRun = field.value != 0
            case (4, 0): request.expectedVersion = field.value
            case (1...4, _): return false
            default: break
            }
            return true
        }
        return ok ? request : nil
    }

    public static func appendFinishBackfillRequest(_ request: FinishBackfillRequestMessage, to output: inout [UInt8]) {
        if !request.view.isEmpty { ProtoWire.appendStringField(1, request.view, to: &output) }
        if request.backfillID != 0 { ProtoWire.appendVarintField(2, request.backfillID, to: &output) }
        if !request.source.isEmpty { ProtoWire.appendStringField(3, request.source, to: &output) }
    }

    public static func decodeFinishBackfillRequest(_ bytes: UnsafeRawBufferPointer) -> FinishBackfillRequestMessage? {
        var request = FinishBackfillRequestMessage(view: "", backfillID: 0)
        let ok = Self.walk(bytes) { field in
            switch (field.number, field.wireType) {
            case (1, 2):
                guard let text = Self.string(field.bytes) else { return false }
                request.view = text
            case (2, 0): request.backfillID = field.value
            case (3, 2):
                guard let text = Self.string(field.bytes) else { return false }
                request.source = text
            case (1...3, _): return false
            default: break
            }
            return true
        }
        return ok ? request : nil
    }

    public static func appendState(_ state: RegistryStateMessage, to output: inout [UInt8]) {
        if state.version != 0 { ProtoWire.appendVarintField(1, state.version, to: &output) }
        if !state.registryJSON.isEmpty { ProtoWire.appendBytesField(2, state.registryJSON, to: &output) }
        for name in state.servedServices { ProtoWire.appendStringField(3, name, to: &output) }
        if state.servesAll { ProtoWire.appendVarintField(4, 1, to: &output) }
        for view in state.storedViews {
            ProtoWire.appendMessageField(5, to: &output) { body in
                if !view.name.isEmpty { ProtoWire.appendStringField(1, view.name, to: &body) }
                if view.entries != 0 { ProtoWire.appendVarintField(2, view.entries, to: &body) }
                if view.backfillFromVersion != 0 {
                    ProtoWire.appendVarintField(3, view.backfillFromVersion, to: &body)
                }
                if view.backfillID != 0 { ProtoWire.appendVarintField(4, view.backfillID, to: &body) }
            }
        }
        if state.changed { ProtoWire.appendVarintField(6, 1, to: &output) }
        for name in state.subscribedViews { ProtoWire.appendStringField(7, name, to: &output) }
        for name in state.unsubscribedViews { ProtoWire.appendStringField(8, name, to: &output) }
    }

    public static func decodeState(_ bytes: UnsafeRawBufferPointer) -> RegistryStateMessage? {
        var state = RegistryStateMessage()
        let ok = Self.walk(bytes) { field in
            switch (field.number, field.wireType) {
            case (1, 0): state.version = field.value
            case (2, 2): state.registryJSON = Array(field.bytes)
            case (3, 2), (7, 2), (8, 2):
                guard let text = Self.string(field.bytes) else { return false }
                switch field.number {
                case 3: state.servedServices.append(text)
                case 7: state.subscribedViews.append(text)
                default: state.unsubscribedViews.append(text)
                }
            case (4, 0): state.servesAll = field.value != 0
            case (5, 2):
                var view = RegistryStateMessage.StoredView(name: "", entries: 0)
                let ok = Self.walk(field.bytes) { inner in
                    switch (inner.number, inner.wireType) {
                    case (1, 2):
                        guard let text = Self.string(inner.bytes) else { return false }
                        view.name = text
                    case (2, 0): view.entries = inner.value
                    case (3, 0): view.backfillFromVersion = inner.value
                    case (4, 0): view.backfillID = inner.value
                    case (1...4, _): return false
                    default: break
                    }
                    return true
                }
                guard ok else { return false }
                state.storedViews.append(view)
            case (6, 0): state.changed = field.value != 0
            case (1...8, _): return false
            default: break
            }
            return true
        }
        return ok ? state : nil
    }

    public static func appendSnapshotInfo(_ info: SnapshotInfoMessage, to output: inout [UInt8]) {
        if !info.id.isEmpty { ProtoWire.appendStringField(1, info.id, to: &output) }
        if info.bytes != 0 { ProtoWire.appendVarintField(2, info.bytes, to: &output) }
        if info.registryVersion != 0 { ProtoWire.appendVarintField(3, info.registryVersion, to: &output) }
    }

    public static func decodeSnapshotInfo(_ bytes: UnsafeRawBufferPointer) -> SnapshotInfoMessage? {
        var info = SnapshotInfoMessage(id: "", bytes: 0, registryVersion: 0)
        let ok = Self.walk(bytes) { field in
            switch (field.number, field.wireType) {
            case (1, 2):
                guard let text = Self.string(field.bytes) else { return false }
                info.id = text
            case (2, 0): info.bytes = field.value
            case (3, 0): info.registryVersion = field.value
            case (1...3, _): return false
            default: break
            }
            return true
        }
        return ok ? info : nil
    }

    public static func appendReadSnapshotRequest(_ request: ReadSnapshotRequestMessage, to output: inout [UInt8]) {
        if !request.id.isEmpty { ProtoWire.appendStringField(1, request.id, to: &output) }
        if request.offset != 0 { ProtoWire.appendVarintField(2, request.offset, to: &output) }
        if request.maxBytes != 0 { ProtoWire.appendVarintField(3, UInt64(request.maxBytes), to: &output) }
    }

    public static func decodeReadSnapshotRequest(_ bytes: UnsafeRawBufferPointer) -> ReadSnapshotRequestMessage? {
        var request = ReadSnapshotRequestMessage(id: "", offset: 0, maxBytes: 0)
        let ok = Self.walk(bytes) { field in
            switch (field.number, field.wireType) {
            case (1, 2):
                guard let text = Self.string(field.bytes) else { return false }
                request.id = text
            case (2, 0): request.offset = field.value
            case (3, 0): request.maxBytes = UInt32(clamping: field.value)
            case (1...3, _): return false
            default: break
            }
            return true
        }
        return ok ? request : nil
    }

    /// `freshet.v1.SnapshotChunk`.
    public static func appendSnapshotChunk(_ data: some Collection<UInt8>, end: Bool, to output: inout [UInt8]) {
        if !data.isEmpty { ProtoWire.appendBytesField(1, data, to: &output) }
        if end { ProtoWire.appendVarintField(2, 1, to: &output) }
    }

    public static func decodeSnapshotChunk(_ bytes: UnsafeRawBufferPointer) -> (data: [UInt8], end: Bool)? {
        var chunk: (data: [UInt8], end: Bool) = ([], false)
        let ok = Self.walk(bytes) { field in
            switch (field.number, field.wireType) {
            case (1, 2): chunk.data = Array(field.bytes)
            case (2, 0): chunk.end = field.value != 0
            case (1...2, _): return false
            default: break
            }
            return true
        }
        return ok ? chunk : nil
    }

    /// `freshet.v1.DeleteSnapshotRequest` (and the id of `CreateSnapshot`-less requests): the id alone.
    public static func appendSnapshotID(_ id: String, to output: inout [UInt8]) {
        if !id.isEmpty { ProtoWire.appendStringField(1, id, to: &output) }
    }

    public static func decodeSnapshotID(_ bytes: UnsafeRawBufferPointer) -> String? {
        var id = ""
        let ok = Self.walk(bytes) { field in
            switch (field.number, field.wireType) {
            case (1, 2):
                guard let text = Self.string(field.bytes) else { return false }
                id = text
            case (1, _): return false
            default: break
            }
            return true
        }
        return ok ? id : nil
    }

    /// Whether `bytes` are a well-formed protobuf message (for requests without fields, whose unknown fields are
    /// skipped).
    public static func isWellFormed(_ bytes: UnsafeRawBufferPointer) -> Bool {
        Self.walk(bytes) { _ in true }
    }

    /// Visits every field; false when the bytes are malformed or `visit` refuses a field.
    private static func walk(_ bytes: UnsafeRawBufferPointer, _ visit: (WireReader.Field) -> Bool) -> Bool {
        var reader = WireReader(bytes)
        do {
            while let field = try reader.next() {
                if !visit(field) { return false }
            }
            return true
        } catch {
            return false
        }
    }

    private static func string(_ bytes: UnsafeRawBufferPointer) -> String? {
        String(validating: bytes, as: UTF8.self)
    }
}
