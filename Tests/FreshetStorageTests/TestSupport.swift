// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Shared helpers for the storage tests: temporary directories, byte encodings and a loop-like reader thread.

import Foundation
import FreshetStorage
import Synchronization

/// Options for test environments: a small map and no fsync, so tests are fast; durability is not under test.
let testOptions = Environment.Options(mapSize: 64 << 20, sync: .noSync)

/// A fresh directory under the system temporary directory. Call ``remove()`` (in a `defer`) when done.
final class TemporaryDirectory: Sendable {
    let path: String

    init() throws {
        let template = FileManager.default.temporaryDirectory.appendingPathComponent("freshet-storage-XXXXXX").path
        var buffer = Array(template.utf8CString)
        guard mkdtemp(&buffer) != nil else {
            throw CocoaError(.fileWriteUnknown, userInfo: ["errno": errno])
        }
        self.path = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// A path inside the directory.
    func file(_ name: String) -> String {
        self.path + "/" + name
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: self.path)
    }
}

/// The UTF-8 bytes of `text`.
func bytes(_ text: String) -> [UInt8] {
    Array(text.utf8)
}

/// `value` as 8 big-endian bytes, so that LMDB's bytewise key order is numeric order.
func encode(_ value: UInt64) -> [UInt8] {
    withUnsafeBytes(of: value.bigEndian) { Array($0) }
}

/// The inverse of ``encode(_:)``.
func decode(_ buffer: UnsafeRawBufferPointer?) -> UInt64? {
    guard let buffer, buffer.count == 8 else {
        return nil
    }
    return UInt64(bigEndian: buffer.loadUnaligned(as: UInt64.self))
}

/// The inverse of ``encode(_:)``, for a copied value.
func decode(_ value: [UInt8]?) -> UInt64? {
    value?.withUnsafeBytes { decode($0) } ?? nil
}

/// Every entry of `database`, copied out, in key order.
func entries(_ database: Database, in environment: Environment) throws -> [[UInt8]: [UInt8]] {
    try environment.read { txn in
        var result: [[UInt8]: [UInt8]] = [:]
        try txn.forEach(database) { key, value in
            result[Array(key)] = Array(value)
            return true
        }
        return result
    }
}

/// A dedicated thread that owns one ``Reader``, standing in for an event-loop thread. Work is posted to it and the
/// result comes back through a continuation: the way the server bridges Swift Concurrency to its loops, and what
/// lets an async test keep a `Reader` alive across `await`s on the one thread that may use it.
final class ReaderThread: Sendable {
    private let environment: Environment
    private let jobs = Mutex<[@Sendable (Reader) -> Void]>([])
    private let wakeup = DispatchSemaphore(value: 0)
    private let started = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let startError = Mutex<StorageError?>(nil)

    /// Starts the thread and makes its reader there.
    init(environment: Environment) throws {
        self.environment = environment
        let thread = Thread { [self] in self.main() }
        thread.start()
        self.started.wait()
        if let error = self.startError.withLock({ $0 }) {
            throw error
        }
    }

    /// Runs `body` with the thread's reader, on that thread.
    func run<T: Sendable>(_ body: @escaping @Sendable (Reader) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            self.jobs.withLock {
                $0.append { reader in continuation.resume(with: Result { try body(reader) }) }
            }
            self.wakeup.signal()
        }
    }

    /// Stops the thread after the jobs already posted, and waits for it (its reader is released there).
    func stop() {
        self.wakeup.signal()
        self.finished.wait()
    }

    private func main() {
        defer { self.finished.signal() }
        let reader: Reader
        do {
            reader = try self.environment.makeReader()
        } catch {
            self.startError.withLock { $0 = error }
            self.started.signal()
            return
        }
        self.started.signal()
        while true {
            self.wakeup.wait()
            // One job per wakeup; a wakeup with no job is the stop signal.
            guard let job = self.jobs.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) else {
                return
            }
            job(reader)
        }
    }
}

/// Carries a non-Sendable value to another thread. Only for crash tests that break confinement on purpose.
final class UncheckedSendableBox<Value>: @unchecked Sendable {
    let value: Value

    init(_ value: Value) {
        self.value = value
    }
}
