// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Shared helpers for the FreshetPosix tests: loopback socket pairs, temporary directories and a loop thread.

import Dispatch
import FreshetPosix
import Glibc
import Synchronization
import Testing

/// A value shared between the test thread and a loop thread, guarded by a `Mutex`.
final class Shared<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) {
        self.mutex = Mutex(value)
    }

    var value: Value { self.mutex.withLock { $0 } }

    func update(_ body: (inout Value) -> Void) {
        self.mutex.withLock { body(&$0) }
    }
}

extension Shared where Value == [String] {
    func append(_ entry: String) {
        self.update { $0.append(entry) }
    }
}

extension IOResult {
    /// The processed value, or `nil` for `.wouldBlock`.
    var processedValue: Value? {
        if case .processed(let value) = self { return value }
        return nil
    }

    var isWouldBlock: Bool {
        if case .wouldBlock = self { return true }
        return false
    }
}

/// The bytes `0, 1, 2, …` wrapped at 251 (a prime, so chunk boundaries do not line up with the pattern).
func patternBytes(_ count: Int) -> [UInt8] {
    (0..<count).map { UInt8($0 % 251) }
}

// MARK: - Sockets

/// A connected TCP pair over loopback: the listener, the connecting side and the accepted side.
/// Close it with ``closeAll()`` in a `defer`; sockets closed earlier go through ``close(_:)`` so none closes twice
/// (a double close would trap on EBADF, or worse, close a descriptor another test just opened).
final class TCPPair {
    let listener: Socket
    let client: Socket
    let server: Socket
    private var closed: Set<Int32> = []

    init(host: String = "127.0.0.1") throws {
        self.listener = try Socket.listen(on: Endpoint(host: host, port: 0), sharing: .exclusive)
        do {
            self.client = try Socket.connect(to: self.listener.localEndpoint(), timeout: .seconds(5))
        } catch {
            self.listener.close()
            throw error
        }
        guard try self.listener.waitReadable(timeout: .seconds(5)),
            let server = try self.listener.accept().processedValue
        else {
            self.listener.close()
            self.client.close()
            throw SystemError(errno: ETIMEDOUT, call: "test accept")
        }
        self.server = server
    }

    func close(_ socket: Socket) {
        if self.closed.insert(socket.descriptor).inserted {
            socket.close()
        }
    }

    func closeAll() {
        for socket in [self.server, self.client, self.listener] {
            self.close(socket)
        }
    }
}

/// Writes all of `bytes`, waiting for the socket to take more when it is full.
func writeAll(_ bytes: [UInt8], to socket: Socket) throws {
    var offset = 0
    while offset < bytes.count {
        let result = try bytes.withUnsafeBytes { try socket.write(UnsafeRawBufferPointer(rebasing: $0[offset...])) }
        switch result {
        case .processed(let count): offset += count
        case .wouldBlock: try #require(try socket.waitWritable(timeout: .seconds(5)))
        }
    }
}

/// Reads until `count` bytes arrived or the peer closed.
func read(_ count: Int, from socket: Socket) throws -> [UInt8] {
    var received: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while received.count < count {
        let result = try chunk.withUnsafeMutableBytes { buffer in
            try socket.read(
                into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<min(buffer.count, count - received.count)]))
        }
        switch result {
        case .processed(0): return received
        case .processed(let n): received += chunk[..<n]
        case .wouldBlock: try #require(try socket.waitReadable(timeout: .seconds(5)))
        }
    }
    return received
}

/// Reads once from a socket into a fresh buffer.
func readOnce(_ socket: Socket, capacity: Int = 4096) throws -> IOResult<[UInt8]> {
    var buffer = [UInt8](repeating: 0, count: capacity)
    let result = try buffer.withUnsafeMutableBytes { try socket.read(into: $0) }
    switch result {
    case .processed(let count): return .processed(Array(buffer[..<count]))
    case .wouldBlock: return .wouldBlock
    }
}

/// A port that nothing listens on: bound once by the kernel's choice, then closed.
func closedPort() throws -> UInt16 {
    let listener = try Socket.listen(on: Endpoint(host: "127.0.0.1", port: 0), sharing: .exclusive)
    defer { listener.close() }
    return try listener.localEndpoint().port
}

// MARK: - Files

/// A fresh directory under `/tmp`. Call ``remove()`` (in a `defer`) when done.
final class TemporaryDirectory: Sendable {
    let path: String

    init() throws {
        var template = Array("/tmp/freshet-posix-XXXXXX".utf8CString)
        guard mkdtemp(&template) != nil else {
            throw SystemError(errno: errno, call: "mkdtemp")
        }
        self.path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// A path inside the directory.
    func file(_ name: String) -> String {
        self.path + "/" + name
    }

    /// Writes `bytes` to a new file in the directory and returns its path.
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let path = self.file(name)
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw SystemError(errno: errno, call: "open \(path)") }
        defer { close(fd) }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            guard written > 0 else { throw SystemError(errno: errno, call: "write \(path)") }
            offset += written
        }
        return path
    }

    /// Removes the directory and the plain files and empty directories directly inside it.
    func remove() {
        if let directory = opendir(self.path) {
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
                }
                if name != "." && name != ".." {
                    let path = self.file(name)
                    if unlink(path) != 0 { rmdir(path) }
                }
            }
            closedir(directory)
        }
        rmdir(self.path)
    }
}

// MARK: - Event loop thread

/// Runs an ``EventLoop`` on its own ``OSThread``, created there because every loop member but the waker
/// preconditions its owner thread.
///
/// `setup` runs on the loop thread before `run()`. A guard timer stops the loop after `limit`, so that a broken test
/// fails instead of hanging; ``join()`` reports it.
final class LoopThread: Sendable {
    /// The loop's waker, for the test thread.
    let waker: EventLoopWaker
    private let thread: OSThread
    private let failure: Shared<String?>

    init(limit: Duration = .seconds(5), _ setup: @escaping @Sendable (EventLoop) throws -> Void) throws {
        let ready = DispatchSemaphore(value: 0)
        let waker = Shared<EventLoopWaker?>(nil)
        let failure = Shared<String?>(nil)
        self.thread = try OSThread(name: "test-loop") {
            do {
                let loop = try EventLoop()
                loop.schedule(at: .now + limit) { [unowned loop] in
                    failure.update { $0 = "the loop was still running after \(limit)" }
                    loop.stop()
                }
                try setup(loop)
                waker.update { $0 = loop.waker }
                ready.signal()
                try loop.run()
            } catch {
                failure.update { $0 = "\(error)" }
                ready.signal()
            }
        }
        ready.wait()
        self.failure = failure
        guard let handle = waker.value else {
            self.thread.join()
            throw LoopThreadError(message: failure.value ?? "no waker")
        }
        self.waker = handle
    }

    /// Waits for `run()` to return; throws when the guard timer stopped the loop or the loop failed.
    func join() throws {
        self.thread.join()
        if let message = self.failure.value {
            throw LoopThreadError(message: message)
        }
    }
}

struct LoopThreadError: Error, CustomStringConvertible {
    var message: String
    var description: String { self.message }
}

/// A ``Selectable`` that forwards readiness to a closure.
final class ClosureHandler: Selectable {
    private let body: (Readiness) -> Void

    init(_ body: @escaping (Readiness) -> Void) {
        self.body = body
    }

    func handle(_ readiness: Readiness) {
        self.body(readiness)
    }
}

extension Readiness {
    /// `readable|hangup`, for messages.
    var names: [String] {
        var names: [String] = []
        if self.contains(.readable) { names.append("readable") }
        if self.contains(.writable) { names.append("writable") }
        if !self.intersection(.hangup).isEmpty { names.append("hangup") }
        return names
    }
}
