// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Shared helpers for the replication tests: temporary directories, a locked box and a bounded wait.

import Foundation
import Synchronization

/// A fresh directory under the system temporary directory. Call ``remove()`` (in a `defer`) when done.
final class TemporaryDirectory: Sendable {
    let path: String

    init() throws {
        let template = FileManager.default.temporaryDirectory.appendingPathComponent("freshet-replication-XXXXXX")
            .path
        var buffer = Array(template.utf8CString)
        guard mkdtemp(&buffer) != nil else {
            throw CocoaError(.fileWriteUnknown, userInfo: ["errno": errno])
        }
        self.path = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: self.path)
    }
}

/// A value shared with the writer thread's callbacks.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) {
        self.mutex = Mutex(value)
    }

    func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R {
        self.mutex.withLock { body(&$0) }
    }

    var value: Value { self.mutex.withLock { $0 } }
}

/// Polls `condition` every millisecond until it holds or `timeout` passes; returns whether it held. The timeout is
/// generous: it only bounds how long a broken writer can hang a test.
func waitUntil(timeout: Duration = .seconds(60), _ condition: () -> Bool) -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while !condition() {
        if clock.now >= deadline { return false }
        usleep(1000)
    }
    return true
}
