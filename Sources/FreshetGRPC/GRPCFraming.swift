// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// gRPC message framing: the 5-byte prefix (compressed flag + 32-bit big-endian length) before each message.

internal import FreshetCore

/// Reassembles length-prefixed gRPC messages from DATA chunks, refusing a message larger than a limit as soon as
/// its prefix arrives, so an oversized message is never read into memory.
///
/// gRPC PROTOCOL-HTTP2.md: `Length-Prefixed-Message → Compressed-Flag Message-Length Message`, where
/// Compressed-Flag is one byte (0 or 1) and Message-Length a 4-byte big-endian unsigned integer.
package struct GRPCMessageDeframer {
    /// Why the deframer stopped.
    package enum Failure: Error, Equatable {
        /// A message declared `length` bytes, more than the limit.
        case tooLarge(length: Int, limit: Int)
        /// The compressed flag was set on a call whose encoding is identity.
        case compressedWithoutEncoding
        /// The flag byte was neither 0 nor 1.
        case invalidFlag(UInt8)
    }

    private let limit: Int
    private var buffer: [UInt8] = []
    /// The messages completed so far (usually one for a unary call), each still behind its 5-byte prefix: the
    /// buffer a message was assembled in is moved here, not copied. ``takeMessages()`` strips the prefixes.
    private var framed: [[UInt8]] = []

    /// Creates a deframer that refuses messages longer than `limit` bytes.
    package init(limit: Int) {
        self.limit = limit
    }

    /// Adds a DATA chunk. Completed messages are appended to ``messages``.
    /// - Throws: ``Failure`` on a prefix that breaks the rules; stop feeding after a failure.
    package mutating func append(_ bytes: UnsafeRawBufferPointer) throws(Failure) {
        var input = bytes[...]
        while !input.isEmpty {
            if self.buffer.count < 5 {
                let take = min(5 - self.buffer.count, input.count)
                self.buffer.append(contentsOf: input.prefix(take))
                input = input.dropFirst(take)
                if self.buffer.count < 5 { return }
                try self.checkPrefix()
            }
            let length = Self.declaredLength(self.buffer)
            let missing = 5 + length - self.buffer.count
            let take = min(missing, input.count)
            self.buffer.append(contentsOf: input.prefix(take))
            input = input.dropFirst(take)
            if self.buffer.count == 5 + length {
                self.framed.append(self.buffer)
                self.buffer = []
            }
        }
        // A zero-length message completes with its prefix.
        if self.buffer.count == 5 && Self.declaredLength(self.buffer) == 0 {
            self.framed.append(self.buffer)
            self.buffer = []
        }
    }

    /// The number of completed messages not taken yet.
    package var messageCount: Int { self.framed.count }

    /// Calls `body` with completed message `index` (without its prefix), without copying it.
    package func withMessage<R>(_ index: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try self.framed[index].withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[5...])) }
    }

    /// Drops the first completed message (after it was taken with ``withMessage(_:_:)``).
    package mutating func removeFirstMessage() {
        self.framed.removeFirst()
    }

    /// Bytes of an unfinished message (0 when the stream ended on a message boundary).
    package var partialBytes: Int { self.buffer.count }

    /// Bytes held: the unfinished message and the completed ones not taken yet.
    package var bufferedBytes: Int { self.framed.reduce(self.buffer.count) { $0 + $1.count } }

    /// Drops everything held (the call is answered; the rest of its request is not needed).
    package mutating func discard() {
        self.buffer = []
        self.framed = []
    }

    /// Removes and returns the completed messages (copies, without their prefixes).
    package mutating func takeMessages() -> [[UInt8]] {
        defer { self.framed.removeAll() }
        return self.framed.map { Array($0[5...]) }
    }

    private mutating func checkPrefix() throws(Failure) {
        switch self.buffer[0] {
        case 0: break
        case 1: throw .compressedWithoutEncoding
        default: throw .invalidFlag(self.buffer[0])
        }
        let length = Self.declaredLength(self.buffer)
        if length > self.limit {
            throw .tooLarge(length: length, limit: self.limit)
        }
        // Grow with the data that actually arrives: a prefix alone must not reserve the declared length.
        self.buffer.reserveCapacity(5 + min(length, 64 << 10))
    }

    private static func declaredLength(_ prefix: [UInt8]) -> Int {
        Int(prefix[1]) << 24 | Int(prefix[2]) << 16 | Int(prefix[3]) << 8 | Int(prefix[4])
    }
}

extension GRPCMessageDeframer.Failure {
    /// The status a call ends with when its request framing breaks the rules.
    var status: GRPCStatus {
        switch self {
        case .tooLarge(let length, let limit):
            GRPCStatus(
                .resourceExhausted, "request message of \(length) bytes is larger than the limit of \(limit) bytes")
        case .compressedWithoutEncoding:
            GRPCStatus(.internalError, "message has the compressed flag set but the call's grpc-encoding is identity")
        case .invalidFlag(let flag):
            GRPCStatus(.internalError, "invalid gRPC message flag byte \(flag)")
        }
    }
}

/// `message` behind its 5-byte prefix (uncompressed), as it goes into DATA frames.
package func grpcFramed(_ message: [UInt8]) -> [UInt8] {
    var framed = [UInt8](repeating: 0, count: 5)
    framed.reserveCapacity(5 + message.count)
    writeGRPCPrefix(length: message.count, into: &framed)
    framed.append(contentsOf: message)
    return framed
}

/// Writes the 5-byte prefix for an uncompressed message of `length` bytes at `offset` of `buffer`.
package func writeGRPCPrefix(length: Int, into buffer: inout [UInt8], at offset: Int = 0) {
    precondition(length <= Int(UInt32.max), "gRPC message over 4 GiB")
    buffer[offset] = 0
    buffer[offset + 1] = UInt8(truncatingIfNeeded: length >> 24)
    buffer[offset + 2] = UInt8(truncatingIfNeeded: length >> 16)
    buffer[offset + 3] = UInt8(truncatingIfNeeded: length >> 8)
    buffer[offset + 4] = UInt8(truncatingIfNeeded: length)
}
