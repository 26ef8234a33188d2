// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// The LMDB environment: opens the memory-mapped data directory and begins every transaction.

internal import CLMDB
internal import FreshetPosix
internal import Glibc
internal import Synchronization

/// An open LMDB environment: one directory holding `data.mdb` (the memory-mapped B+trees) and `lock.mdb` (the
/// reader table and writer lock shared by every process that opens it).
///
/// ## How it is used
/// - Open it once per process at start-up, open the named databases (``database(named:create:)``), and share the
///   environment with every thread: it is `Sendable`.
/// - Event-loop threads each make one ``Reader`` and read through it; nothing on that path allocates or locks.
/// - One writer thread applies updates with ``write(_:)``, batching many per transaction.
///
/// ## Rationale
/// - **`MDB_NOTLS`.** By default LMDB ties a reader slot to the OS thread and allows one read transaction per
///   thread. With `MDB_NOTLS` the slot belongs to the `MDB_txn` instead, which is what lets a loop thread keep a
///   reset transaction in its ``Reader`` and renew it per request without a lock or an allocation, and lets a thread
///   hold a ``Reader`` and a one-shot ``read(_:)`` at once. Write transactions stay bound to their OS thread; the
///   closures of ``write(_:)`` are synchronous so a transaction cannot hop threads across an `await`.
/// - **`MDB_NORDAHEAD`.** Feature lookups are random point reads; kernel read-ahead would only evict hot pages
///   when the data set is larger than RAM.
/// - **`mdb_reader_check` on open.** A process that died inside a read transaction leaves its reader slot claimed,
///   which stops writers from reusing pages and makes the file grow. Opening clears such slots;
///   ``clearStaleReaders()`` does it again on demand (lmdb.h, Caveats: "do a periodic check for stale readers").
/// - **One open per process.** LMDB's lock file uses POSIX `fcntl` locks, which never conflict within a process:
///   a second `mdb_env_open` of the same directory in the same process would believe it is alone and
///   re-initialise the shared reader table and writer mutex under the first (lmdb.h, Caveats: "Do not have open an
///   LMDB database twice in the same process at the same time"). The initialiser refuses that with
///   ``StorageError/Code/alreadyOpen``. Other processes may open the same directory.
/// - **Database handles are cached by name.** `mdb_dbi_open` must not run in two transactions at once, so opens are
///   serialised by a mutex; that is off the hot path.
///
/// ## Threads
/// `@unchecked Sendable`: an `MDB_env` is designed to be shared by threads (beginning transactions, the reader
/// table and the writer lock are synchronised inside LMDB); the only mutable Swift state is the handle cache behind
/// a `Mutex` and the writer-thread marker, an `Atomic`. The exceptions are documented on ``setMapSize(_:)``, the
/// one call that needs the process to be quiet; the runtime checks are the writer re-entrancy trap on ``write(_:)``
/// and the owner-thread trap of ``Reader``.
public final class Environment: @unchecked Sendable {
    /// The directory given to ``init(path:options:)``.
    public let path: String
    /// The options the environment was opened with. The map size actually in force is ``info()``'s `mapSize`.
    public let options: Options
    /// The largest key LMDB accepts (`mdb_env_get_maxkeysize`, 511 bytes for Debian's build). Longer keys throw
    /// ``StorageError/Code/keyTooLarge``. Database names are keys too, so the same limit applies to them.
    public let maxKeySize: Int

    /// The `MDB_env`. Owned: closed in `deinit`, after every transaction (``Reader``s keep `self` alive).
    let handle: OpaquePointer
    /// A process-unique number stamped into every ``Database`` this environment opens.
    let identifier: UInt32
    /// The directory's identity in the process-wide registry of open environments.
    private let directory: DirectoryIdentity
    /// Database handles by name. Also serialises `mdb_dbi_open` and `mdb_dbi_close` (through `mdb_drop`).
    private let databases = Mutex<[String: Database]>([:])
    /// The `pthread_t` of the thread inside ``write(_:)``, or 0. Written only while holding LMDB's writer lock.
    private let writerThread = Atomic<UInt>(0)
    /// Held shared by every transaction and exclusively by a map resize (see ``MapGuard``).
    let mapGuard = MapGuard()

    /// Opens (and, unless read-only, creates) the environment in the directory `path`.
    ///
    /// Creates `path` and any missing parents (mode `0o755`) unless `options.readOnly`, then opens it with
    /// `MDB_NOTLS | MDB_NORDAHEAD` plus the flags of `options`, and clears the reader slots of dead processes.
    ///
    /// - Parameters:
    ///   - path: A directory; LMDB keeps `data.mdb` and `lock.mdb` in it (files mode `0o644`). Use a local file
    ///     system: LMDB's locking and mmap coherence do not work over network file systems.
    ///   - options: Sizes and durability; see ``Options``.
    /// - Throws: ``StorageError`` with
    ///   - ``StorageError/Code/io`` (`ENOTDIR`) when `path` exists and is not a directory, (`ENOENT`) when a
    ///     read-only environment does not exist, or another `errno` from `mkdir`/`mdb_env_open`;
    ///   - ``StorageError/Code/alreadyOpen`` when this process already has the directory open;
    ///   - ``StorageError/Code/permissionDenied`` (`EACCES`) without access to the directory or files;
    ///   - ``StorageError/Code/busy`` (`EAGAIN`) when another process holds the environment's lock exclusively;
    ///   - ``StorageError/Code/invalid`` when `data.mdb` is not an LMDB file;
    ///   - ``StorageError/Code/versionMismatch`` when it was written by an incompatible LMDB;
    ///   - ``StorageError/Code/invalidArgument`` for an unusable option (for example a zero `maxReaders`).
    public init(path: String, options: Options = Options()) throws(StorageError) {
        if !options.readOnly {
            try Environment.makeDirectory(path)
        }
        let directory = try DirectoryIdentity(path: path)
        try directory.register(path: path)

        var created: OpaquePointer?
        var rc = mdb_env_create(&created)
        guard rc == 0, let env = created else {
            directory.unregister()
            throw StorageError(mdbCode: rc, operation: "mdb_env_create")
        }
        var flags = UInt32(MDB_NOTLS | MDB_NORDAHEAD)
        switch options.sync {
        case .full: break
        case .noMetaSync: flags |= UInt32(MDB_NOMETASYNC)
        case .noSync: flags |= UInt32(MDB_NOSYNC)
        }
        if options.readOnly {
            flags |= UInt32(MDB_RDONLY)
        }
        var operation = "mdb_env_set_mapsize"
        rc = mdb_env_set_mapsize(env, options.mapSize)
        if rc == 0 {
            operation = "mdb_env_set_maxreaders"
            rc = mdb_env_set_maxreaders(env, options.maxReaders)
        }
        if rc == 0 {
            operation = "mdb_env_set_maxdbs"
            rc = mdb_env_set_maxdbs(env, options.maxDatabases)
        }
        if rc == 0 {
            operation = "mdb_env_open"
            rc = mdb_env_open(env, path, flags, 0o644)
        }
        if rc == 0 {
            operation = "mdb_reader_check"
            var dead: Int32 = 0
            rc = mdb_reader_check(env, &dead)
        }
        if rc != 0 {
            // lmdb.h: "If this function fails, mdb_env_close() must be called to discard the MDB_env handle."
            mdb_env_close(env)
            directory.unregister()
            throw StorageError(mdbCode: rc, operation: "\(operation)(\(path))")
        }

        self.path = path
        self.options = options
        self.handle = env
        self.maxKeySize = Int(mdb_env_get_maxkeysize(env))
        self.identifier = nextEnvironmentIdentifier.wrappingAdd(1, ordering: .relaxed).oldValue
        self.directory = directory
    }

    deinit {
        // Every transaction has ended: read/write closures have returned (they hold `self`), and each Reader holds
        // `self` until its own deinit aborts its transaction.
        mdb_env_close(self.handle)
        self.directory.unregister()
    }

    // MARK: - Databases

    /// Returns the handle of the named database, opening it (and creating it when `create` is true) on first use.
    ///
    /// Handles are cached by name, so later calls are a dictionary lookup under a mutex. Open the databases you need
    /// at start-up, before the first ``write(_:)`` and before making ``Reader``s: a handle opened while a transaction
    /// is running is unknown to that transaction (using it there throws ``StorageError/Code/invalidArgument``);
    /// transactions begun or renewed afterwards see it.
    ///
    /// Creating uses a short write transaction (waiting for the writer lock); opening an existing database uses a
    /// read transaction.
    ///
    /// - Parameters:
    ///   - name: The database name: 1 ... ``maxKeySize`` bytes of UTF-8, no NUL.
    ///   - create: Create the database when it does not exist.
    /// - Returns: The handle, valid for the life of this environment or until the database is dropped.
    /// - Throws: ``StorageError`` with ``StorageError/Code/notFound`` when the database does not exist and `create`
    ///   is false; ``StorageError/Code/databasesFull`` beyond ``Options/maxDatabases``;
    ///   ``StorageError/Code/permissionDenied`` for `create` in a read-only environment;
    ///   ``StorageError/Code/invalidArgument`` for an empty name or one containing NUL;
    ///   ``StorageError/Code/keyTooLarge`` for a name longer than ``maxKeySize``;
    ///   ``StorageError/Code/incompatible`` when the name is a plain key of the main database, not a database;
    ///   ``StorageError/Code/readersFull``, ``StorageError/Code/mapFull``, ``StorageError/Code/io`` from the
    ///   transaction.
    /// - Precondition: Not called for a new name from inside ``write(_:)`` on the same thread (it would deadlock).
    public func database(named name: String, create: Bool) throws(StorageError) -> Database {
        if let cached = self.databases.withLock({ $0[name] }) {
            return cached
        }
        try Environment.checkDatabaseName(name, maxKeySize: self.maxKeySize)
        precondition(
            self.writerThread.load(ordering: .relaxed) != pthread_self(),
            "Environment.database(named: \"\(name)\") opens a new handle inside write {} on the same thread; "
                + "open databases before writing")

        // Begin the transaction before taking the cache lock: the lock order is always LMDB's writer lock, then the
        // cache lock (drop takes them in that order too), so a writer and an opener cannot deadlock.
        var begun: OpaquePointer?
        self.mapGuard.lockShared()
        defer { self.mapGuard.unlock() }
        var rc = mdb_txn_begin(self.handle, nil, create ? 0 : UInt32(MDB_RDONLY), &begun)
        if rc == MDB_MAP_RESIZED {
            self.mapGuard.unlock()
            defer { self.mapGuard.lockShared() }
            try self.adoptGrownMap()
            rc = mdb_txn_begin(self.handle, nil, create ? 0 : UInt32(MDB_RDONLY), &begun)
        }
        try StorageError.check(rc, "mdb_txn_begin(\(self.path))")
        guard let txn = begun else {
            preconditionFailure("mdb_txn_begin succeeded without a transaction")
        }
        return try self.databases.withLock { (cache) throws(StorageError) -> Database in
            if let cached = cache[name] {
                mdb_txn_abort(txn)
                return cached
            }
            var dbi: MDB_dbi = 0
            let rc = name.withCString { mdb_dbi_open(txn, $0, create ? UInt32(MDB_CREATE) : 0, &dbi) }
            guard rc == 0 else {
                mdb_txn_abort(txn)
                throw StorageError(mdbCode: rc, operation: "mdb_dbi_open(\(name))")
            }
            // Commit even the read transaction: an aborted transaction closes the handles it opened.
            try StorageError.check(mdb_txn_commit(txn), "mdb_txn_commit(\(self.path), open \(name))")
            let database = Database(name: name, handle: dbi, environmentID: self.identifier)
            cache[name] = database
            return database
        }
    }

    /// Runs `close` (an `mdb_drop(…, 1)`) under the cache lock and forgets the cached handle. Called by
    /// ``WriteTransaction/drop(_:)`` on the writer thread, which already holds LMDB's writer lock.
    func closeDatabase(_ database: Database, _ close: () throws(StorageError) -> Void) throws(StorageError) {
        try self.databases.withLock { (cache) throws(StorageError) in
            try close()
            cache[database.name] = nil
        }
    }

    // MARK: - Transactions

    /// Runs `body` in a one-shot read transaction and ends it when `body` returns.
    ///
    /// Allocates and frees an `MDB_txn` and takes a reader slot for the duration; loop threads use a ``Reader``
    /// instead.
    ///
    /// - Parameter body: Receives the transaction. Anything it reads from the map is valid only until `body`
    ///   returns; never return map pointers from it.
    /// - Returns: What `body` returns.
    /// - Throws: Whatever `body` throws; ``StorageError`` from `mdb_txn_begin`: ``StorageError/Code/readersFull``
    ///   when every reader slot is taken, ``StorageError/Code/mapResized``, ``StorageError/Code/panic``,
    ///   ``StorageError/Code/io`` (`ENOMEM`).
    public func read<R>(_ body: (borrowing ReadTransaction) throws -> R) throws -> R {
        var begun: OpaquePointer?
        return try self.withMapShared(
            start: { mdb_txn_begin(self.handle, nil, UInt32(MDB_RDONLY), &begun) },
            operation: "mdb_txn_begin(\(self.path), read)"
        ) {
            guard let txn = begun else {
                preconditionFailure("mdb_txn_begin succeeded without a transaction")
            }
            defer { mdb_txn_abort(txn) }
            return try body(ReadTransaction(core: self.core(txn)))
        }
    }

    /// Runs `body` in a write transaction: commits when `body` returns, aborts when it throws.
    ///
    /// Blocks until LMDB's writer lock is free (one writer at a time across all processes), so call it from the
    /// writer thread, never from an event loop. With ``SyncMode/full`` the commit waits for `fsync`.
    ///
    /// - Parameter body: Receives the transaction. Keep it short; do not block on anything slow inside it.
    /// - Returns: What `body` returns, once the commit succeeded.
    /// - Throws: Whatever `body` throws (the transaction is aborted and nothing is written); otherwise
    ///   ``StorageError``: from `mdb_txn_begin` (``StorageError/Code/permissionDenied`` in a read-only environment,
    ///   ``StorageError/Code/mapResized``, ``StorageError/Code/panic``), from `mdb_txn_commit`
    ///   (``StorageError/Code/mapFull``, ``StorageError/Code/io`` for `EIO`/`ENOSPC`,
    ///   ``StorageError/Code/badTransaction`` after a failed operation), or ``StorageError/Code/badTransaction``
    ///   when a ``WriteTransaction/putReserved(_:key:count:fill:)-(_,UnsafeRawBufferPointer,_,_)`` fill threw and
    ///   `body` caught the error.
    /// - Precondition: Not nested inside another `write` on the same thread (LMDB's writer lock is not recursive).
    public func write<R>(_ body: (borrowing WriteTransaction) throws -> R) throws -> R {
        let me = pthread_self()
        precondition(
            self.writerThread.load(ordering: .relaxed) != me,
            "Environment.write called inside write {} on the same thread; it would deadlock on LMDB's writer lock")
        var begun: OpaquePointer?
        return try self.withMapShared(
            start: { mdb_txn_begin(self.handle, nil, 0, &begun) }, operation: "mdb_txn_begin(\(self.path), write)"
        ) {
            guard let txn = begun else {
                preconditionFailure("mdb_txn_begin succeeded without a transaction")
            }
            return try self.runWrite(txn, thread: me, body)
        }
    }

    /// The body of ``write(_:)`` once its transaction has begun: runs `body`, then commits or aborts `txn`.
    private func runWrite<R>(
        _ txn: OpaquePointer, thread me: pthread_t, _ body: (borrowing WriteTransaction) throws -> R
    ) throws -> R {
        // Set and cleared while holding the writer lock, so writers on other threads cannot interleave.
        self.writerThread.store(me, ordering: .relaxed)

        var poisoned = false
        let result: R
        do {
            result = try withUnsafeMutablePointer(to: &poisoned) { flag in
                try body(WriteTransaction(core: self.core(txn), environment: self, poisoned: flag))
            }
        } catch {
            self.writerThread.store(0, ordering: .relaxed)
            mdb_txn_abort(txn)
            throw error
        }
        self.writerThread.store(0, ordering: .relaxed)
        if poisoned {
            mdb_txn_abort(txn)
            throw StorageError(
                code: .badTransaction,
                message: "mdb_txn_commit(\(self.path)): aborted, a putReserved fill threw and left a partial value",
                mdbCode: MDB_BAD_TXN)
        }
        // mdb_txn_commit frees the transaction whether or not it succeeds.
        try StorageError.check(mdb_txn_commit(txn), "mdb_txn_commit(\(self.path))")
        return result
    }

    /// Makes a ``Reader``: a read transaction that the calling thread recycles for every request.
    ///
    /// Call it on the thread that will use the reader (each event-loop thread at start-up).
    ///
    /// - Returns: A reader owned by the caller and confined to the calling thread. It holds one reader slot until it
    ///   is deinitialised.
    /// - Throws: ``StorageError`` with ``StorageError/Code/readersFull`` when every reader slot is taken, or
    ///   ``StorageError/Code/mapResized``, ``StorageError/Code/panic``, ``StorageError/Code/io`` (`ENOMEM`).
    public func makeReader() throws(StorageError) -> Reader {
        try Reader(environment: self, handle: self.handle)
    }

    // MARK: - Maintenance

    /// Changes the map size (the largest the data file may grow), for example after ``StorageError/Code/mapFull``.
    ///
    /// LMDB requires that **no transaction is active in this process** (lmdb.h, `mdb_env_set_mapsize`: "the library
    /// does not check for this condition, the caller must ensure it explicitly"): remapping moves the map. This
    /// call waits until no transaction of this process is running (every transaction holds the ``MapGuard``
    /// shared) and blocks new ones until it is done. Reset ``Reader``s are fine.
    ///
    /// A size below the space already used is raised to the used size. The new size is persisted by the next
    /// commit; other processes adopt it when they next call this with 0, after their transactions fail with
    /// ``StorageError/Code/mapResized``.
    ///
    /// - Parameter bytes: The new map size in bytes, a multiple of the page size (4096); 0 adopts the size recorded
    ///   in the file by another process.
    /// - Throws: ``StorageError`` with ``StorageError/Code/invalidArgument`` (`EINVAL`) while a write transaction
    ///   is active, ``StorageError/Code/io`` (`ENOMEM`) when the address space cannot be mapped.
    /// - Precondition: Not called inside ``write(_:)``.
    public func setMapSize(_ bytes: Int) throws(StorageError) {
        precondition(bytes >= 0, "setMapSize: negative size \(bytes)")
        precondition(
            self.writerThread.load(ordering: .relaxed) != pthread_self(), "setMapSize called inside write {}")
        self.mapGuard.lockExclusive()
        defer { self.mapGuard.unlock() }
        try StorageError.check(mdb_env_set_mapsize(self.handle, bytes), "mdb_env_set_mapsize(\(self.path), \(bytes))")
    }

    /// Copies the environment into the directory `path` (`mdb_env_copy2`), for snapshots and backups.
    ///
    /// The copy is a consistent snapshot taken in a read transaction, so writers keep running; but that transaction
    /// lives as long as the copy, and writes committed meanwhile cannot reuse pages, so the source file may grow.
    /// No lock file is written; the copy opens like any environment.
    ///
    /// - Parameters:
    ///   - path: The target directory; created (mode `0o755`) when missing, and otherwise must not contain a
    ///     `data.mdb`.
    ///   - compact: Omit free pages and renumber the rest (`MDB_CP_COMPACT`): a smaller file, more CPU.
    /// - Throws: ``StorageError`` with ``StorageError/Code/io`` (`EEXIST` when the target already has a
    ///   `data.mdb`, `ENOSPC`, `EIO`, `ENOTDIR`), ``StorageError/Code/permissionDenied``,
    ///   ``StorageError/Code/readersFull``, ``StorageError/Code/corrupted`` (a compacting copy fails on a page leak).
    public func copy(to path: String, compact: Bool) throws(StorageError) {
        try Environment.makeDirectory(path)
        try StorageError.check(
            mdb_env_copy2(self.handle, path, compact ? UInt32(MDB_CP_COMPACT) : 0), "mdb_env_copy2(\(path))")
    }

    /// Flushes written data to disk (`mdb_env_sync`).
    ///
    /// Commits already flush with ``SyncMode/full``; with ``SyncMode/noSync`` or ``SyncMode/noMetaSync`` call this
    /// periodically to bound what a crash can lose.
    ///
    /// - Parameter force: Flush synchronously even when the environment was opened with ``SyncMode/noSync``.
    /// - Throws: ``StorageError`` with ``StorageError/Code/permissionDenied`` (`EACCES`) in a read-only environment,
    ///   ``StorageError/Code/io`` (`EIO`).
    public func sync(force: Bool) throws(StorageError) {
        try StorageError.check(mdb_env_sync(self.handle, force ? 1 : 0), "mdb_env_sync(\(self.path))")
    }

    /// Frees the reader slots of processes that died inside a read transaction (`mdb_reader_check`).
    ///
    /// Runs once on open; a long-lived process that shares the environment with others should call it periodically.
    ///
    /// - Returns: The number of slots freed.
    /// - Throws: ``StorageError`` (an `errno` from the lock file's `fcntl`).
    @discardableResult
    public func clearStaleReaders() throws(StorageError) -> Int {
        var dead: Int32 = 0
        try StorageError.check(mdb_reader_check(self.handle, &dead), "mdb_reader_check(\(self.path))")
        return Int(dead)
    }

    // MARK: - Private

    private func core(_ txn: OpaquePointer) -> TransactionCore {
        TransactionCore(txn: txn, maxKeySize: self.maxKeySize, environmentID: self.identifier)
    }

    /// `mkdir -p path` with mode 0o755; throws `ENOTDIR` (as ``StorageError/Code/io``) when `path` is a file.
    private static func makeDirectory(_ path: String) throws(StorageError) {
        do {
            try FileIO.makeDirectories(path)
        } catch  where error.errno == ENOTDIR {
            throw StorageError(
                code: .io, message: "open \(path): ENOTDIR: the path exists and is not a directory", mdbCode: ENOTDIR)
        } catch {
            throw StorageError(mdbCode: error.errno, operation: error.call)
        }
    }

    private static func checkDatabaseName(_ name: String, maxKeySize: Int) throws(StorageError) {
        let operation = "mdb_dbi_open(\(name))"
        if name.isEmpty || name.utf8.contains(0) {
            throw StorageError(
                code: .invalidArgument,
                message: "\(operation): database names must be non-empty and contain no NUL byte",
                mdbCode: EINVAL)
        }
        if name.utf8.count > maxKeySize {
            throw StorageError.badKey(size: name.utf8.count, maxKeySize: maxKeySize, operation: operation)
        }
    }
}

// MARK: - Options

extension Environment {
    /// How the environment is opened. Every field has a default suited to a Freshet server.
    public struct Options: Hashable, Sendable {
        /// The map size in bytes: the largest the data file may grow (default 1 GiB). It reserves address space,
        /// not memory or disk. Rounded by LMDB to a multiple of the page size; raised to the space already used when
        /// an existing environment is larger. Writes past it fail with ``StorageError/Code/mapFull``.
        public var mapSize: Int
        /// The maximum number of named databases (default 256). Each costs a little per transaction, and opening a
        /// handle scans them linearly, so keep it moderate.
        public var maxDatabases: UInt32
        /// The number of reader slots shared by all processes (default 126, which fills the lock file's 8 KiB
        /// exactly). Each ``Reader`` holds one for its life; each running ``Environment/read(_:)``,
        /// ``Environment/copy(to:compact:)`` and opening of a database holds one while it runs. Only the first
        /// process to open the environment sets it.
        public var maxReaders: UInt32
        /// When commits reach the disk (default ``SyncMode/full``).
        public var sync: SyncMode
        /// Open read-only (`MDB_RDONLY`): writes fail with ``StorageError/Code/permissionDenied``, and the directory
        /// must already exist. The lock file is still written.
        public var readOnly: Bool

        /// Creates options; every parameter has the server default.
        public init(
            mapSize: Int = 1 << 30,
            maxDatabases: UInt32 = 256,
            maxReaders: UInt32 = 126,
            sync: SyncMode = .full,
            readOnly: Bool = false
        ) {
            self.mapSize = mapSize
            self.maxDatabases = maxDatabases
            self.maxReaders = maxReaders
            self.sync = sync
            self.readOnly = readOnly
        }
    }

    /// When a commit is flushed to disk.
    public enum SyncMode: Hashable, Sendable {
        /// Flush data and metadata on every commit: a committed transaction survives a crash. The default.
        case full
        /// Flush data but not the metadata page on commit (`MDB_NOMETASYNC`): the database stays intact after a
        /// system crash, but the last committed transaction may be lost. Suits a replica that resumes from its
        /// stored replication offset.
        case noMetaSync
        /// Never flush on commit (`MDB_NOSYNC`). **Unsafe**: a system crash (not a process crash) can lose recent
        /// transactions and, if the file system reorders writes, corrupt the database. Only for tests, bulk loads
        /// that are redone from scratch on failure, or with periodic ``Environment/sync(force:)``.
        case noSync
    }
}

// MARK: - One open per process

/// A process-unique number for each environment, so that a ``Database`` handle cannot be used with another one.
private let nextEnvironmentIdentifier = Atomic<UInt32>(1)

/// The directories open in this process, by device and inode (paths can alias through links and `..`).
private let openDirectories = Mutex<Set<DirectoryIdentity>>([])

/// The device and inode of an environment directory.
private struct DirectoryIdentity: Hashable, Sendable {
    let device: UInt64
    let inode: UInt64

    /// Identifies the existing directory `path`.
    ///
    /// - Throws: ``StorageError/Code/io`` with `ENOENT` when it does not exist, `ENOTDIR` when it is not a
    ///   directory.
    init(path: String) throws(StorageError) {
        var info = stat()
        if stat(path, &info) != 0 {
            throw StorageError(mdbCode: errno, operation: "open \(path)")
        }
        if info.st_mode & S_IFMT != S_IFDIR {
            throw StorageError(
                code: .io,
                message: "open \(path): ENOTDIR: the path exists and is not a directory",
                mdbCode: ENOTDIR)
        }
        self.device = UInt64(info.st_dev)
        self.inode = UInt64(info.st_ino)
    }

    /// Claims the directory for this process.
    ///
    /// - Throws: ``StorageError/Code/alreadyOpen`` when another ``Environment`` of this process has it open.
    func register(path: String) throws(StorageError) {
        let inserted = openDirectories.withLock { $0.insert(self).inserted }
        if !inserted {
            throw StorageError(
                code: .alreadyOpen,
                message: "open \(path): this process already has the environment open; share that "
                    + "Environment instead (LMDB must not be opened twice in one process)",
                mdbCode: EBUSY)
        }
    }

    /// Releases the claim taken by ``register(path:)``.
    func unregister() {
        _ = openDirectories.withLock { $0.remove(self) }
    }
}
