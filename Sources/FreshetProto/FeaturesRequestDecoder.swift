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

    /// Decodes a request; `nil` when the bytes are not a valid `GetFeaturesRequest` (or decoding needs more
    /// memory than the limit).
    public func decode(_ bytes: UnsafeRawBufferPointer) -> DecodedFeaturesRequest? {
        freshet_arena_reset(self.arena)
        let allocator = freshet_arena_allocator(self.arena)
        guard
            let message = withProtobufInput(bytes, { freshet__v1__get_features_request__unpack(allocator, $1, $0) })
        else { return nil }
        return DecodedFeaturesRequest(message: UnsafePointer(message))
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

    /// The request's `max_staleness`, when set and positive.
    public var maxStaleness: Duration? {
        guard let duration = self.message.pointee.max_staleness else { return nil }
        let value = Duration.seconds(duration.pointee.seconds) + .nanoseconds(Int64(duration.pointee.nanos))
        return value > .zero ? value : nil
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
