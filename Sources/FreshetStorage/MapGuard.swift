// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Keeps the memory map still while transactions use it, and adopts a map that another process has grown.

internal import CLMDB
internal import Glibc

/// A process-wide reader/writer lock over an environment's memory map.
///
/// **Why.** `mdb_env_set_mapsize` remaps the file, so it may only run while no transaction of this process is
/// active (lmdb.h: "the caller must ensure it explicitly"). Every transaction therefore runs holding the guard
/// *shared*, and resizing takes it *exclusively*. Shared holds cost two uncontended atomic operations.
///
/// **Map grown elsewhere.** When another process (a `freshet load` with a larger `--map-size`) grows the map past
/// this process's size, `mdb_txn_begin`/`mdb_txn_renew` return `MDB_MAP_RESIZED` until this process adopts the new
/// size with `mdb_env_set_mapsize(env, 0)`. ``Environment`` does that automatically, under the exclusive hold, and
/// retries once; without it every later transaction would fail.
///
/// Thread safety: safe from any thread (a `pthread_rwlock_t` at a fixed heap address).
final class MapGuard: @unchecked Sendable {
    // @unchecked: the lock itself is the synchronisation; it lives at a stable address for the object's life.
    private let lock: UnsafeMutablePointer<pthread_rwlock_t>

    init() {
        self.lock = UnsafeMutablePointer<pthread_rwlock_t>.allocate(capacity: 1)
        self.lock.initialize(to: pthread_rwlock_t())
        let rc = pthread_rwlock_init(self.lock, nil)
        precondition(rc == 0, "pthread_rwlock_init failed: \(rc)")
    }

    deinit {
        pthread_rwlock_destroy(self.lock)
        self.lock.deallocate()
    }

    func lockShared() {
        let rc = pthread_rwlock_rdlock(self.lock)
        precondition(rc == 0, "pthread_rwlock_rdlock failed: \(rc)")
    }

    func lockExclusive() {
        let rc = pthread_rwlock_wrlock(self.lock)
        precondition(rc == 0, "pthread_rwlock_wrlock failed: \(rc) (a resize while holding the map shared?)")
    }

    func unlock() {
        pthread_rwlock_unlock(self.lock)
    }
}

extension Environment {
    /// Starts a transaction with `start` (`mdb_txn_begin` or `mdb_txn_renew`) while holding the map shared, runs
    /// `body` under the same hold, and releases it. On `MDB_MAP_RESIZED` it adopts the size another process set
    /// and starts again, once.
    ///
    /// - Throws: ``StorageError`` naming `operation` when `start` fails; whatever `body` throws.
    func withMapShared<R>(start: () -> Int32, operation: @autoclosure () -> String, _ body: () throws -> R) throws -> R
    {
        var adopted = false
        while true {
            self.mapGuard.lockShared()
            let rc = start()
            if rc == MDB_MAP_RESIZED && !adopted {
                self.mapGuard.unlock()
                try self.adoptGrownMap()
                adopted = true
                continue
            }
            defer { self.mapGuard.unlock() }
            try StorageError.check(rc, operation())
            return try body()
        }
    }

    /// Takes the size another process gave the map (`mdb_env_set_mapsize(env, 0)`), holding the map exclusively.
    func adoptGrownMap() throws(StorageError) {
        self.mapGuard.lockExclusive()
        defer { self.mapGuard.unlock() }
        try StorageError.check(mdb_env_set_mapsize(self.handle, 0), "mdb_env_set_mapsize(\(self.path), adopt)")
    }
}
