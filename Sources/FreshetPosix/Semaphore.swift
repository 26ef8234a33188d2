// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// A counting semaphore (POSIX `sem_t`), for a thread that sleeps until other threads hand it work.

internal import Glibc

/// A POSIX counting semaphore.
///
/// `@unchecked Sendable`: `sem_post`/`sem_wait` are thread-safe by contract (POSIX), and the `sem_t` lives at a
/// fixed heap address for the object's whole life, which is what the C API needs.
public final class Semaphore: @unchecked Sendable {
    private let handle: UnsafeMutablePointer<sem_t>

    /// Creates a semaphore with a count of `value`.
    public init(value: UInt32 = 0) {
        self.handle = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
        sem_init(self.handle, 0, value)
    }

    deinit {
        sem_destroy(self.handle)
        self.handle.deallocate()
    }

    /// Adds one to the count, waking one waiter. Safe from any thread.
    public func signal() {
        sem_post(self.handle)
    }

    /// Waits until the count is above zero, then takes one (retries on EINTR).
    public func wait() {
        while sem_wait(self.handle) != 0 && errno == EINTR {}
    }
}
