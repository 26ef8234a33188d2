// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Environment and database statistics, for health checks, metrics and map-size decisions.

internal import CLMDB

/// A snapshot of an environment's state (`mdb_env_info` plus the page size from `mdb_env_stat`).
public struct EnvironmentInfo: Hashable, Sendable {
    /// The map size in force, in bytes: the largest the data file may grow.
    public var mapSize: Int
    /// The number of the last page in use; the file holds `lastPageNumber + 1` pages.
    public var lastPageNumber: Int
    /// The ID of the last committed write transaction (0 for a new environment).
    public var lastTransactionID: Int
    /// The number of reader slots (``Environment/Options/maxReaders`` of the first opener).
    public var maxReaders: Int
    /// The high-water mark of reader slots used since the lock file was created, by all processes. Freed slots are
    /// reused but not subtracted, so this is an upper bound on the readers active now.
    public var readerSlotsUsed: Int
    /// The page size in bytes.
    public var pageSize: Int

    /// Creates info from its parts; for tests.
    public init(
        mapSize: Int, lastPageNumber: Int, lastTransactionID: Int, maxReaders: Int, readerSlotsUsed: Int, pageSize: Int
    ) {
        self.mapSize = mapSize
        self.lastPageNumber = lastPageNumber
        self.lastTransactionID = lastTransactionID
        self.maxReaders = maxReaders
        self.readerSlotsUsed = readerSlotsUsed
        self.pageSize = pageSize
    }

    /// The bytes of the map in use: `(lastPageNumber + 1) * pageSize`. Compare with ``mapSize`` to decide when to
    /// grow the map.
    public var usedBytes: Int {
        (self.lastPageNumber + 1) * self.pageSize
    }
}

extension Environment {
    /// Reads the environment's current state. Cheap (no transaction); callable from any thread.
    ///
    /// - Returns: A copy; it does not change when the environment does.
    /// - Throws: ``StorageError`` (LMDB documents no failure here for an open environment).
    public func info() throws(StorageError) -> EnvironmentInfo {
        var info = MDB_envinfo()
        try StorageError.check(mdb_env_info(self.handle, &info), "mdb_env_info(\(self.path))")
        var stat = MDB_stat()
        try StorageError.check(mdb_env_stat(self.handle, &stat), "mdb_env_stat(\(self.path))")
        return EnvironmentInfo(
            mapSize: info.me_mapsize,
            lastPageNumber: info.me_last_pgno,
            lastTransactionID: info.me_last_txnid,
            maxReaders: Int(info.me_maxreaders),
            readerSlotsUsed: Int(info.me_numreaders),
            pageSize: Int(stat.ms_psize))
    }

    /// Reads the B+tree statistics of `database` in a one-shot read transaction.
    ///
    /// - Returns: The statistics as of the last commit.
    /// - Throws: ``StorageError`` from beginning the transaction (``StorageError/Code/readersFull``, ...) or from
    ///   `mdb_stat`.
    public func statistics(of database: Database) throws(StorageError) -> DatabaseStatistics {
        do {
            return try self.read { txn in try txn.statistics(database) }
        } catch let error as StorageError {
            throw error
        } catch {
            preconditionFailure("statistics(of:) threw a non-storage error: \(error)")
        }
    }
}
