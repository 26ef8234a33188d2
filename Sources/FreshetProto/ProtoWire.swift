// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Protobuf wire-format primitives for hand-written encoders: varints, tags, length-delimited fields.

/// Protobuf wire encoding (https://protobuf.dev/programming-guides/encoding/), appending to a byte array.
///
/// The hot path builds responses by concatenating pre-encoded fields (a message may be assembled field by field),
/// so it needs only these primitives.
package enum ProtoWire {
    package static let varint: UInt8 = 0
    package static let fixed64: UInt8 = 1
    package static let lengthDelimited: UInt8 = 2
    package static let fixed32: UInt8 = 5

    /// The bytes a varint of `value` takes (1...10).
    @inlinable
    package static func varintSize(_ value: UInt64) -> Int {
        // Each byte carries 7 bits; 0 still takes one byte.
        let bits = 64 - (value | 1).leadingZeroBitCount
        return (bits + 6) / 7
    }

    @inlinable
    package static func appendVarint(_ value: UInt64, to output: inout [UInt8]) {
        var value = value
        while value >= 0x80 {
            output.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        output.append(UInt8(value))
    }

    @inlinable
    package static func appendTag(_ field: Int, _ wireType: UInt8, to output: inout [UInt8]) {
        Self.appendVarint(UInt64(field) << 3 | UInt64(wireType), to: &output)
    }

    /// The size of a tag for `field`.
    @inlinable
    package static func tagSize(_ field: Int) -> Int {
        Self.varintSize(UInt64(field) << 3)
    }

    /// A length-delimited field's total size for a payload of `length` bytes.
    @inlinable
    package static func lengthDelimitedSize(_ field: Int, _ length: Int) -> Int {
        Self.tagSize(field) + Self.varintSize(UInt64(length)) + length
    }

    /// Appends tag and length for a length-delimited field whose payload follows.
    @inlinable
    package static func appendLengthDelimitedHeader(_ field: Int, length: Int, to output: inout [UInt8]) {
        Self.appendTag(field, Self.lengthDelimited, to: &output)
        Self.appendVarint(UInt64(length), to: &output)
    }

    package static func appendBytesField(_ field: Int, _ bytes: some Collection<UInt8>, to output: inout [UInt8]) {
        Self.appendLengthDelimitedHeader(field, length: bytes.count, to: &output)
        output.append(contentsOf: bytes)
    }

    package static func appendStringField(_ field: Int, _ text: String, to output: inout [UInt8]) {
        Self.appendBytesField(field, text.utf8, to: &output)
    }

    package static func appendVarintField(_ field: Int, _ value: UInt64, to output: inout [UInt8]) {
        Self.appendTag(field, Self.varint, to: &output)
        Self.appendVarint(value, to: &output)
    }

    package static func appendFixed64(_ value: UInt64, to output: inout [UInt8]) {
        for shift in stride(from: 0, to: 64, by: 8) {
            output.append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
        }
    }

    package static func appendFixed32(_ value: UInt32, to output: inout [UInt8]) {
        for shift in stride(from: 0, to: 32, by: 8) {
            output.append(UInt8(truncatingIfNeeded: value >> UInt32(shift)))
        }
    }

    /// Appends a nested message field whose payload is built by `body` (the length is patched in afterwards; the
    /// payload is moved once if its length needs more than one varint byte). For non-hot paths.
    package static func appendMessageField(_ field: Int, to output: inout [UInt8], _ body: (inout [UInt8]) -> Void) {
        Self.appendTag(field, Self.lengthDelimited, to: &output)
        let lengthAt = output.count
        output.append(0)
        body(&output)
        let length = output.count - lengthAt - 1
        let size = Self.varintSize(UInt64(length))
        if size > 1 {
            output.insert(contentsOf: repeatElement(0, count: size - 1), at: lengthAt + 1)
        }
        var value = UInt64(length)
        for index in 0..<size {
            output[lengthAt + index] = UInt8(truncatingIfNeeded: value) | (index < size - 1 ? 0x80 : 0)
            value >>= 7
        }
    }
}
