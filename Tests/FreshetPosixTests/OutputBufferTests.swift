// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Tests for OutputBuffer: partial writes to a full socket resume where they stopped, and a gone peer throws.

import FreshetPosix
import Glibc
import Testing

@Suite("OutputBuffer")
struct OutputBufferTests {
    @Test("an empty buffer writes nothing and reports done")
    func empty() throws {
        let pair = try TCPPair()
        defer { pair.closeAll() }
        var output = OutputBuffer()
        #expect(output.isEmpty)
        #expect(try output.write(to: pair.client))
        #expect(try readOnce(pair.server).isWouldBlock)
    }

    @Test("a full socket stops the write; later writes resume and every byte arrives once, in order")
    func resumesAfterWouldBlock() throws {
        let pair = try TCPPair()
        defer { pair.closeAll() }
        // Far more than loopback socket buffers hold, appended in uneven chunks.
        let bytes = patternBytes(16 << 20)
        var output = OutputBuffer()
        var start = 0
        for size in [1, 4095, 1 << 20, (16 << 20) - (1 << 20) - 4096] {
            bytes.withUnsafeBytes { output.append(UnsafeRawBufferPointer(rebasing: $0[start..<(start + size)])) }
            start += size
        }
        #expect(output.pending == bytes.count)

        #expect(try output.write(to: pair.client) == false, "16 MiB should not fit in the socket at once")
        #expect(output.pending > 0 && output.pending < bytes.count)

        var received: [UInt8] = []
        var done = false
        while !done {
            received += try read(min(1 << 20, bytes.count - received.count), from: pair.server)
            done = try output.write(to: pair.client)
        }
        #expect(output.isEmpty)
        received += try read(bytes.count - received.count, from: pair.server)
        #expect(received == bytes)

        // The buffer is reusable after a drain.
        ([7, 8, 9] as [UInt8]).withUnsafeBytes { output.append($0) }
        #expect(try output.write(to: pair.client))
        #expect(try read(3, from: pair.server) == [7, 8, 9])
    }

    @Test("writing to a peer that closed throws a SystemError")
    func peerGone() throws {
        let pair = try TCPPair()
        defer { pair.closeAll() }
        // Linger 0 makes the close send RST, so the next write fails instead of being buffered.
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        #expect(
            setsockopt(
                pair.server.descriptor, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size)) == 0
        )
        pair.close(pair.server)
        usleep(50_000)
        var output = OutputBuffer()
        patternBytes(1024).withUnsafeBytes { output.append($0) }
        #expect(throws: SystemError.self) {
            for _ in 0..<3 {
                _ = try output.write(to: pair.client)
                patternBytes(1024).withUnsafeBytes { output.append($0) }
            }
        }
    }
}
