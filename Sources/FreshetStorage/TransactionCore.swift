// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// The read operations shared by read and write transactions, written once against a raw MDB_txn pointer.

internal import CLMDB

/// A live `MDB_txn` plus what every operation needs to check its arguments without touching the environment.
///
/// ``ReadTransaction`` and ``WriteTransaction`` each hold one and forward to it. It owns nothing: whoever began
/// the transaction ends it. Valid only while that transaction is live; confined to the thread running it.
struct TransactionCore {
    /// The live transaction (`MDB_txn *`).
    let txn: OpaquePointer
    /// `mdb_env_get_maxkeysize` of the environment, cached so key checks cost one compare.
    let maxKeySize: Int
    /// The ``Environment/identifier`` of the environment, to catch handles from another environment.
    let environmentID: UInt32

    // MARK: - Checks

    /// Traps when `database` was opened by another environment: a programmer error that would otherwise read or
    /// write an unrelated database.
    @inline(__always)
    func checkOwnership(of database: Database) {
        precondition(
            database.environmentID == self.environmentID,
            "\(database) belongs to another Environment than this transaction")
    }

    /// Throws ``StorageError/Code/keyTooLarge`` or ``StorageError/Code/badValueSize`` for keys LMDB would reject,
    /// before LMDB sees them.
    @inline(__always)
    func checkKey(_ key: UnsafeRawBufferPointer, _ operation: StaticString) throws(StorageError) {
        if key.count == 0 || key.count > self.maxKeySize {
            throw StorageError.badKey(size: key.count, maxKeySize: self.maxKeySize, operation: "\(operation)")
        }
    }

    // MARK: - Reads

    /// `mdb_get`: the value stored under `key`, pointing into the memory map; `nil` for `MDB_NOTFOUND`.
    @inline(__always)
    func get(_ database: Database, key: UnsafeRawBufferPointer) throws(StorageError) -> UnsafeRawBufferPointer? {
        self.checkOwnership(of: database)
        try self.checkKey(key, "mdb_get")
        var keyValue = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var dataValue = MDB_val()
        let rc = mdb_get(self.txn, database.handle, &keyValue, &dataValue)
        if rc == 0 {
            return UnsafeRawBufferPointer(start: dataValue.mv_data, count: dataValue.mv_size)
        }
        if rc == MDB_NOTFOUND {
            return nil
        }
        throw StorageError(mdbCode: rc, operation: "mdb_get(\(database.name))")
    }

    /// `mdb_stat` for one database.
    func statistics(_ database: Database) throws(StorageError) -> DatabaseStatistics {
        self.checkOwnership(of: database)
        var stat = MDB_stat()
        try StorageError.check(mdb_stat(self.txn, database.handle, &stat), "mdb_stat(\(database.name))")
        return DatabaseStatistics(stat)
    }

    /// Walks `database` in key order with a cursor, starting at the first key `>= startKey` (or the first key when
    /// `startKey` is empty), until `body` returns `false` or the keys run out.
    func forEach(
        _ database: Database,
        from startKey: [UInt8],
        _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> Bool
    ) throws {
        self.checkOwnership(of: database)
        var cursor: OpaquePointer?
        try StorageError.check(mdb_cursor_open(self.txn, database.handle, &cursor), "mdb_cursor_open")
        // A cursor in a read transaction must be closed explicitly; in a write transaction closing early is fine.
        defer { mdb_cursor_close(cursor) }

        var keyValue = MDB_val()
        var dataValue = MDB_val()
        var rc: Int32
        if startKey.isEmpty {
            rc = mdb_cursor_get(cursor, &keyValue, &dataValue, MDB_FIRST)
        } else {
            rc = try startKey.withUnsafeBytes { (start) throws(StorageError) -> Int32 in
                try self.checkKey(start, "mdb_cursor_get")
                // MDB_SET_RANGE reads the search key during the call only and then points keyValue at the stored
                // key, so the array's storage need not outlive this closure.
                keyValue = MDB_val(mv_size: start.count, mv_data: UnsafeMutableRawPointer(mutating: start.baseAddress))
                return mdb_cursor_get(cursor, &keyValue, &dataValue, MDB_SET_RANGE)
            }
        }
        while rc == 0 {
            let key = UnsafeRawBufferPointer(start: keyValue.mv_data, count: keyValue.mv_size)
            let value = UnsafeRawBufferPointer(start: dataValue.mv_data, count: dataValue.mv_size)
            guard try body(key, value) else {
                return
            }
            rc = mdb_cursor_get(cursor, &keyValue, &dataValue, MDB_NEXT)
        }
        if rc != MDB_NOTFOUND {
            throw StorageError(mdbCode: rc, operation: "mdb_cursor_get(\(database.name))")
        }
    }
}

/// Statistics of one database (`MDB_stat`), from ``Environment/statistics(of:)`` or
/// ``ReadTransaction/statistics(_:)``.
public struct DatabaseStatistics: Hashable, Sendable {
    /// The page size in bytes (the OS page size, 4096 on x86-64 Linux).
    public var pageSize: Int
    /// The depth (height) of the B+tree; 0 for an empty database.
    public var depth: Int
    /// The number of internal (non-leaf) pages.
    public var branchPages: Int
    /// The number of leaf pages.
    public var leafPages: Int
    /// The number of overflow pages (values too large to share a leaf page).
    public var overflowPages: Int
    /// The number of key/value pairs.
    public var entries: Int

    /// Creates statistics from their parts; for tests.
    public init(pageSize: Int, depth: Int, branchPages: Int, leafPages: Int, overflowPages: Int, entries: Int) {
        self.pageSize = pageSize
        self.depth = depth
        self.branchPages = branchPages
        self.leafPages = leafPages
        self.overflowPages = overflowPages
        self.entries = entries
    }

    init(_ stat: MDB_stat) {
        self.pageSize = Int(stat.ms_psize)
        self.depth = Int(stat.ms_depth)
        self.branchPages = stat.ms_branch_pages
        self.leafPages = stat.ms_leaf_pages
        self.overflowPages = stat.ms_overflow_pages
        self.entries = stat.ms_entries
    }
}

extension Array where Element == UInt8 {
    /// `withUnsafeBytes` for a body with typed throws (the standard library's is `rethrows`, which loses the type).
    @inline(__always)
    func withUnsafeStorageBytes<R>(
        _ body: (UnsafeRawBufferPointer) throws(StorageError) -> R
    ) throws(StorageError) -> R {
        let result = self.withUnsafeBytes { bytes in
            Result { () throws(StorageError) -> R in try body(bytes) }
        }
        return try result.get()
    }
}
