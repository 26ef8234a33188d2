// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Non-blocking TCP sockets: listeners (one per event loop, SO_REUSEPORT), accepted and connected streams.

internal import CFreshetLinux
internal import Glibc

/// A file descriptor of a TCP socket. It does not close itself: its owner calls ``close()`` exactly once.
///
/// A `Socket` is a plain value (the descriptor number) and is `Sendable` so that a listener created on the main
/// thread can be handed to its event loop; after that, only the owning loop uses it.
public struct Socket: Hashable, Sendable {
    /// The descriptor.
    public let descriptor: Int32

    /// Wraps a descriptor that the caller owns.
    public init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    // MARK: - Creating

    /// How a listening socket shares its port.
    public enum PortSharing: Sendable {
        /// The port is this socket's alone.
        case exclusive
        /// The first socket of a group: it binds exclusively (so binding fails with EADDRINUSE when anyone else
        /// holds the port, including another server using SO_REUSEPORT), then turns SO_REUSEPORT on so that this
        /// process's further listeners can ``join`` it.
        case firstOfGroup
        /// A further socket of a group started with ``firstOfGroup`` on the same port (SO_REUSEPORT before bind):
        /// the kernel spreads incoming connections across the group.
        case join
    }

    /// Creates a non-blocking listening socket bound to `endpoint`.
    ///
    /// - Parameters:
    ///   - endpoint: where to listen; port 0 picks a free port (read it back with ``localEndpoint()``).
    ///   - sharing: whether and how the port is shared between listeners (one per event loop).
    ///   - backlog: the accept queue length.
    /// - Throws: ``EndpointError`` when the host does not resolve, ``SystemError`` when bind or listen fail
    ///   (EADDRINUSE when the port is taken).
    public static func listen(on endpoint: Endpoint, sharing: PortSharing, backlog: Int32 = 1024) throws -> Socket {
        try Self.firstWorking(of: SocketAddress.resolve(endpoint, passive: true), call: "listen \(endpoint)") {
            socket, address throws(SystemError) in
            try socket.setOption(SOL_SOCKET, SO_REUSEADDR, 1)
            if case .join = sharing {
                try socket.setOption(SOL_SOCKET, SO_REUSEPORT, 1)
            }
            var storage = address.storage
            try Syscall.must("bind \(endpoint)") {
                withUnsafePointer(to: &storage) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        Int(Glibc.bind(socket.descriptor, $0, address.length))
                    }
                }
            }
            if case .firstOfGroup = sharing {
                // After an exclusive bind: later SO_REUSEPORT binds of this process may join the group.
                try socket.setOption(SOL_SOCKET, SO_REUSEPORT, 1)
            }
            try Syscall.must("listen \(endpoint)") { Int(Glibc.listen(socket.descriptor, backlog)) }
        }
    }

    /// Connects to `endpoint`, blocking until connected or `timeout` passes, and returns a non-blocking socket with
    /// TCP_NODELAY set.
    /// - Throws: ``EndpointError`` when the host does not resolve; ``SystemError`` (ECONNREFUSED, ETIMEDOUT, …).
    public static func connect(to endpoint: Endpoint, timeout: Duration = .seconds(10)) throws -> Socket {
        try Self.firstWorking(of: SocketAddress.resolve(endpoint, passive: false), call: "connect \(endpoint)") {
            socket, address throws(SystemError) in
            var storage = address.storage
            let started = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.connect(socket.descriptor, $0, address.length)
                }
            }
            if started != 0 {
                let code = CFreshetLinux_errno()
                guard code == EINPROGRESS else { throw SystemError(errno: code, call: "connect \(endpoint)") }
                guard try socket.poll(events: Int16(POLLOUT), timeout: timeout) else {
                    throw SystemError(errno: ETIMEDOUT, call: "connect \(endpoint)")
                }
                let pending = try socket.intOption(SOL_SOCKET, SO_ERROR)
                if pending != 0 { throw SystemError(errno: pending, call: "connect \(endpoint)") }
            }
            try socket.setOption(Int32(IPPROTO_TCP), TCP_NODELAY, 1)
        }
    }

    /// Tries each resolved address in turn: makes a non-blocking socket and runs `setUp` on it; returns the first
    /// socket set up without error, closing the others. Throws the last error when none works.
    private static func firstWorking(
        of addresses: [SocketAddress], call: String, _ setUp: (Socket, SocketAddress) throws(SystemError) -> Void
    ) throws(SystemError) -> Socket {
        var lastError: SystemError?
        for address in addresses {
            let fd = CFreshetLinux_socket_stream(address.family)
            guard fd >= 0 else {
                lastError = SystemError(errno: CFreshetLinux_errno(), call: "socket")
                continue
            }
            let socket = Socket(descriptor: fd)
            do throws(SystemError) {
                try setUp(socket, address)
                return socket
            } catch {
                socket.close()
                lastError = error
            }
        }
        throw lastError ?? SystemError(errno: EADDRNOTAVAIL, call: call)
    }

    // MARK: - Using

    /// Accepts one pending connection as a non-blocking socket with TCP_NODELAY, or `.wouldBlock`.
    /// - Throws: ``SystemError``; EMFILE/ENFILE mean the process is out of descriptors.
    public func accept() throws(SystemError) -> IOResult<Socket> {
        let result = try Syscall.run("accept4", blocking: false) { Int(CFreshetLinux_accept4(self.descriptor)) }
        guard case .processed(let fd) = result else { return .wouldBlock }
        let socket = Socket(descriptor: Int32(fd))
        _ = CFreshetLinux_set_int_option(socket.descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
        return .processed(socket)
    }

    /// Reads up to `buffer.count` bytes. `.processed(0)` means the peer closed its side.
    /// - Throws: ``SystemError`` (ECONNRESET, …).
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        try Syscall.run("read", blocking: false) { Glibc.read(self.descriptor, buffer.baseAddress, buffer.count) }
    }

    /// Writes as much of `bytes` as the socket takes now, without raising SIGPIPE.
    /// - Throws: ``SystemError`` (EPIPE, ECONNRESET, …).
    public func write(_ bytes: UnsafeRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        try Syscall.run("send", blocking: false) {
            Glibc.send(self.descriptor, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL))
        }
    }

    /// Waits until the socket is ready for `events` (POLLIN/POLLOUT) or `timeout` passes; returns whether it is ready.
    func poll(events: Int16, timeout: Duration?) throws(SystemError) -> Bool {
        var entry = pollfd(fd: self.descriptor, events: events, revents: 0)
        let milliseconds: Int32
        if let timeout {
            // Round up, so that a wait is never shorter than asked (a sub-millisecond wait must not become 0).
            let (seconds, attoseconds) = timeout.components
            let total = max(0, seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
            milliseconds = Int32(clamping: total)
        } else {
            milliseconds = -1
        }
        let ready = try Syscall.must("poll") { Int(Glibc.poll(&entry, 1, milliseconds)) }
        return ready > 0
    }

    /// Waits until the socket has input (or the peer closed) or `timeout` passes; returns whether it is readable.
    public func waitReadable(timeout: Duration?) throws(SystemError) -> Bool {
        try self.poll(events: Int16(POLLIN), timeout: timeout)
    }

    /// Waits until the socket takes output or `timeout` passes; returns whether it is writable.
    public func waitWritable(timeout: Duration?) throws(SystemError) -> Bool {
        try self.poll(events: Int16(POLLOUT), timeout: timeout)
    }

    /// Shuts down the write side (sends FIN) after the last bytes.
    public func shutdownWrite() {
        _ = Glibc.shutdown(self.descriptor, Int32(SHUT_WR))
    }

    /// Closes the descriptor. Call exactly once.
    public func close() {
        _ = Glibc.close(self.descriptor)
    }

    /// The address the socket is bound to (after `listen`, it carries the real port when port 0 was asked).
    public func localEndpoint() throws(SystemError) -> Endpoint {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        try Syscall.must("getsockname") {
            withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Int(getsockname(self.descriptor, $0, &length)) }
            }
        }
        return SocketAddress(storage: storage, length: length).endpoint
    }

    /// The address of the peer, or `nil` when it is gone.
    public func peerEndpoint() -> Endpoint? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let status = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(self.descriptor, $0, &length) }
        }
        return status == 0 ? SocketAddress(storage: storage, length: length).endpoint : nil
    }

    /// Sets an integer socket option.
    public func setOption(_ level: Int32, _ name: Int32, _ value: Int32) throws(SystemError) {
        try Syscall.must("setsockopt \(level)/\(name)") {
            Int(CFreshetLinux_set_int_option(self.descriptor, level, name, value))
        }
    }

    private func intOption(_ level: Int32, _ name: Int32) throws(SystemError) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        try Syscall.must("getsockopt") { Int(getsockopt(self.descriptor, level, name, &value, &length)) }
        return value
    }
}
