// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// `freshet.v1.Value` and `google.protobuf.Timestamp`/`Duration` on the wire: hand encoding, protobuf-c decoding.

internal import CFreshetProto
internal import CProtobufC
public import FreshetCore

/// Encodes and decodes `freshet.v1.Value`.
public enum ValueCodec {
    /// Appends the encoding of the `Value` message for `value` (its payload, without a tag or length).
    ///
    /// Field numbers follow proto/freshet/v1/values.proto. Scalars inside the oneof are always written, even when
    /// zero, because oneof presence is what carries the type (a stored 0 is not a missing value).
    public static func appendValueMessage(_ value: FeatureValue, to output: inout [UInt8]) {
        switch value {
        case .null:
            ProtoWire.appendVarintField(1, 0, to: &output)
        case .int64(let number):
            ProtoWire.appendVarintField(2, UInt64(bitPattern: number), to: &output)
        case .double(let number):
            ProtoWire.appendTag(3, ProtoWire.fixed64, to: &output)
            ProtoWire.appendFixed64(number.bitPattern, to: &output)
        case .float(let number):
            ProtoWire.appendTag(4, ProtoWire.fixed32, to: &output)
            ProtoWire.appendFixed32(number.bitPattern, to: &output)
        case .bool(let flag):
            ProtoWire.appendVarintField(5, flag ? 1 : 0, to: &output)
        case .string(let text):
            ProtoWire.appendStringField(6, text, to: &output)
        case .bytes(let bytes):
            ProtoWire.appendBytesField(7, bytes, to: &output)
        case .int64List(let numbers):
            ProtoWire.appendMessageField(8, to: &output) { list in
                Self.appendPacked(1, numbers.count, to: &list) {
                    numbers.reduce(0) { $0 + ProtoWire.varintSize(UInt64(bitPattern: $1)) }
                } fill: { list in
                    for number in numbers { ProtoWire.appendVarint(UInt64(bitPattern: number), to: &list) }
                }
            }
        case .doubleList(let numbers):
            ProtoWire.appendMessageField(9, to: &output) { list in
                Self.appendPacked(1, numbers.count, to: &list) {
                    numbers.count * 8
                } fill: { list in
                    for number in numbers { ProtoWire.appendFixed64(number.bitPattern, to: &list) }
                }
            }
        case .floatList(let numbers):
            ProtoWire.appendMessageField(10, to: &output) { list in
                Self.appendPacked(1, numbers.count, to: &list) {
                    numbers.count * 4
                } fill: { list in
                    for number in numbers { ProtoWire.appendFixed32(number.bitPattern, to: &list) }
                }
            }
        case .boolList(let flags):
            ProtoWire.appendMessageField(11, to: &output) { list in
                Self.appendPacked(1, flags.count, to: &list) {
                    flags.count
                } fill: { list in
                    for flag in flags { list.append(flag ? 1 : 0) }
                }
            }
        case .stringList(let texts):
            ProtoWire.appendMessageField(12, to: &output) { list in
                for text in texts { ProtoWire.appendStringField(1, text, to: &list) }
            }
        case .bytesList(let items):
            ProtoWire.appendMessageField(13, to: &output) { list in
                for item in items { ProtoWire.appendBytesField(1, item, to: &list) }
            }
        }
    }

    private static func appendPacked(
        _ field: Int, _ count: Int, to output: inout [UInt8], size: () -> Int, fill: (inout [UInt8]) -> Void
    ) {
        guard count > 0 else { return }
        ProtoWire.appendLengthDelimitedHeader(field, length: size(), to: &output)
        fill(&output)
    }

    /// The encoding of a `Value` message for `value`.
    public static func encode(_ value: FeatureValue) -> [UInt8] {
        var output: [UInt8] = []
        Self.appendValueMessage(value, to: &output)
        return output
    }

    /// Decodes a `Value` message. Returns `.some(nil)` for a message with no kind set (a missing value), and `nil`
    /// when the bytes are not a valid `Value`.
    public static func decode(_ bytes: UnsafeRawBufferPointer) -> FeatureValue?? {
        guard let message = withProtobufInput(bytes, { freshet__v1__value__unpack(nil, $1, $0) }) else { return nil }
        defer { freshet__v1__value__free_unpacked(message, nil) }
        return .some(Self.featureValue(message))
    }

    /// Converts an unpacked `Value` to a ``FeatureValue``; `nil` when no kind is set.
    static func featureValue(_ message: UnsafePointer<Freshet__V1__Value>) -> FeatureValue? {
        let value = message.pointee
        switch value.kind_case {
        case FRESHET__V1__VALUE__KIND_NULL_VALUE:
            return .null
        case FRESHET__V1__VALUE__KIND_INT64_VALUE:
            return .int64(value.int64_value)
        case FRESHET__V1__VALUE__KIND_DOUBLE_VALUE:
            return .double(value.double_value)
        case FRESHET__V1__VALUE__KIND_FLOAT_VALUE:
            return .float(value.float_value)
        case FRESHET__V1__VALUE__KIND_BOOL_VALUE:
            return .bool(value.bool_value != 0)
        case FRESHET__V1__VALUE__KIND_STRING_VALUE:
            return .string(String(cString: value.string_value))
        case FRESHET__V1__VALUE__KIND_BYTES_VALUE:
            return .bytes(bytesOf(value.bytes_value))
        case FRESHET__V1__VALUE__KIND_INT64_LIST:
            let list = value.int64_list.pointee
            return .int64List(Array(UnsafeBufferPointer(start: list.values, count: list.n_values)))
        case FRESHET__V1__VALUE__KIND_DOUBLE_LIST:
            let list = value.double_list.pointee
            return .doubleList(Array(UnsafeBufferPointer(start: list.values, count: list.n_values)))
        case FRESHET__V1__VALUE__KIND_FLOAT_LIST:
            let list = value.float_list.pointee
            return .floatList(Array(UnsafeBufferPointer(start: list.values, count: list.n_values)))
        case FRESHET__V1__VALUE__KIND_BOOL_LIST:
            let list = value.bool_list.pointee
            return .boolList(UnsafeBufferPointer(start: list.values, count: list.n_values).map { $0 != 0 })
        case FRESHET__V1__VALUE__KIND_STRING_LIST:
            let list = value.string_list.pointee
            return .stringList(
                UnsafeBufferPointer(start: list.values, count: list.n_values).map { String(cString: $0!) })
        case FRESHET__V1__VALUE__KIND_BYTES_LIST:
            let list = value.bytes_list.pointee
            return .bytesList(UnsafeBufferPointer(start: list.values, count: list.n_values).map { bytesOf($0) })
        default:
            return nil
        }
    }

    /// Appends a `google.protobuf.Timestamp` message payload (seconds, nanos; zero fields omitted as proto3 does).
    public static func appendTimestampMessage(_ timestamp: Timestamp, to output: inout [UInt8]) {
        if timestamp.seconds != 0 {
            ProtoWire.appendVarintField(1, UInt64(bitPattern: timestamp.seconds), to: &output)
        }
        if timestamp.nanoseconds != 0 {
            ProtoWire.appendVarintField(2, UInt64(bitPattern: Int64(timestamp.nanoseconds)), to: &output)
        }
    }

    /// Appends a `google.protobuf.Duration` message payload.
    public static func appendDurationMessage(_ duration: Duration, to output: inout [UInt8]) {
        let (seconds, attoseconds) = duration.components
        let nanos = attoseconds / 1_000_000_000
        if seconds != 0 { ProtoWire.appendVarintField(1, UInt64(bitPattern: seconds), to: &output) }
        if nanos != 0 { ProtoWire.appendVarintField(2, UInt64(bitPattern: nanos), to: &output) }
    }
}

func bytesOf(_ data: ProtobufCBinaryData) -> [UInt8] {
    guard data.len > 0, let pointer = data.data else { return [] }
    return Array(UnsafeBufferPointer(start: pointer, count: data.len))
}
