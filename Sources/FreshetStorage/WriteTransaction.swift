// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// The read-write LMDB transaction lent to Environment.write: puts, reserved puts, deletes, clear and drop.

internal import CLMDB

/// A read-write transaction, lent to the closure of ``Environment/write(_:)``.
///
/// LMDB allows one write transaction at a time per environment, across all processes; ``Environment/write(_:)``
/// blocks until it gets it, commits when the closure returns and aborts when it throws. Reads inside a write
/// transaction see its own uncommitted changes; other transactions see them only after the commit.
///
/// **Lifetime of returned memory.** As in ``ReadTransaction``, values returned by
/// ``get(_:key:)-(_,UnsafeRawBufferPointer)`` and ``forEach(_:from:_:)`` point into the map. Here they are valid only
/// until the next update in this transaction (put, delete, clear, drop) or its end, whichever comes first
/// (lmdb.h, `mdb_get`).
///
/// **Threads.** Confined to the thread running the closure. Never block on anything slow inside it: every other
/// writer waits. Calling ``Environment/write(_:)`` or ``Environment/database(named:create:)`` for a new name from
/// inside the closure would deadlock on LMDB's writer lock, so it traps instead.
///
/// **Errors poison.** After LMDB reports an error for a put or delete (`MDB_MAP_FULL`, `MDB_TXN_FULL`, ...) the
/// transaction must be aborted: let the error propagate out of the closure. Later calls fail with
/// ``StorageError/Code/badTransaction``, and so does the commit.
public struct WriteTransaction: ~Copyable {
    let core: TransactionCore
    let environment: Environment
    /// Set when a ``putReserved(_:key:count:fill:)-(_,UnsafeRawBufferPointer,_,_)`` fill closure threw: the reserved
    /// bytes are garbage, so the transaction must not commit. Points at a local of ``Environment/write(_:)``, which
    /// outlives this value.
    let poisoned: UnsafeMutablePointer<Bool>

    init(core: TransactionCore, environment: Environment, poisoned: UnsafeMutablePointer<Bool>) {
        self.core = core
        self.environment = environment
        self.poisoned = poisoned
    }

    // MARK: - Reads (as ReadTransaction)

    /// Looks up `key` without copying; sees this transaction's own uncommitted writes.
    ///
    /// - Returns: The value, or `nil` when absent. The buffer is owned by LMDB and **valid only until the next
    ///   update in this transaction or its end**.
    /// - Throws: As ``ReadTransaction/get(_:key:)-(_,UnsafeRawBufferPointer)``.
    public func get(_ database: Database, key: UnsafeRawBufferPointer) throws(StorageError) -> UnsafeRawBufferPointer? {
        try self.core.get(database, key: key)
    }

    /// Looks up `key` and copies the value out; sees this transaction's own uncommitted writes.
    ///
    /// - Returns: A copy of the value, or `nil` when absent.
    /// - Throws: As ``ReadTransaction/get(_:key:)-(_,UnsafeRawBufferPointer)``.
    public func get(_ database: Database, key: [UInt8]) throws(StorageError) -> [UInt8]? {
        try key.withUnsafeStorageBytes { (key) throws(StorageError) -> [UInt8]? in
            try self.core.get(database, key: key).map { Array($0) }
        }
    }

    /// Calls `body` for each entry of `database` in key order, from the first key `>= startKey`.
    ///
    /// `body` must not modify `database` (collect the keys, then update after the walk): an update invalidates the
    /// pointers handed to `body`.
    ///
    /// - Throws: As ``ReadTransaction/forEach(_:from:_:)``.
    public func forEach(
        _ database: Database,
        from startKey: [UInt8] = [],
        _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> Bool
    ) throws {
        try self.core.forEach(database, from: startKey, body)
    }

    /// The number of entries in `database`, including this transaction's changes.
    ///
    /// - Throws: As ``ReadTransaction/count(_:)``.
    public func count(_ database: Database) throws(StorageError) -> Int {
        try self.core.statistics(database).entries
    }

    /// The B+tree statistics of `database`, including this transaction's changes.
    ///
    /// - Throws: As ``ReadTransaction/count(_:)``.
    public func statistics(_ database: Database) throws(StorageError) -> DatabaseStatistics {
        try self.core.statistics(database)
    }

    /// The ID this transaction will have once committed (the last committed ID plus one).
    public var id: Int {
        mdb_txn_id(self.core.txn)
    }

    // MARK: - Writes

    /// Stores `value` under `key`, replacing any previous value. Both buffers are copied into the map during the
    /// call and may be reused as soon as it returns.
    ///
    /// - Throws: ``StorageError`` with ``StorageError/Code/keyTooLarge`` / ``StorageError/Code/badValueSize``
    ///   (empty key) before LMDB is called; ``StorageError/Code/mapFull`` when the map is full;
    ///   ``StorageError/Code/txnFull`` when this transaction has too many dirty pages;
    ///   ``StorageError/Code/permissionDenied`` in a read-only environment; ``StorageError/Code/badTransaction``
    ///   after an earlier failure in this transaction. After any of these except the key checks, let the error
    ///   propagate so the transaction aborts.
    public func put(
        _ database: Database, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer
    ) throws(StorageError) {
        try self.checkUsable("mdb_put")
        self.core.checkOwnership(of: database)
        try self.core.checkKey(key, "mdb_put")
        var keyValue = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var dataValue = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        try StorageError.check(
            mdb_put(self.core.txn, database.handle, &keyValue, &dataValue, 0), "mdb_put(\(database.name))")
    }

    /// Stores `value` under `key`, replacing any previous value.
    ///
    /// - Throws: As ``put(_:key:value:)-(_,UnsafeRawBufferPointer,_)``.
    public func put(_ database: Database, key: [UInt8], value: [UInt8]) throws(StorageError) {
        try key.withUnsafeStorageBytes { (key) throws(StorageError) in
            try value.withUnsafeStorageBytes { (value) throws(StorageError) in
                try self.put(database, key: key, value: value)
            }
        }
    }

    /// Reserves `count` bytes for the value under `key` (`MDB_RESERVE`) and lets `fill` write them directly into the
    /// map, saving the copy that ``put(_:key:value:)-(_,UnsafeRawBufferPointer,_)`` makes.
    ///
    /// `fill` must write all `count` bytes: the reserved space holds garbage until it does. The buffer is valid only
    /// during `fill`; do not keep it. If `fill` throws, the error propagates and the transaction is poisoned: it will
    /// not commit (``Environment/write(_:)`` aborts it and throws ``StorageError/Code/badTransaction`` even if the
    /// closure catches the error), because the half-written value already replaced the old one.
    ///
    /// - Parameters:
    ///   - database: A handle from the same environment.
    ///   - key: The key bytes, 1 ... ``Environment/maxKeySize`` long. Read during the call only.
    ///   - count: The value size in bytes, `>= 0`.
    ///   - fill: Writes the value into the reserved buffer.
    /// - Throws: Whatever `fill` throws; otherwise as ``put(_:key:value:)-(_,UnsafeRawBufferPointer,_)``.
    public func putReserved(
        _ database: Database,
        key: UnsafeRawBufferPointer,
        count: Int,
        fill: (UnsafeMutableRawBufferPointer) throws -> Void
    ) throws {
        precondition(count >= 0, "putReserved: negative count \(count)")
        try self.checkUsable("mdb_put")
        self.core.checkOwnership(of: database)
        try self.core.checkKey(key, "mdb_put")
        var keyValue = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var dataValue = MDB_val(mv_size: count, mv_data: nil)
        try StorageError.check(
            mdb_put(self.core.txn, database.handle, &keyValue, &dataValue, UInt32(MDB_RESERVE)),
            "mdb_put(\(database.name), MDB_RESERVE)")
        do {
            try fill(UnsafeMutableRawBufferPointer(start: dataValue.mv_data, count: count))
        } catch {
            self.poisoned.pointee = true
            throw error
        }
    }

    /// Reserves `count` bytes for the value under `key` and lets `fill` write them directly into the map.
    ///
    /// - Throws: As ``putReserved(_:key:count:fill:)-(_,UnsafeRawBufferPointer,_,_)``.
    public func putReserved(
        _ database: Database,
        key: [UInt8],
        count: Int,
        fill: (UnsafeMutableRawBufferPointer) throws -> Void
    ) throws {
        try key.withUnsafeBytes { key in
            try self.putReserved(database, key: key, count: count, fill: fill)
        }
    }

    /// Deletes `key` and its value.
    ///
    /// - Returns: `true` when the key was present, `false` when it was absent (not an error).
    /// - Throws: As ``put(_:key:value:)-(_,UnsafeRawBufferPointer,_)`` (a delete can need new pages, so
    ///   ``StorageError/Code/mapFull`` is possible).
    @discardableResult
    public func delete(_ database: Database, key: UnsafeRawBufferPointer) throws(StorageError) -> Bool {
        try self.checkUsable("mdb_del")
        self.core.checkOwnership(of: database)
        try self.core.checkKey(key, "mdb_del")
        var keyValue = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        let rc = mdb_del(self.core.txn, database.handle, &keyValue, nil)
        if rc == MDB_NOTFOUND {
            return false
        }
        try StorageError.check(rc, "mdb_del(\(database.name))")
        return true
    }

    /// Deletes `key` and its value.
    ///
    /// - Returns: `true` when the key was present, `false` when it was absent.
    /// - Throws: As ``delete(_:key:)-(_,UnsafeRawBufferPointer)``.
    @discardableResult
    public func delete(_ database: Database, key: [UInt8]) throws(StorageError) -> Bool {
        try key.withUnsafeStorageBytes { (key) throws(StorageError) -> Bool in
            try self.delete(database, key: key)
        }
    }

    /// Deletes every entry of `database` and keeps the (now empty) database and its handle (`mdb_drop(0)`).
    ///
    /// - Throws: ``StorageError`` (``StorageError/Code/permissionDenied`` in a read-only environment,
    ///   ``StorageError/Code/badTransaction`` after an earlier failure).
    public func clear(_ database: Database) throws(StorageError) {
        try self.checkUsable("mdb_drop")
        self.core.checkOwnership(of: database)
        try StorageError.check(mdb_drop(self.core.txn, database.handle, 0), "mdb_drop(\(database.name), clear)")
    }

    /// Deletes `database` from the environment and closes its handle (`mdb_drop(1)`).
    ///
    /// The handle is closed at once, even if this transaction later aborts (then the database survives and
    /// ``Environment/database(named:create:)`` opens a fresh handle). The environment forgets its cached handle.
    /// Call this only when no other thread uses `database`, and discard every copy of the handle afterwards: LMDB
    /// may give its number to the next database opened.
    ///
    /// - Throws: As ``clear(_:)``.
    public func drop(_ database: Database) throws(StorageError) {
        try self.checkUsable("mdb_drop")
        self.core.checkOwnership(of: database)
        let txn = self.core.txn
        try self.environment.closeDatabase(database) { () throws(StorageError) in
            try StorageError.check(mdb_drop(txn, database.handle, 1), "mdb_drop(\(database.name), delete)")
        }
    }

    // MARK: - Private

    @inline(__always)
    private func checkUsable(_ operation: StaticString) throws(StorageError) {
        if self.poisoned.pointee {
            throw StorageError(
                code: .badTransaction,
                message: "\(operation): transaction is poisoned by a failed putReserved fill and must abort",
                mdbCode: MDB_BAD_TXN)
        }
    }
}

@available(*, unavailable, message: "a transaction is confined to the thread that runs its closure")
extension WriteTransaction: Sendable {}
