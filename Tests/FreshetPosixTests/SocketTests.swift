// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Tests for non-blocking TCP sockets on loopback: listen, connect, accept, read, write, readiness and errors.

import FreshetPosix
import Glibc
import Testing

@Suite("Socket")
struct SocketTests {
    // MARK: - Listening

    static let listenHosts: [(host: String, localHost: String)] = [
        ("127.0.0.1", "127.0.0.1"),
        ("::1", "::1"),
        ("", "0.0.0.0"),
    ]

    @Test("listening on port 0 gets a real port", arguments: SocketTests.listenHosts)
    func listenOnPortZero(host: String, localHost: String) throws {
        let listener = try Socket.listen(on: Endpoint(host: host, port: 0), sharing: .exclusive)
        defer { listener.close() }
        let local = try listener.localEndpoint()
        #expect(local.host == localHost)
        #expect(local.port != 0)
        #expect(listener.peerEndpoint() == nil)
    }

    @Test("a group of listeners shares a port with SO_REUSEPORT")
    func reusePort() throws {
        let first = try Socket.listen(on: Endpoint(host: "127.0.0.1", port: 0), sharing: .firstOfGroup)
        defer { first.close() }
        let endpoint = try first.localEndpoint()
        let second = try Socket.listen(on: endpoint, sharing: .join)
        defer { second.close() }
        #expect(try second.localEndpoint() == endpoint)
        #expect(first.descriptor != second.descriptor)
    }

    @Test(
        "a port held by a listener group, or an exclusive one, cannot be taken",
        arguments: [
            Socket.PortSharing.exclusive, .firstOfGroup,
        ])
    func portInUse(firstSharing: Socket.PortSharing) throws {
        let first = try Socket.listen(on: Endpoint(host: "127.0.0.1", port: 0), sharing: firstSharing)
        defer { first.close() }
        let endpoint = try first.localEndpoint()
        for sharing in [Socket.PortSharing.exclusive, .firstOfGroup] {
            let error = #expect(throws: SystemError.self) {
                let second = try Socket.listen(on: endpoint, sharing: sharing)
                second.close()
            }
            #expect(error == SystemError(errno: EADDRINUSE, call: "bind \(endpoint)"))
        }
    }

    @Test("listening on a host that does not resolve throws EndpointError")
    func listenOnBadHost() {
        let error = #expect(throws: EndpointError.self) {
            let socket = try Socket.listen(on: Endpoint(host: "no such host", port: 0), sharing: .exclusive)
            socket.close()
        }
        #expect(error?.text == "no such host:0")
        #expect(error?.reason.isEmpty == false)
    }

    @Test("connecting to a host that does not resolve throws EndpointError")
    func connectToBadHost() {
        #expect(throws: EndpointError.self) {
            let socket = try Socket.connect(to: Endpoint(host: "no such host", port: 1), timeout: .seconds(1))
            socket.close()
        }
    }

    // MARK: - Connecting

    @Test("connecting to a closed port throws ECONNREFUSED naming the call")
    func connectionRefused() throws {
        let endpoint = Endpoint(host: "127.0.0.1", port: try closedPort())
        let error = #expect(throws: SystemError.self) {
            let socket = try Socket.connect(to: endpoint, timeout: .seconds(5))
            socket.close()
        }
        #expect(error?.errno == 111)
        #expect(error?.call == "connect \(endpoint)")
        #expect(error?.description == "connect \(endpoint): Connection refused (errno 111)")
    }

    @Test("connect, accept, write and read round trip", arguments: ["127.0.0.1", "::1"])
    func roundTrip(host: String) throws {
        let pair = try TCPPair(host: host)
        defer { pair.closeAll() }
        let listening = try pair.listener.localEndpoint()
        #expect(pair.client.peerEndpoint() == listening)
        #expect(try pair.server.localEndpoint() == listening)
        #expect(pair.server.peerEndpoint() == (try pair.client.localEndpoint()))

        try writeAll(Array("hello".utf8), to: pair.client)
        #expect(try read(5, from: pair.server) == Array("hello".utf8))
        try writeAll(Array("world!".utf8), to: pair.server)
        #expect(try read(6, from: pair.client) == Array("world!".utf8))
    }

    @Test("accepted and connected sockets have TCP_NODELAY set")
    func noDelay() throws {
        let pair = try TCPPair()
        defer { pair.closeAll() }
        for socket in [pair.client, pair.server] {
            var value: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            try #require(getsockopt(socket.descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &value, &length) == 0)
            #expect(value != 0)
        }
    }

    @Test("accepted sockets are non-blocking")
    func acceptedIsNonBlocking() throws {
        let pair = try TCPPair()
        defer { pair.closeAll() }
        #expect(fcntl(pair.server.descriptor, F_GETFL) & O_NONBLOCK != 0)
        #expect(fcntl(pair.client.descriptor, F_GETFL) & O_NONBLOCK != 0)
    }

    // MARK: - Reading and writing

    @Test("read and accept report wouldBlock when nothing is there")
    func wouldBlock() throws {
        let pair = try TCPPair()
        defer { pair.closeAll() }
        #expect(try readOnce(pair.server).isWouldBlock)
        #expect(try pair.listener.accept().isWouldBlock)
        #expect(try pair.server.waitReadable(timeout: .zero) == false)
        #expect(try pair.server.waitReadable(timeout: .milliseconds(10)) == false)
        #expect(try pair.server.waitWritable(timeout: .zero) == true)
    }

    /// A timeout is a lower bound, as for the event loop's timers. poll takes milliseconds, so a fraction must round
    /// up: rounded down, 900 µs becomes a poll of 0 that returns at once, and a caller waiting out a deadline spins.
    @Test("waitReadable waits out the whole timeout, even under a millisecond")
    func waitLastsTheTimeout() throws {
        let listener = try Socket.listen(on: Endpoint(host: "127.0.0.1", port: 0), sharing: .exclusive)
        defer { listener.close() }
        let timeout = Duration.microseconds(900)
        let clock = ContinuousClock()
        var ready = true
        let elapsed = try clock.measure { ready = try listener.waitReadable(timeout: timeout) }
        #expect(!ready)
        #expect(elapsed >= timeout)
    }

    @Test("read returns processed(0) after the peer closes")
    func endOfStream() throws {
        let pair = try TCPPair()
        defer { pair.closeAll() }
        try writeAll([1, 2, 3], to: pair.client)
        pair.close(pair.client)
        #expect(try pair.server.waitReadable(timeout: .seconds(5)))
        #expect(try read(10, from: pair.server) == [1, 2, 3])
        #expect(try readOnce(pair.server).processedValue == [])
        #expect(try readOnce(pair.server).processedValue == [])
    }

    @Test("shutdownWrite ends one direction and keeps the other")
    func halfClose() throws {
        let pair = try TCPPair()
        defer { pair.closeAll() }
        try writeAll([9], to: pair.client)
        pair.client.shutdownWrite()
        #expect(try read(2, from: pair.server) == [9])
        try writeAll([4, 5], to: pair.server)
        #expect(try read(2, from: pair.client) == [4, 5])
    }

    @Test("writing to a peer that closed throws EPIPE or ECONNRESET without raising SIGPIPE")
    func writeAfterPeerClosed() throws {
        let pair = try TCPPair()
        defer { pair.closeAll() }
        pair.close(pair.server)
        #expect(try pair.client.waitReadable(timeout: .seconds(5)))  // the FIN
        // The first write reaches a closed socket, whose kernel answers with RST; the next one fails.
        let error = #expect(throws: SystemError.self) {
            for _ in 0..<100 {
                _ = try [UInt8](repeating: 1, count: 100).withUnsafeBytes { try pair.client.write($0) }
                _ = try pair.client.waitReadable(timeout: .milliseconds(10))
            }
        }
        #expect(error.map { [EPIPE, ECONNRESET].contains($0.errno) } == true)
        #expect(error?.call == "send")
    }

    @Test("a full socket reports wouldBlock, and every byte arrives in order once drained")
    func backpressure() throws {
        let pair = try TCPPair()
        defer { pair.closeAll() }
        let chunk = patternBytes(251 * 256)  // whole periods of the pattern
        var written = 0
        var blocked = false
        while !blocked && written < 256 << 20 {
            let offset = written % chunk.count  // after a short write, continue the pattern where it stopped
            switch try chunk.withUnsafeBytes({ try pair.client.write(UnsafeRawBufferPointer(rebasing: $0[offset...])) })
            {
            case .processed(let count): written += count
            case .wouldBlock: blocked = true
            }
        }
        try #require(blocked, "the socket took \(written) bytes without blocking")
        let received = try read(written, from: pair.server)
        #expect(received.count == written)
        #expect(received == patternBytes(written))
    }

    // MARK: - Options

    @Test("a failing setsockopt throws naming the level and option")
    func badOption() throws {
        let pair = try TCPPair()
        defer { pair.closeAll() }
        let error = #expect(throws: SystemError.self) { try pair.client.setOption(SOL_SOCKET, 9999, 1) }
        #expect(error == SystemError(errno: ENOPROTOOPT, call: "setsockopt \(SOL_SOCKET)/9999"))
    }
}
