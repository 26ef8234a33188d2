// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// The byte encoding of entity keys, as stored in LMDB: one byte string per entity, unique and order-preserving.

/// Encodes the join key values of one entity into the key bytes of its row.
///
/// - A single string key is its UTF-8 bytes, as is (so `mdb_dump` output stays readable).
/// - A single int64 key is 8 bytes big-endian with the sign bit flipped, so byte order is numeric order.
/// - A composite key concatenates its parts: an int64 as above, a string as a varint length and its bytes, so no
///   two different tuples share an encoding.
///
/// The encoding never changes for a view (rows are found by it); LMDB limits keys to 511 bytes
/// (``maximumLength``), and an empty key is not allowed.
public enum EntityKey {
    /// LMDB's default maximum key size.
    public static let maximumLength = 511

    /// Appends the encoding of `values` to `output`. `values` must match the entity's key list in order.
    public static func encode(_ values: [JoinKeyValue], into output: inout [UInt8]) {
        let composite = values.count > 1
        for value in values {
            switch value {
            case .int64(let number):
                Self.appendInt64(number, to: &output)
            case .string(var text):
                text.withUTF8 { Self.appendString(UnsafeRawBufferPointer($0), composite: composite, to: &output) }
            }
        }
    }

    /// The encoding of `values`.
    public static func encode(_ values: [JoinKeyValue]) -> [UInt8] {
        var output: [UInt8] = []
        Self.encode(values, into: &output)
        return output
    }

    /// Appends one int64 part.
    public static func appendInt64(_ number: Int64, to output: inout [UInt8]) {
        let flipped = UInt64(bitPattern: number) ^ (1 << 63)
        for shift in stride(from: 56, through: 0, by: -8) {
            output.append(UInt8(truncatingIfNeeded: flipped >> UInt64(shift)))
        }
    }

    /// Appends one string part; in a composite key it is length-prefixed.
    public static func appendString(_ bytes: UnsafeRawBufferPointer, composite: Bool, to output: inout [UInt8]) {
        if composite {
            var length = UInt64(bytes.count)
            while length >= 0x80 {
                output.append(UInt8(truncatingIfNeeded: length) | 0x80)
                length >>= 7
            }
            output.append(UInt8(length))
        }
        output.append(contentsOf: bytes)
    }
}
