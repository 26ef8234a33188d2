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

    public init(view: String, backfillID: UInt64) {
        self.view = view
        self.backfillID = backfillID
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
    }

    public static func decodeFinishBackfillRequest(_ bytes: UnsafeRawBufferPointer) -> FinishBackfillRequestMessage? {
        var request = FinishBackfillRequestMessage(view: "", backfillID: 0)
        let ok = Self.walk(bytes) { field in
            switch (field.number, field.wireType) {
            case (1, 2):
                guard let text = Self.string(field.bytes) else { return false }
                request.view = text
            case (2, 0): request.backfillID = field.value
            case (1, _), (2, _): return false
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
