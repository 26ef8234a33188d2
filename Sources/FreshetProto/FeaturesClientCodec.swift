// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Client-side messages of FeatureServing and Health: requests encoded by hand, responses decoded with protobuf-c.

internal import CFreshetProto
internal import CProtobufC
public import FreshetCore

/// A `GetFeaturesRequest`, as a client builds it.
public struct FeaturesRequest: Sendable {
    /// A feature service name, or explicit `view:feature` refs.
    public enum Target: Sendable {
        case service(String)
        case references([String])
    }

    /// A join key value in a request row (`nil` payload in `.null` for a null key).
    public enum Key: Hashable, Sendable {
        case string(String)
        case int64(Int64)
        case null
        /// Any other value, to test how the server refuses wrong key types.
        case other(FeatureValue)
    }

    public var target: Target
    /// Each row: key name → value, in order.
    public var rows: [[(String, Key)]]
    public var maxStaleness: Duration?

    public init(target: Target, rows: [[(String, Key)]], maxStaleness: Duration? = nil) {
        self.target = target
        self.rows = rows
        self.maxStaleness = maxStaleness
    }

    /// The protobuf encoding of the request.
    public func encoded() -> [UInt8] {
        var output: [UInt8] = []
        switch self.target {
        case .service(let name):
            ProtoWire.appendStringField(1, name, to: &output)
        case .references(let references):
            ProtoWire.appendMessageField(2, to: &output) { refs in
                for reference in references { ProtoWire.appendStringField(1, reference, to: &refs) }
            }
        }
        for row in self.rows {
            ProtoWire.appendMessageField(3, to: &output) { entity in
                for (name, key) in row {
                    ProtoWire.appendMessageField(1, to: &entity) { entry in
                        ProtoWire.appendStringField(1, name, to: &entry)
                        ProtoWire.appendMessageField(2, to: &entry) { value in
                            switch key {
                            case .string(let text): ValueCodec.appendValueMessage(.string(text), to: &value)
                            case .int64(let number): ValueCodec.appendValueMessage(.int64(number), to: &value)
                            case .null: ValueCodec.appendValueMessage(.null, to: &value)
                            case .other(let other): ValueCodec.appendValueMessage(other, to: &value)
                            }
                        }
                    }
                }
            }
        }
        if let maxStaleness = self.maxStaleness {
            ProtoWire.appendMessageField(4, to: &output) { ValueCodec.appendDurationMessage(maxStaleness, to: &$0) }
        }
        return output
    }
}

/// The status of one view for one row.
public enum FeatureStatus: String, Hashable, Sendable {
    case unspecified = "UNSPECIFIED"
    case present = "PRESENT"
    case notFound = "NOT_FOUND"
    case stale = "STALE"
}

/// A decoded `GetFeaturesResponse`.
public struct FeaturesResponse: Sendable {
    /// One column group (a `ViewHeader`).
    public struct View: Hashable, Sendable {
        public var name: String
        public var view: String
        public var joinKeys: [String]
        public var features: [String]
    }

    /// One view's result for one row. `values[i]` is `nil` when the value is missing (no kind set).
    public struct Result: Hashable, Sendable {
        public var status: FeatureStatus
        public var values: [FeatureValue?]
        public var eventTime: Timestamp?
        public var ingestTime: Timestamp?
    }

    public var views: [View]
    /// `rows[r][v]`: the result of view `v` for request row `r`.
    public var rows: [[Result]]

    /// Decodes response bytes with protobuf-c.
    /// - Throws: ``ProtoDecodeError`` when they are not a valid `GetFeaturesResponse`.
    public init(decoding bytes: [UInt8]) throws(ProtoDecodeError) {
        let decoded = bytes.withUnsafeBytes { buffer in
            withProtobufInput(buffer) { freshet__v1__get_features_response__unpack(nil, $1, $0) }
        }
        guard let message = decoded else {
            throw ProtoDecodeError(message: "the response is not a valid freshet.v1.GetFeaturesResponse")
        }
        defer { freshet__v1__get_features_response__free_unpacked(message, nil) }
        let response = message.pointee
        self.views = UnsafeBufferPointer(start: response.views, count: response.n_views).map { header in
            let view = header!.pointee
            return View(
                name: String(cString: view.name), view: String(cString: view.view),
                joinKeys: strings(view.join_keys, view.n_join_keys), features: strings(view.features, view.n_features))
        }
        self.rows = UnsafeBufferPointer(start: response.rows, count: response.n_rows).map { row in
            let results = row!.pointee
            return UnsafeBufferPointer(start: results.views, count: results.n_views).map { item in
                let result = item!.pointee
                let status: FeatureStatus =
                    switch result.status {
                    case FRESHET__V1__FEATURE_STATUS__PRESENT: .present
                    case FRESHET__V1__FEATURE_STATUS__NOT_FOUND: .notFound
                    case FRESHET__V1__FEATURE_STATUS__STALE: .stale
                    default: .unspecified
                    }
                return Result(
                    status: status,
                    values: UnsafeBufferPointer(start: result.values, count: result.n_values).map {
                        ValueCodec.featureValue($0!)
                    },
                    eventTime: result.event_time.map(timestamp), ingestTime: result.ingest_time.map(timestamp))
            }
        }
    }
}

/// Bytes that are not the protobuf message they should be.
public struct ProtoDecodeError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { self.message }
}

private func strings(_ items: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ count: Int) -> [String] {
    UnsafeBufferPointer(start: items, count: count).map { String(cString: $0!) }
}

private func timestamp(_ message: UnsafeMutablePointer<Google__Protobuf__Timestamp>) -> Timestamp {
    Timestamp(seconds: message.pointee.seconds, nanoseconds: message.pointee.nanos)
}

// MARK: - Health

/// `grpc.health.v1` messages.
public enum HealthCodec {
    /// Serving statuses of `HealthCheckResponse`.
    public enum ServingStatus: Int, Sendable {
        case unknown = 0
        case serving = 1
        case notServing = 2
        case serviceUnknown = 3
    }

    /// Decodes a `HealthCheckRequest`'s service name; `nil` when the bytes are not one.
    public static func decodeRequest(_ bytes: UnsafeRawBufferPointer) -> String? {
        guard let message = withProtobufInput(bytes, { grpc__health__v1__health_check_request__unpack(nil, $1, $0) })
        else { return nil }
        defer { grpc__health__v1__health_check_request__free_unpacked(message, nil) }
        return String(cString: message.pointee.service)
    }

    /// Appends an encoded `HealthCheckResponse`.
    public static func appendResponse(_ status: ServingStatus, to output: inout [UInt8]) {
        if status != .unknown {
            ProtoWire.appendVarintField(1, UInt64(status.rawValue), to: &output)
        }
    }

    /// Encodes a `HealthCheckRequest`.
    public static func encodeRequest(service: String) -> [UInt8] {
        var output: [UInt8] = []
        if !service.isEmpty { ProtoWire.appendStringField(1, service, to: &output) }
        return output
    }

    /// Decodes a `HealthCheckResponse`.
    public static func decodeResponse(_ bytes: [UInt8]) -> ServingStatus? {
        let decoded = bytes.withUnsafeBytes { buffer in
            withProtobufInput(buffer) { grpc__health__v1__health_check_response__unpack(nil, $1, $0) }
        }
        guard let message = decoded else { return nil }
        defer { grpc__health__v1__health_check_response__free_unpacked(message, nil) }
        return ServingStatus(rawValue: Int(message.pointee.status.rawValue))
    }
}
