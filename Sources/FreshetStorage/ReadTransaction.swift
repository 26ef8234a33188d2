// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// A read-only LMDB transaction: a consistent snapshot, handed to a closure and valid only inside it.

internal import CLMDB

/// A read-only transaction: a consistent snapshot of every database in the environment, as of the moment it began.
///
/// You never create or own one. ``Environment/read(_:)`` and ``Reader/withTransaction(_:)`` begin it, lend it to
/// your closure as a `borrowing` parameter, and end it when the closure returns; a noncopyable value lent that way
/// cannot be stored, copied or captured by an escaping closure, so the transaction cannot outlive the call.
///
/// **Lifetime of returned memory.** ``get(_:key:)-(_,UnsafeRawBufferPointer)`` and ``forEach(_:from:_:)`` return
/// pointers *into the memory map*, with no copy. That memory belongs to LMDB and is valid only until the
/// transaction ends, that is, until the closure that received the transaction returns. Copy what you need (into the
/// outbound buffer, say) before returning, and never return or store these pointers: after the transaction ends the
/// pages may be reused by a writer, and reading them yields someone else's data or a crash. The memory is mapped
/// read-only, so writing through these pointers crashes.
///
/// **Threads.** A transaction is confined to the thread running the closure. Do not `await` inside it (the closures
/// are synchronous for that reason): a transaction held open keeps old pages from being reused (lmdb.h: "Avoid
/// long-lived transactions").
public struct ReadTransaction: ~Copyable {
    let core: TransactionCore

    init(core: TransactionCore) {
        self.core = core
    }

    /// Looks up `key` without copying: returns the stored value as a pointer into the memory map.
    ///
    /// This is the hot-path read.
    ///
    /// - Parameters:
    ///   - database: A handle from the same environment; a handle from another environment traps.
    ///   - key: The key bytes, 1 ... ``Environment/maxKeySize`` long. Read during the call only.
    /// - Returns: The value, or `nil` when the key is absent (`MDB_NOTFOUND` is not an error). The buffer is owned
    ///   by LMDB, read-only, and **valid only until this transaction ends**: copy it before the closure returns.
    /// - Throws: ``StorageError`` with ``StorageError/Code/keyTooLarge`` or ``StorageError/Code/badValueSize``
    ///   (empty key) before LMDB is called; ``StorageError/Code/invalidArgument`` (`EINVAL`) when the handle was
    ///   opened after this transaction began; ``StorageError/Code/corrupted`` for a damaged file.
    public func get(_ database: Database, key: UnsafeRawBufferPointer) throws(StorageError) -> UnsafeRawBufferPointer? {
        try self.core.get(database, key: key)
    }

    /// Looks up `key` and copies the value out. For tests and cold paths; the hot path uses the zero-copy overload.
    ///
    /// - Returns: A copy of the value, or `nil` when the key is absent.
    /// - Throws: As the zero-copy ``get(_:key:)-(_,UnsafeRawBufferPointer)``.
    public func get(_ database: Database, key: [UInt8]) throws(StorageError) -> [UInt8]? {
        try key.withUnsafeStorageBytes { (key) throws(StorageError) -> [UInt8]? in
            try self.core.get(database, key: key).map { Array($0) }
        }
    }

    /// Calls `body` for each entry of `database` in key order (bytewise, shorter keys first on a common prefix),
    /// starting at the first key greater than or equal to `startKey`.
    ///
    /// Opens one cursor for the walk (one allocation), so keep it off the hot path.
    ///
    /// - Parameters:
    ///   - database: A handle from the same environment.
    ///   - startKey: Where to start; empty (the default) starts at the first key.
    ///   - body: Receives each key and value as pointers into the memory map, valid only until this transaction
    ///     ends; return `true` to continue or `false` to stop.
    /// - Throws: Whatever `body` throws; ``StorageError`` for a bad `startKey` (``StorageError/Code/keyTooLarge``)
    ///   or a cursor failure (``StorageError/Code/corrupted``, ``StorageError/Code/invalidArgument``).
    public func forEach(
        _ database: Database,
        from startKey: [UInt8] = [],
        _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> Bool
    ) throws {
        try self.core.forEach(database, from: startKey, body)
    }

    /// The number of entries in `database` (from `mdb_stat`, without walking the tree).
    ///
    /// - Throws: ``StorageError`` (``StorageError/Code/invalidArgument`` for a handle opened after this transaction
    ///   began).
    public func count(_ database: Database) throws(StorageError) -> Int {
        try self.core.statistics(database).entries
    }

    /// The B+tree statistics of `database` as seen by this transaction.
    ///
    /// - Throws: As ``count(_:)``.
    public func statistics(_ database: Database) throws(StorageError) -> DatabaseStatistics {
        try self.core.statistics(database)
    }

    /// The transaction ID: the ID of the last write transaction committed before this snapshot was taken.
    public var id: Int {
        mdb_txn_id(self.core.txn)
    }
}

@available(*, unavailable, message: "a transaction is confined to the thread that runs its closure")
extension ReadTransaction: Sendable {}
