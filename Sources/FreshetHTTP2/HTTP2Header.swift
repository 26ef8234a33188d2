// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// HTTP/2 header fields and prebuilt header blocks in nghttp2's name/value layout.

internal import CNGHTTP2

/// One HTTP/2 header field. Names are lower case (RFC 9113 §8.2.1).
public struct HTTP2Header: Hashable, Sendable {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// A header list laid out once as an `nghttp2_nv` array over one contiguous buffer, ready to submit.
///
/// Building the nv array costs allocations; a block that is sent often (the `:status 200` response headers, the
/// `grpc-status: 0` trailers) is built once per event loop and reused. nghttp2 copies the names and values when a
/// block is submitted, so a block only has to live for the duration of the submit call.
///
/// Thread affinity: none needed (immutable after init), but blocks are loop-local by convention.
public final class HeaderBlock {
    let fields: UnsafeMutablePointer<nghttp2_nv>
    let count: Int
    private let storage: UnsafeMutableRawPointer
    /// The headers, as given.
    public let headers: [HTTP2Header]

    /// Lays out `headers`.
    public init(_ headers: [HTTP2Header]) {
        self.headers = headers
        let total = headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count }
        self.storage = UnsafeMutableRawPointer.allocate(byteCount: max(total, 1), alignment: 1)
        self.fields = UnsafeMutablePointer<nghttp2_nv>.allocate(capacity: max(headers.count, 1))
        self.count = headers.count
        var offset = 0
        for (index, header) in headers.enumerated() {
            let name = self.storage.advanced(by: offset).assumingMemoryBound(to: UInt8.self)
            offset += Self.copy(header.name, to: name)
            let value = self.storage.advanced(by: offset).assumingMemoryBound(to: UInt8.self)
            offset += Self.copy(header.value, to: value)
            (self.fields + index).initialize(
                to: nghttp2_nv(
                    name: name, value: value, namelen: header.name.utf8.count, valuelen: header.value.utf8.count,
                    flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue)))
        }
    }

    deinit {
        self.fields.deinitialize(count: self.count)
        self.fields.deallocate()
        self.storage.deallocate()
    }

    private static func copy(_ text: String, to target: UnsafeMutablePointer<UInt8>) -> Int {
        var count = 0
        for byte in text.utf8 {
            target[count] = byte
            count += 1
        }
        return count
    }
}
