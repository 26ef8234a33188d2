// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// A bounds-checked reader of the protobuf wire format over borrowed bytes, for decoding without copies.

/// Reads protobuf wire-format fields from a byte buffer it borrows (https://protobuf.dev/programming-guides/encoding/).
///
/// Every read is bounds-checked; malformed input (a truncated varint or length, a length past the end, a group or
/// reserved wire type) makes ``next()`` throw, so a caller can walk untrusted bytes and never read outside them.
struct WireReader {
    /// One field: its number, wire type and payload (a varint value, a fixed-width value, or a byte range).
    struct Field {
        var number: Int
        var wireType: UInt8
        /// The varint or fixed-width value (for wire types 0, 1, 5).
        var value: UInt64
        /// The payload (for wire type 2).
        var bytes: UnsafeRawBufferPointer
    }

    struct Malformed: Error {}

    private let bytes: UnsafeRawBufferPointer
    private var cursor = 0

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    var isAtEnd: Bool { self.cursor >= self.bytes.count }

    /// The next field, or `nil` at the end.
    mutating func next() throws(Malformed) -> Field? {
        guard self.cursor < self.bytes.count else { return nil }
        let tag = try self.varint()
        let number = tag >> 3
        guard number > 0, number <= 536_870_911 else { throw Malformed() }
        let wireType = UInt8(tag & 7)
        var field = Field(
            number: Int(number), wireType: wireType, value: 0, bytes: UnsafeRawBufferPointer(start: nil, count: 0))
        switch wireType {
        case 0:
            field.value = try self.varint()
        case 1:
            field.value = try self.fixed(8)
        case 5:
            field.value = try self.fixed(4)
        case 2:
            let length = try self.varint()
            guard length <= UInt64(self.bytes.count - self.cursor) else { throw Malformed() }
            field.bytes = UnsafeRawBufferPointer(rebasing: self.bytes[self.cursor..<self.cursor + Int(length)])
            self.cursor += Int(length)
        default:
            // Groups (3, 4) are not used by proto3; 6 and 7 are not wire types.
            throw Malformed()
        }
        return field
    }

    private mutating func varint() throws(Malformed) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while self.cursor < self.bytes.count {
            let byte = self.bytes[self.cursor]
            self.cursor += 1
            // The 10th byte's bits beyond 64 are dropped, as protobuf-c and C++ protobuf do.
            value |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
            if shift > 63 { throw Malformed() }
        }
        throw Malformed()
    }

    private mutating func fixed(_ width: Int) throws(Malformed) -> UInt64 {
        guard self.bytes.count - self.cursor >= width else { throw Malformed() }
        var value: UInt64 = 0
        for index in 0..<width {
            value |= UInt64(self.bytes[self.cursor + index]) << UInt64(8 * index)
        }
        self.cursor += width
        return value
    }

    /// Checks that `bytes` is a well-formed message of scalar fields: each field known to `schema` must have the
    /// wire type it expects (or be packed, for a repeated scalar). Unknown fields only need valid framing.
    static func validate(_ bytes: UnsafeRawBufferPointer, _ schema: MessageSchema) throws(Malformed) {
        var reader = WireReader(bytes)
        while let field = try reader.next() {
            guard let wireType = schema.fields[field.number] else { continue }
            if field.wireType == wireType { continue }
            guard field.wireType == 2 && schema.packable.contains(field.number) else { throw Malformed() }
            try Self.validatePacked(field.bytes, wireType)
        }
    }

    private static func validatePacked(_ bytes: UnsafeRawBufferPointer, _ wireType: UInt8) throws(Malformed) {
        switch wireType {
        case 1: guard bytes.count % 8 == 0 else { throw Malformed() }
        case 5: guard bytes.count % 4 == 0 else { throw Malformed() }
        default:
            var index = 0
            var length = 0
            while index < bytes.count {
                length += 1
                if bytes[index] & 0x80 == 0 { length = 0 } else if length >= 10 { throw Malformed() }
                index += 1
            }
            guard length == 0 else { throw Malformed() }
        }
    }
}

/// The scalar fields of a message type that validation checks: field number → expected wire type.
struct MessageSchema: Sendable {
    var fields: [Int: UInt8]
    /// Repeated scalar fields, which may be packed.
    var packable: Set<Int> = []

    /// The schema of list field `number` (8…13) of `freshet.v1.Value`: `repeated <scalar> values = 1`.
    static func valueList(_ number: Int) -> MessageSchema {
        switch number {
        case 8, 11: MessageSchema(fields: [1: 0], packable: [1])  // int64, bool
        case 9: MessageSchema(fields: [1: 1], packable: [1])  // double
        case 10: MessageSchema(fields: [1: 5], packable: [1])  // float
        default: MessageSchema(fields: [1: 2])  // string, bytes
        }
    }
}
