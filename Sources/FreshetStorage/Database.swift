// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// The handle of one named LMDB database (a key-ordered B+tree) inside an environment.

/// A named database inside an ``Environment``: an LMDB `MDB_dbi` plus its name.
///
/// Get one from ``Environment/database(named:create:)``; the environment caches handles by name, so asking twice
/// returns the same value. A handle is a plain value: it can be copied, stored and sent to any thread, and it
/// stays valid for the life of its environment, until the database is dropped with
/// ``WriteTransaction/drop(_:)``.
///
/// A handle belongs to the environment that opened it; passing it to a transaction of another environment traps.
/// After ``WriteTransaction/drop(_:)`` LMDB may reuse the handle's number for a database opened later, so a stale
/// copy would silently address that other database: drop a database only when no other code still holds its
/// handle.
public struct Database: Hashable, Sendable, CustomStringConvertible {
    /// The database's name, as given to ``Environment/database(named:create:)``.
    public let name: String
    /// The LMDB handle (`MDB_dbi`).
    let handle: UInt32
    /// The ``Environment/identifier`` of the environment that opened the handle.
    let environmentID: UInt32

    init(name: String, handle: UInt32, environmentID: UInt32) {
        self.name = name
        self.handle = handle
        self.environmentID = environmentID
    }

    public var description: String {
        "Database(\(self.name), dbi: \(self.handle))"
    }
}
