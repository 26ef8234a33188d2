// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// A recycled read transaction owned by one event-loop thread: renewed per request, reset after, never reallocated.

internal import CLMDB
internal import Glibc

/// A reusable read transaction for one event-loop thread: the hot-path way to read.
///
/// Each loop thread makes one ``Reader`` at start-up (``Environment/makeReader()``) and serves every request through
/// ``withTransaction(_:)``, which renews the transaction (`mdb_txn_renew`) so the closure sees the latest committed
/// data, and resets it (`mdb_txn_reset`) when the closure returns. Between requests the transaction holds no
/// snapshot, so it pins no pages and does not hold back writers' page reuse; it only keeps its reader slot, so
/// renewing takes no lock and allocates nothing.
///
/// **Threads.** Call only on the thread that created it. The environment is opened with `MDB_NOTLS`, so LMDB would
/// accept another thread, but nothing synchronises two threads using one transaction; a cheap check
/// (`pthread_self`) traps on any other thread, and so does a nested ``withTransaction(_:)``. `Reader` is not
/// `Sendable`.
///
/// **Lifetime.** Holds one of the environment's ``Environment/Options/maxReaders`` reader slots until it is
/// deinitialised (`mdb_txn_abort`), and keeps its ``Environment`` alive until then.
public final class Reader {
    private let environment: Environment
    /// The `MDB_txn`, reset between calls. Owned: aborted in `deinit`.
    private let txn: OpaquePointer
    private let core: TransactionCore
    private let owner: pthread_t
    private var active = false

    init(environment: Environment, handle: OpaquePointer) throws(StorageError) {
        var txn: OpaquePointer?
        try StorageError.check(
            mdb_txn_begin(handle, nil, UInt32(MDB_RDONLY), &txn), "mdb_txn_begin(\(environment.path), reader)")
        guard let txn else {
            preconditionFailure("mdb_txn_begin succeeded without a transaction")
        }
        // Release the snapshot at once; the slot stays tied to this MDB_txn (MDB_NOTLS).
        mdb_txn_reset(txn)
        self.environment = environment
        self.txn = txn
        self.core = TransactionCore(
            txn: txn, maxKeySize: environment.maxKeySize, environmentID: environment.identifier)
        self.owner = pthread_self()
    }

    deinit {
        // Frees the reader slot. The transaction is reset (not in use) whenever no withTransaction is running, and
        // none can be running while the last reference goes away, so this may run on any thread.
        mdb_txn_abort(self.txn)
    }

    /// Runs `body` in a read transaction that sees every write committed before this call, by any thread or
    /// process.
    ///
    /// - Parameter body: Receives the transaction. Everything it reads from the map is valid only until `body`
    ///   returns; copy what you need before returning, and never return map pointers.
    /// - Returns: What `body` returns.
    /// - Throws: Whatever `body` throws; ``StorageError`` from `mdb_txn_renew`: ``StorageError/Code/panic`` after a
    ///   fatal environment error. A map grown by another process (`MDB_MAP_RESIZED`) is adopted and the renew
    ///   retried, so callers never see ``StorageError/Code/mapResized`` from here.
    /// - Precondition: Called on the thread that created this reader, and not from inside another
    ///   `withTransaction` on the same reader.
    public func withTransaction<R>(_ body: (borrowing ReadTransaction) throws -> R) throws -> R {
        precondition(
            pthread_equal(self.owner, pthread_self()) != 0,
            "Reader used on a thread other than the one that created it")
        precondition(!self.active, "Reader.withTransaction called re-entrantly")
        return try self.environment.withMapShared(
            start: { mdb_txn_renew(self.txn) }, operation: "mdb_txn_renew(\(self.environment.path))"
        ) {
            self.active = true
            defer {
                mdb_txn_reset(self.txn)
                self.active = false
            }
            return try body(ReadTransaction(core: self.core))
        }
    }
}

@available(*, unavailable, message: "a Reader belongs to the thread that created it")
extension Reader: Sendable {}
