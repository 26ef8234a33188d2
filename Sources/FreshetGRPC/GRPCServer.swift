// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// The gRPC server: one epoll event loop per thread, each with its own SO_REUSEPORT listener, serving calls inline.

public import FreshetCore
internal import FreshetHTTP2
public import FreshetPosix
internal import Glibc
import Synchronization

/// Settings of a ``GRPCServer``.
public struct GRPCServerConfiguration: Sendable {
    /// Where to listen; port 0 picks a free port (see ``GRPCServer/endpoint``).
    public var endpoint: Endpoint
    /// The number of event loop threads (default: one per CPU).
    public var threads: Int
    /// The largest request or response message, in bytes (default 4 MiB). Larger requests get RESOURCE_EXHAUSTED
    /// as soon as their length prefix arrives.
    public var maxMessageBytes: Int = 4 << 20
    /// The most request bytes one connection may hold in messages that have not finished arriving, summed over
    /// its streams (default 16 MiB; never below one maximum message). Past it, the stream that brings more gets
    /// RESOURCE_EXHAUSTED.
    public var maxBufferedRequestBytesPerConnection: Int = 16 << 20
    /// The same, summed over every connection of one event loop (default 128 MiB).
    public var maxBufferedRequestBytesPerLoop: Int = 128 << 20
    /// SETTINGS announced to clients.
    public var http2 = HTTP2SettingsConfiguration()
    /// How long a graceful shutdown waits for open calls before closing connections.
    public var drainTimeout: Duration = .seconds(10)

    /// Creates a configuration.
    public init(endpoint: Endpoint, threads: Int = OSThread.availableCPUs) {
        self.endpoint = endpoint
        self.threads = max(1, threads)
    }
}

/// HTTP/2 settings a server announces (a public mirror of the HTTP/2 layer's settings).
public struct HTTP2SettingsConfiguration: Sendable {
    /// SETTINGS_MAX_CONCURRENT_STREAMS per connection.
    public var maxConcurrentStreams: UInt32 = 100
    /// SETTINGS_MAX_HEADER_LIST_SIZE.
    public var maxHeaderListSize: UInt32 = 16 << 10

    public init() {}
}

/// A gRPC server over HTTP/2 cleartext (prior knowledge).
///
/// Architecture: ``start()`` (or ``GRPCListeners/bind(_:)`` before it) binds one listening socket per loop (SO_REUSEPORT, so the kernel spreads connections)
/// and starts one thread per loop. Each loop owns its connections, their HTTP/2 sessions and a ``Router`` built on
/// that thread by the `makeRouter` closure, so handlers may keep loop-local state (an LMDB read transaction) and
/// run inline with no thread hop. Only shutdown requests cross threads, through an eventfd wakeup.
public final class GRPCServer: Sendable {
    private let configuration: GRPCServerConfiguration
    private let makeRouter: @Sendable (Int) throws -> Router
    private let prebound: GRPCListeners?
    private let logger: Logger
    private let state = Mutex(State())
    private let ready = Atomic<Int>(0)
    private let failed = Mutex<String?>(nil)
    private let stopping = Atomic<Int>(0)
    private let finishedLoops = Atomic<Int>(0)

    private struct State: Sendable {
        var listeners: [Socket] = []
        var threads: [OSThread] = []
        var wakers: [EventLoopWaker] = []
        var endpoint: Endpoint?
    }

    /// Creates a server; nothing is bound until ``start()``, unless `listeners` were bound before.
    /// - Parameters:
    ///   - listeners: sockets bound by ``GRPCListeners/bind(_:)`` for this configuration; the server owns them.
    ///   - makeRouter: builds the routes of one loop, on that loop's thread (argument: the loop index).
    public init(
        configuration: GRPCServerConfiguration, listeners: GRPCListeners? = nil, logger: Logger,
        makeRouter: @escaping @Sendable (Int) throws -> Router
    ) {
        self.configuration = configuration
        self.prebound = listeners
        self.logger = logger
        self.makeRouter = makeRouter
    }

    /// The bound address (with the real port when port 0 was asked). Valid after ``start()``.
    public var endpoint: Endpoint {
        self.state.withLock { $0.endpoint }!
    }

    /// Binds the listeners (unless they were bound before, see ``GRPCListeners``), starts the loops and returns once
    /// every loop is serving.
    /// - Throws: ``SystemError`` or ``EndpointError`` when binding fails; ``GRPCServerError`` when a loop cannot start
    ///   (for example its router factory threw).
    public func start() throws {
        let bound = try self.prebound ?? GRPCListeners.bind(self.configuration)
        let listeners = bound.sockets
        self.state.withLock {
            $0.listeners = listeners
            $0.endpoint = bound.endpoint
        }
        for (index, listener) in listeners.enumerated() {
            let thread = try OSThread(name: "freshet-loop-\(index)") { [self] in
                self.runLoop(index: index, listener: listener)
            }
            self.state.withLock { $0.threads.append(thread) }
        }
        // Wait for every loop to report (the listeners already queue connections meanwhile).
        while self.ready.load(ordering: .acquiring) < listeners.count {
            if let failure = self.failed.withLock({ $0 }) {
                self.shutdown(graceful: false)
                self.wait()
                throw GRPCServerError(message: failure)
            }
            sleepBriefly()
        }
        if let failure = self.failed.withLock({ $0 }) {
            self.shutdown(graceful: false)
            self.wait()
            throw GRPCServerError(message: failure)
        }
    }

    /// Asks every loop to stop. Graceful: stop accepting, send GOAWAY, let open calls finish (at most
    /// ``GRPCServerConfiguration/drainTimeout``), then close. Otherwise: close everything now. Safe from any thread.
    public func shutdown(graceful: Bool) {
        let level = graceful ? 1 : 2
        var current = self.stopping.load(ordering: .relaxed)
        while current < level {
            let (exchanged, original) = self.stopping.compareExchange(
                expected: current, desired: level, ordering: .acquiringAndReleasing)
            if exchanged { break }
            current = original
        }
        for waker in self.state.withLock({ $0.wakers }) {
            waker.wake()
        }
    }

    /// Whether every loop has stopped (after ``shutdown(graceful:)``, once connections are drained or closed).
    public var hasStopped: Bool {
        let loops = self.state.withLock { $0.threads.count }
        return loops > 0 && self.finishedLoops.load(ordering: .acquiring) >= loops
    }

    /// Waits until every loop thread has finished.
    public func wait() {
        let threads = self.state.withLock { $0.threads }
        for thread in threads {
            thread.join()
        }
    }

    private func runLoop(index: Int, listener: Socket) {
        let loop: ServerLoop
        do {
            let eventLoop = try EventLoop()
            let router = try self.makeRouter(index)
            loop = try ServerLoop(
                index: index, eventLoop: eventLoop, listener: listener, router: router,
                configuration: self.configuration, logger: self.logger)
            self.state.withLock { $0.wakers.append(eventLoop.waker) }
            eventLoop.onWakeup = { [unowned loop, unowned self] in
                loop.stopRequested(level: self.stopping.load(ordering: .acquiring))
            }
        } catch {
            self.failed.withLock { $0 = $0 ?? "event loop \(index) failed to start: \(error)" }
            listener.close()
            self.finishedLoops.add(1, ordering: .releasing)
            return
        }
        self.ready.add(1, ordering: .releasing)
        // A shutdown may have been asked before this loop's waker was registered.
        loop.stopRequested(level: self.stopping.load(ordering: .acquiring))
        do {
            try loop.eventLoop.run()
        } catch {
            self.logger.error("event loop failed", ["loop": "\(index)", "error": "\(error)"])
        }
        loop.closeAll()
        self.finishedLoops.add(1, ordering: .releasing)
    }
}

/// The listening sockets of a server, one per loop (SO_REUSEPORT), bound before the server exists: the address is
/// taken and connections queue until ``GRPCServer/start()``. `freshet serve` binds first, so that a start that
/// cannot get its address fails before it changes the data directory.
public struct GRPCListeners: Sendable {
    public let sockets: [Socket]
    /// The bound address (with the real port when port 0 was asked).
    public let endpoint: Endpoint

    /// Binds `configuration.threads` listeners to `configuration.endpoint`.
    /// - Throws: ``SystemError`` or ``EndpointError`` when binding fails; nothing stays bound.
    public static func bind(_ configuration: GRPCServerConfiguration) throws -> GRPCListeners {
        let first = try Socket.listen(on: configuration.endpoint, sharing: .firstOfGroup)
        var sockets = [first]
        do {
            let bound = try first.localEndpoint()
            for _ in 1..<configuration.threads {
                sockets.append(
                    try Socket.listen(on: Endpoint(host: configuration.endpoint.host, port: bound.port), sharing: .join)
                )
            }
            return GRPCListeners(
                sockets: sockets,
                endpoint: Endpoint(host: configuration.endpoint.host.isEmpty ? "0.0.0.0" : bound.host, port: bound.port)
            )
        } catch {
            sockets.forEach { $0.close() }
            throw error
        }
    }

    /// Closes the sockets (for listeners whose server never started).
    public func close() {
        self.sockets.forEach { $0.close() }
    }
}

/// A server failed to start.
public struct GRPCServerError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { self.message }
}

private func sleepBriefly() {
    var request = timespec(tv_sec: 0, tv_nsec: 1_000_000)
    _ = nanosleep(&request, nil)
}

/// The loop-local state of one server event loop: its listener, connections, router and scratch buffers.
///
/// Thread affinity: loop-confined; created and used on its loop thread only.
final class ServerLoop: Selectable {
    let index: Int
    let eventLoop: EventLoop
    let listener: Socket
    let router: Router
    let configuration: GRPCServerConfiguration
    let logger: Logger
    let http2: HTTP2Settings
    /// Shared read buffer: a connection reads into it and nghttp2 consumes it before the next read.
    let readBuffer: UnsafeMutableRawBufferPointer
    /// The most output a connection buffers before it stops reading (bounded memory per slow client).
    let maxBufferedOutput = 1 << 20
    let okHeaders = HeaderBlock([
        HTTP2Header(":status", "200"), HTTP2Header("content-type", "application/grpc"),
        HTTP2Header("grpc-accept-encoding", "identity"),
    ])
    let okTrailers = HeaderBlock([HTTP2Header("grpc-status", "0")])
    private var connections: [Int32: ServerConnection] = [:]
    private var dirty: [ServerConnection] = []
    /// Request bytes held by this loop's connections in unfinished messages.
    var bufferedRequestBytes = 0
    /// The limits on those bytes, per connection and for the loop (at least one maximum message each).
    let maxBufferedRequestBytesPerConnection: Int
    let maxBufferedRequestBytesPerLoop: Int
    private var listening = true
    private var draining = false
    private var acceptWarnings = LogThrottle()

    init(
        index: Int, eventLoop: EventLoop, listener: Socket, router: Router, configuration: GRPCServerConfiguration,
        logger: Logger
    ) throws {
        self.index = index
        self.eventLoop = eventLoop
        self.listener = listener
        self.router = router
        self.configuration = configuration
        self.logger = logger
        var http2 = HTTP2Settings()
        http2.maxConcurrentStreams = configuration.http2.maxConcurrentStreams
        http2.maxHeaderListSize = configuration.http2.maxHeaderListSize
        // Streaming calls (replication) hand received bytes back to flow control only once they are taken.
        http2.manualFlowControl = true
        self.http2 = http2
        let oneMessage = configuration.maxMessageBytes + 5
        self.maxBufferedRequestBytesPerConnection = max(configuration.maxBufferedRequestBytesPerConnection, oneMessage)
        self.maxBufferedRequestBytesPerLoop = max(
            configuration.maxBufferedRequestBytesPerLoop, self.maxBufferedRequestBytesPerConnection)
        self.readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)
        try eventLoop.register(listener.descriptor, interest: .readable, handler: self)
        eventLoop.beforeSleep = { [unowned self] in self.flushDirty() }
    }

    deinit {
        self.readBuffer.deallocate()
    }

    // MARK: - Accepting

    func handle(_ readiness: Readiness) {
        guard self.listening else { return }
        for _ in 0..<64 {
            let accepted: IOResult<Socket>
            do {
                accepted = try self.listener.accept()
            } catch {
                // EMFILE/ENFILE: out of descriptors. Pause accepting briefly instead of spinning on the listener, and
                // say so at most every 10 s (with how often it happened), not every 100 ms.
                let admitted = self.acceptWarnings.admit()
                if admitted.log {
                    self.logger.warning(
                        "accept failed; pausing accepts for 100 ms at a time",
                        ["error": "\(error)", "failures_not_logged": String(admitted.held)])
                }
                self.pauseAccepting(for: .milliseconds(100))
                return
            }
            guard case .processed(let socket) = accepted else { return }
            do {
                let connection = try ServerConnection(socket: socket, loop: self)
                try self.eventLoop.register(socket.descriptor, interest: .readable, handler: connection)
                self.connections[socket.descriptor] = connection
                // Send our SETTINGS right away.
                self.markDirty(connection)
            } catch {
                self.logger.warning("cannot set up connection", ["error": "\(error)"])
                socket.close()
            }
        }
    }

    private func pauseAccepting(for pause: Duration) {
        self.eventLoop.deregister(self.listener.descriptor)
        self.eventLoop.schedule(at: .now + pause) { [weak self] in
            guard let self, self.listening else { return }
            try? self.eventLoop.register(self.listener.descriptor, interest: .readable, handler: self)
        }
    }

    // MARK: - Connections

    func markDirty(_ connection: ServerConnection) {
        if !connection.isDirty && !connection.isClosed {
            connection.isDirty = true
            self.dirty.append(connection)
        }
    }

    func connectionClosed(_ connection: ServerConnection) {
        self.connections[connection.socket.descriptor] = nil
        if self.draining && self.connections.isEmpty {
            self.eventLoop.stop()
        }
    }

    /// How long answers may wait for the end of the loop turn before they are flushed anyway.
    static let flushBudget: Duration = .microseconds(200)
    private var lastFlush = ContinuousClock.now

    /// Flushes every dirty connection when the last flush was more than ``flushBudget`` ago. Called between slices
    /// of input, outside nghttp2 callbacks: one write per connection per turn keeps syscalls few under load, and
    /// this bound keeps a long turn (many large requests) from holding answers back.
    func flushIfDue() {
        if ContinuousClock.now - self.lastFlush >= Self.flushBudget {
            self.flushDirty()
        }
    }

    private func flushDirty() {
        self.lastFlush = ContinuousClock.now
        while !self.dirty.isEmpty {
            let batch = self.dirty
            self.dirty.removeAll(keepingCapacity: true)
            for connection in batch {
                connection.isDirty = false
                connection.flush()
            }
        }
    }

    // MARK: - Shutdown

    /// Handles a wakeup from ``GRPCServer/shutdown(graceful:)``: level 1 drains, level 2 closes at once.
    func stopRequested(level: Int) {
        guard level > 0 else { return }
        if self.listening {
            self.listening = false
            self.eventLoop.deregister(self.listener.descriptor)
            self.listener.close()
        }
        if level >= 2 {
            self.closeAll()
            self.eventLoop.stop()
            return
        }
        guard !self.draining else { return }
        self.draining = true
        if self.connections.isEmpty {
            self.eventLoop.stop()
            return
        }
        for connection in self.connections.values {
            connection.goAway()
        }
        self.eventLoop.schedule(at: .now + self.configuration.drainTimeout) { [weak self] in
            guard let self else { return }
            if !self.connections.isEmpty {
                self.logger.warning(
                    "drain timeout passed; closing connections with calls still open",
                    ["connections": "\(self.connections.count)"])
            }
            self.closeAll()
            self.eventLoop.stop()
        }
    }

    /// Closes every connection now.
    func closeAll() {
        for connection in Array(self.connections.values) {
            connection.flush()
            connection.close()
        }
        if self.listening {
            self.listening = false
            self.eventLoop.deregister(self.listener.descriptor)
            self.listener.close()
        }
    }
}
