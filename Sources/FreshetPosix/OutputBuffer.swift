// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Bytes waiting to be written to a non-blocking socket, and the loop that writes them.

/// Output queued for a non-blocking socket: appended by the protocol, written by ``write(to:)`` as far as the
/// socket takes it.
///
/// Thread affinity: owned by one connection, used on its loop.
public struct OutputBuffer {
    private var bytes: [UInt8] = []
    private var offset = 0

    public init() {}

    /// Bytes queued and not written yet.
    public var pending: Int { self.bytes.count - self.offset }

    public var isEmpty: Bool { self.offset == self.bytes.count }

    /// Queues bytes (reusing the space of what was already written).
    public mutating func append(_ chunk: UnsafeRawBufferPointer) {
        if self.offset > 0 && self.offset == self.bytes.count {
            self.bytes.removeAll(keepingCapacity: true)
            self.offset = 0
        }
        self.bytes.append(contentsOf: chunk)
    }

    /// Writes as much as `socket` takes now.
    /// - Returns: `true` when everything queued was written, `false` when the socket would block (watch it for
    ///   writability and call again).
    /// - Throws: ``SystemError`` when the write fails (the peer went away).
    public mutating func write(to socket: Socket) throws(SystemError) -> Bool {
        while self.offset < self.bytes.count {
            let offset = self.offset
            let outcome = self.bytes.withUnsafeBytes { bytes in
                Result { () throws(SystemError) in try socket.write(UnsafeRawBufferPointer(rebasing: bytes[offset...]))
                }
            }
            switch try outcome.get() {
            case .processed(let count): self.offset += count
            case .wouldBlock: return false
            }
        }
        // Keep the space for the next turn, unless one large burst grew it past 1 MiB.
        self.bytes.removeAll(keepingCapacity: self.bytes.capacity <= 1 << 20)
        self.offset = 0
        return true
    }
}
