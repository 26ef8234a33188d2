// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Server-side decoding of `GetFeaturesRequest` with protobuf-c into a per-loop arena, read through borrowed views.

internal import CFreshetProto
internal import CProtobufC
internal import FreshetCore
internal import Glibc

/// Decodes `freshet.v1.GetFeaturesRequest` messages without a malloc per field: protobuf-c unpacks into a bump
/// arena that is reset before each request.
///
/// Lifetime: a ``DecodedFeaturesRequest`` and every pointer it hands out are valid until the next call to
/// ``decode(_:)`` on the same decoder. Thread affinity: loop-confined (one decoder per event loop).
public final class FeaturesRequestDecoder {
    private let arena: OpaquePointer

    /// Creates a decoder whose arena refuses to grow past `memoryLimit` bytes (a hostile request then fails to
    /// decode instead of exhausting memory).
    public init(memoryLimit: Int = 256 << 20) {
        guard let arena = freshet_arena_create(64 << 10, memoryLimit) else {
            fatalError("out of memory creating the request arena")
        }
        self.arena = arena
    }

    deinit {
        freshet_arena_destroy(self.arena)
    }

    /// Decodes a request.
    /// - Throws: ``ProtoDecodeError`` when the bytes are not a valid `GetFeaturesRequest` (or decoding needs more
    ///   memory than the limit), or when a string the server matches on (the service name, a feature ref, a join
    ///   key's name or string value) contains a NUL byte: protobuf-c hands strings over NUL-terminated, so such a
    ///   string would otherwise be cut short and match another one.
    public func decode(_ bytes: UnsafeRawBufferPointer) throws(ProtoDecodeError) -> DecodedFeaturesRequest {
        freshet_arena_reset(self.arena)
        let allocator = freshet_arena_allocator(self.arena)
        guard
            let message = withProtobufInput(bytes, { freshet__v1__get_features_request__unpack(allocator, $1, $0) })
        else {
            throw ProtoDecodeError(message: "the request is not a valid freshet.v1.GetFeaturesRequest")
        }
        // Most requests have no zero byte at all; only then is a string check needed.
        if let base = bytes.baseAddress, memchr(base, 0, bytes.count) != nil,
            let problem = RequestStrings.nulByteProblem(in: bytes)
        {
            throw ProtoDecodeError(message: problem)
        }
        return DecodedFeaturesRequest(message: UnsafePointer(message))
    }
}

/// Finds NUL bytes inside the strings of a `GetFeaturesRequest`, by walking its wire format.
enum RequestStrings {
    /// Where the first NUL byte inside a matched-on string is, or `nil` when there is none. `bytes` must already have
    /// decoded successfully (the walk gives up quietly on anything malformed).
    static func nulByteProblem(in bytes: UnsafeRawBufferPointer) -> String? {
        var problem: String?
        var row = 0
        var reference = 0
        forEachField(bytes) { field, payload in
            switch field {
            case 1 where payload.contains(0):
                problem = "feature_service contains a NUL byte"
            case 2:
                forEachField(payload) { field, text in
                    if field == 1 && text.contains(0) {
                        problem = "feature ref \(reference) contains a NUL byte"
                    }
                    reference += 1
                    return problem == nil
                }
            case 3:
                if Self.entityRowHasNUL(payload) {
                    problem = "row \(row): a join key name or string value contains a NUL byte"
                }
                row += 1
            default:
                break
            }
            return problem == nil
        }
        return problem
    }

    /// EntityRow: field 1 is a map entry {1: key string, 2: Value {6: string_value}}.
    private static func entityRowHasNUL(_ row: UnsafeRawBufferPointer) -> Bool {
        var found = false
        forEachField(row) { field, entry in
            guard field == 1 else { return true }
            forEachField(entry) { field, payload in
                if field == 1 && payload.contains(0) { found = true }
                if field == 2 {
                    forEachField(payload) { field, text in
                        if field == 6 && text.contains(0) { found = true }
                        return !found
                    }
                }
                return !found
            }
            return !found
        }
        return found
    }

    /// Calls `body` with each length-delimited field (number and payload) of a message, skipping other wire types,
    /// until `body` returns false or the bytes end or turn out malformed.
    private static func forEachField(
        _ bytes: UnsafeRawBufferPointer, _ body: (Int, UnsafeRawBufferPointer) -> Bool
    ) {
        var cursor = 0
        func varint() -> UInt64? {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while cursor < bytes.count, shift < 64 {
                let byte = bytes[cursor]
                cursor += 1
                value |= UInt64(byte & 0x7f) << shift
                if byte & 0x80 == 0 { return value }
                shift += 7
            }
            return nil
        }
        while cursor < bytes.count {
            guard let tag = varint() else { return }
            switch tag & 7 {
            case 0:
                guard varint() != nil else { return }
            case 1:
                cursor += 8
            case 5:
                cursor += 4
            case 2:
                guard let length = varint(), length <= UInt64(bytes.count - cursor) else { return }
                let payload = UnsafeRawBufferPointer(rebasing: bytes[cursor..<cursor + Int(length)])
                cursor += Int(length)
                if !body(Int(tag >> 3), payload) { return }
            default:
                return
            }
        }
    }
}

/// Calls `body` with a non-null data pointer and length for protobuf-c (which wants a pointer even for 0 bytes).
func withProtobufInput<R>(_ bytes: UnsafeRawBufferPointer, _ body: (UnsafePointer<UInt8>, Int) -> R) -> R {
    if let base = bytes.baseAddress, bytes.count > 0 {
        return body(base.assumingMemoryBound(to: UInt8.self), bytes.count)
    }
    var zero: UInt8 = 0
    return withUnsafePointer(to: &zero) { body($0, 0) }
}

/// The value of one join key in one request row, borrowed from the decoded request.
public enum RequestKeyValue {
    /// The row has no entry for this key.
    case missing
    /// The key is `null_value` (for example a cancelled flight's tailnum).
    case null
    /// A string key: its UTF-8 bytes.
    case string(UnsafeRawBufferPointer)
    /// An int64 key.
    case int64(Int64)
    /// A value of another type; the payload names its oneof field for the error message (`double_value`).
    case wrongType(String)
}

/// A decoded request, borrowed from its ``FeaturesRequestDecoder``'s arena (see the lifetime note there).
public struct DecodedFeaturesRequest {
    let message: UnsafePointer<Freshet__V1__GetFeaturesRequest>

    /// What the request asks for.
    public enum Target {
        case service(String)
        case references([String])
        case unspecified
    }

    /// The feature service or refs requested.
    public var target: Target {
        switch self.message.pointee.features_case {
        case FRESHET__V1__GET_FEATURES_REQUEST__FEATURES_FEATURE_SERVICE:
            return .service(String(cString: self.message.pointee.feature_service))
        case FRESHET__V1__GET_FEATURES_REQUEST__FEATURES_FEATURE_REFS:
            guard let refs = self.message.pointee.feature_refs else { return .references([]) }
            return .references(
                UnsafeBufferPointer(start: refs.pointee.refs, count: refs.pointee.n_refs).map { String(cString: $0!) })
        default:
            return .unspecified
        }
    }

    /// The name of the requested feature service as bytes (no String built), or `nil`.
    public func withServiceName<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R? {
        guard self.message.pointee.features_case == FRESHET__V1__GET_FEATURES_REQUEST__FEATURES_FEATURE_SERVICE,
            let name = self.message.pointee.feature_service
        else { return nil }
        return body(UnsafeRawBufferPointer(start: name, count: strlen(name)))
    }

    /// The number of entity rows.
    public var rowCount: Int { self.message.pointee.n_rows }

    /// The request's `max_staleness` as sent (possibly zero or negative), or `nil` when unset.
    public var maxStaleness: Duration? {
        guard let duration = self.message.pointee.max_staleness else { return nil }
        return Duration.seconds(duration.pointee.seconds) + .nanoseconds(Int64(duration.pointee.nanos))
    }

    /// Finds the keys named in `names` in row `row` and writes each one's value into `slots` (same indexes).
    /// When a key appears twice in a row, the last one wins (protobuf map semantics).
    ///
    /// - Parameters:
    ///   - names: the key names as UTF-8 bytes.
    ///   - slots: resized to `names.count`.
    public func keys(row: Int, names: [[UInt8]], into slots: inout [RequestKeyValue]) {
        slots.removeAll(keepingCapacity: true)
        for _ in names { slots.append(.missing) }
        guard let entity = self.message.pointee.rows[row] else { return }
        let entries = UnsafeBufferPointer(start: entity.pointee.keys, count: entity.pointee.n_keys)
        for entry in entries {
            guard let entry, let keyName = entry.pointee.key else { continue }
            let length = strlen(keyName)
            for (index, name) in names.enumerated() where name.count == length {
                let same = name.withUnsafeBytes { memcmp($0.baseAddress!, keyName, length) == 0 }
                guard same else { continue }
                slots[index] = Self.keyValue(entry.pointee.value)
            }
        }
    }

    private static func keyValue(_ value: UnsafeMutablePointer<Freshet__V1__Value>?) -> RequestKeyValue {
        guard let value else { return .wrongType("a Value with no kind set") }
        switch value.pointee.kind_case {
        case FRESHET__V1__VALUE__KIND_STRING_VALUE:
            let text = value.pointee.string_value!
            return .string(UnsafeRawBufferPointer(start: text, count: strlen(text)))
        case FRESHET__V1__VALUE__KIND_INT64_VALUE:
            return .int64(value.pointee.int64_value)
        case FRESHET__V1__VALUE__KIND_NULL_VALUE:
            return .null
        case FRESHET__V1__VALUE__KIND_DOUBLE_VALUE: return .wrongType("double_value")
        case FRESHET__V1__VALUE__KIND_FLOAT_VALUE: return .wrongType("float_value")
        case FRESHET__V1__VALUE__KIND_BOOL_VALUE: return .wrongType("bool_value")
        case FRESHET__V1__VALUE__KIND_BYTES_VALUE: return .wrongType("bytes_value")
        case FRESHET__V1__VALUE__KIND__NOT_SET: return .wrongType("a Value with no kind set")
        default: return .wrongType("a list value")
        }
    }
}
