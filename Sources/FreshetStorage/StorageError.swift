// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// The one error type of FreshetStorage: an LMDB return code mapped to a stable code, with the raw value kept.

internal import CLMDB
internal import Glibc

/// An expected storage failure: LMDB returned a non-zero code, or FreshetStorage refused a call before reaching LMDB.
///
/// LMDB reports errors as an `int`: library errors are a distinct negative range (`MDB_KEYEXIST` -30799 …
/// `MDB_BAD_DBI` -30780) and everything else is an `errno` value passed through. ``code`` folds those into a small
/// set that callers can switch on; ``mdbCode`` keeps the raw value for logs; ``message`` names the failed call,
/// e.g. `mdb_put: MDB_MAP_FULL: Environment mapsize limit reached`.
///
/// The message is for logs. It may contain `strerror` text and file paths, so it must not be sent to clients;
/// the server maps ``code`` to a gRPC status at its one boundary.
public struct StorageError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as a stable code.
    public var code: Code
    /// The failed call and LMDB's (or the OS's) explanation. For logs only.
    public var message: String
    /// The raw LMDB or `errno` value. For errors that FreshetStorage detects itself, the code LMDB would have
    /// returned (`MDB_BAD_VALSIZE` for a key that is too large, `EBUSY` for ``Code/alreadyOpen``, ...).
    public var mdbCode: Int32

    /// Creates an error from its parts; for tests and fakes. Errors from LMDB are built inside FreshetStorage.
    public init(code: Code, message: String, mdbCode: Int32) {
        self.code = code
        self.message = message
        self.mdbCode = mdbCode
    }

    /// Builds the error for a non-zero LMDB return code.
    ///
    /// - Parameters:
    ///   - mdbCode: The non-zero value returned by an `mdb_*` function.
    ///   - operation: The call that failed, optionally with context: `mdb_put`, `mdb_env_open(/data/freshet)`.
    package init(mdbCode: Int32, operation: String) {
        self.code = Code(mdbCode: mdbCode)
        self.mdbCode = mdbCode
        self.message = "\(operation): \(StorageError.explain(mdbCode))"
    }

    /// The message (`mdb_put: MDB_MAP_FULL: Environment mapsize limit reached`): it names the operation and LMDB's
    /// or the system's reason, which is what users need to read.
    public var description: String {
        self.message
    }

    /// LMDB's text for its own codes (`MDB_NOTFOUND: No matching key/data pair found`) or `ENAME: strerror` for
    /// an `errno` value.
    private static func explain(_ mdbCode: Int32) -> String {
        if mdbCode >= MDB_KEYEXIST && mdbCode <= MDB_LAST_ERRCODE {
            return String(cString: mdb_strerror(mdbCode))
        }
        // glibc's strerror is MT-safe for known values (it uses a thread-local buffer for unknown ones).
        let text = String(cString: strerror(mdbCode))
        return "\(StorageError.errnoName(mdbCode)): \(text)"
    }

    /// The symbolic name of the errno values LMDB and the file system are likely to return.
    private static func errnoName(_ value: Int32) -> String {
        switch value {
        case EPERM: "EPERM"
        case ENOENT: "ENOENT"
        case EIO: "EIO"
        case ENOMEM: "ENOMEM"
        case EACCES: "EACCES"
        case EBUSY: "EBUSY"
        case EEXIST: "EEXIST"
        case ENOTDIR: "ENOTDIR"
        case EISDIR: "EISDIR"
        case EINVAL: "EINVAL"
        case ENOSPC: "ENOSPC"
        case EROFS: "EROFS"
        case EAGAIN: "EAGAIN"
        case ENAMETOOLONG: "ENAMETOOLONG"
        default: "errno \(value)"
        }
    }

    /// A storage error code.
    ///
    /// A struct over a private enum (like grpc-swift's `Status.Code`), so that codes read like an
    /// enum and new ones can be added without breaking exhaustive switches in callers. Every `MDB_*` code maps to
    /// exactly one of these; the mapping is listed on each member.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: UInt8 {
            case notFound
            case keyExists
            case mapFull
            case mapResized
            case readersFull
            case databasesFull
            case txnFull
            case keyTooLarge
            case badValueSize
            case corrupted
            case panic
            case versionMismatch
            case invalid
            case incompatible
            case badTransaction
            case badDatabase
            case invalidArgument
            case permissionDenied
            case busy
            case alreadyOpen
            case io
            case other
        }

        private let wrapped: Wrapped

        private init(_ wrapped: Wrapped) {
            self.wrapped = wrapped
        }

        /// `MDB_NOTFOUND`: no such key, or no such named database.
        public static let notFound = Code(.notFound)
        /// `MDB_KEYEXIST`: the key/data pair already exists (only with no-overwrite puts).
        public static let keyExists = Code(.keyExists)
        /// `MDB_MAP_FULL`: the environment reached its map size; see ``Environment/setMapSize(_:)``.
        public static let mapFull = Code(.mapFull)
        /// `MDB_MAP_RESIZED`: another process grew the map beyond this process's map size.
        public static let mapResized = Code(.mapResized)
        /// `MDB_READERS_FULL` (and the Windows-only `MDB_TLS_FULL`): no free reader slot; see
        /// ``Environment/Options/maxReaders``.
        public static let readersFull = Code(.readersFull)
        /// `MDB_DBS_FULL`: too many named databases; see ``Environment/Options/maxDatabases``.
        public static let databasesFull = Code(.databasesFull)
        /// `MDB_TXN_FULL`: the write transaction has too many dirty pages; commit in smaller batches.
        public static let txnFull = Code(.txnFull)
        /// A key longer than ``Environment/maxKeySize`` (detected before LMDB is called; raw code
        /// `MDB_BAD_VALSIZE`).
        public static let keyTooLarge = Code(.keyTooLarge)
        /// `MDB_BAD_VALSIZE`: an unsupported key, name or value size (for example an empty key).
        public static let badValueSize = Code(.badValueSize)
        /// `MDB_CORRUPTED`, `MDB_PAGE_NOTFOUND`, and LMDB's "internal error" codes `MDB_PAGE_FULL` and
        /// `MDB_CURSOR_FULL`: the data file is damaged.
        public static let corrupted = Code(.corrupted)
        /// `MDB_PANIC`: an earlier fatal error; the environment must be closed and reopened.
        public static let panic = Code(.panic)
        /// `MDB_VERSION_MISMATCH`: the environment was created by an incompatible LMDB version.
        public static let versionMismatch = Code(.versionMismatch)
        /// `MDB_INVALID`: the file is not an LMDB data file.
        public static let invalid = Code(.invalid)
        /// `MDB_INCOMPATIBLE`: the operation does not fit the database's flags, or a name is not a database.
        public static let incompatible = Code(.incompatible)
        /// `MDB_BAD_TXN` and `MDB_BAD_RSLOT`: the transaction can no longer be used and must be aborted.
        public static let badTransaction = Code(.badTransaction)
        /// `MDB_BAD_DBI`: the database handle was closed or changed unexpectedly.
        public static let badDatabase = Code(.badDatabase)
        /// `EINVAL`: LMDB rejected a parameter (for example a database handle from before the transaction).
        public static let invalidArgument = Code(.invalidArgument)
        /// `EACCES`, `EPERM`, `EROFS`: no permission, or a write in a read-only environment.
        public static let permissionDenied = Code(.permissionDenied)
        /// `EAGAIN`, `EBUSY`: the environment is locked by another process.
        public static let busy = Code(.busy)
        /// The environment is already open in this process (detected before LMDB is called; raw code `EBUSY`).
        public static let alreadyOpen = Code(.alreadyOpen)
        /// Any other `errno` value: `EIO`, `ENOSPC`, `ENOMEM`, `ENOENT`, `ENOTDIR`, ...
        public static let io = Code(.io)
        /// An LMDB code this version of FreshetStorage does not know.
        public static let other = Code(.other)

        /// The code for a raw LMDB or errno value.
        init(mdbCode: Int32) {
            switch mdbCode {
            case MDB_NOTFOUND: self = .notFound
            case MDB_KEYEXIST: self = .keyExists
            case MDB_MAP_FULL: self = .mapFull
            case MDB_MAP_RESIZED: self = .mapResized
            case MDB_READERS_FULL, MDB_TLS_FULL: self = .readersFull
            case MDB_DBS_FULL: self = .databasesFull
            case MDB_TXN_FULL: self = .txnFull
            case MDB_BAD_VALSIZE: self = .badValueSize
            case MDB_CORRUPTED, MDB_PAGE_NOTFOUND, MDB_PAGE_FULL, MDB_CURSOR_FULL: self = .corrupted
            case MDB_PANIC: self = .panic
            case MDB_VERSION_MISMATCH: self = .versionMismatch
            case MDB_INVALID: self = .invalid
            case MDB_INCOMPATIBLE: self = .incompatible
            case MDB_BAD_TXN, MDB_BAD_RSLOT: self = .badTransaction
            case MDB_BAD_DBI: self = .badDatabase
            case EINVAL: self = .invalidArgument
            case EACCES, EPERM, EROFS: self = .permissionDenied
            case EAGAIN, EBUSY: self = .busy
            case 1...: self = .io
            default: self = .other
            }
        }

        /// The upper-case name, in LMDB's style (`MAP_FULL`, `NOT_FOUND`).
        public var description: String {
            switch self.wrapped {
            case .notFound: "NOT_FOUND"
            case .keyExists: "KEY_EXISTS"
            case .mapFull: "MAP_FULL"
            case .mapResized: "MAP_RESIZED"
            case .readersFull: "READERS_FULL"
            case .databasesFull: "DBS_FULL"
            case .txnFull: "TXN_FULL"
            case .keyTooLarge: "KEY_TOO_LARGE"
            case .badValueSize: "BAD_VALSIZE"
            case .corrupted: "CORRUPTED"
            case .panic: "PANIC"
            case .versionMismatch: "VERSION_MISMATCH"
            case .invalid: "INVALID"
            case .incompatible: "INCOMPATIBLE"
            case .badTransaction: "BAD_TXN"
            case .badDatabase: "BAD_DBI"
            case .invalidArgument: "INVALID_ARGUMENT"
            case .permissionDenied: "PERMISSION_DENIED"
            case .busy: "BUSY"
            case .alreadyOpen: "ALREADY_OPEN"
            case .io: "IO"
            case .other: "OTHER"
            }
        }
    }
}

extension StorageError {
    /// Throws the error for `mdbCode` unless it is zero (`MDB_SUCCESS`). The one funnel for LMDB return codes.
    @inline(__always)
    static func check(_ mdbCode: Int32, _ operation: @autoclosure () -> String) throws(StorageError) {
        if mdbCode != 0 {
            throw StorageError(mdbCode: mdbCode, operation: operation())
        }
    }

    /// The error for a key that LMDB would reject: empty, or longer than `maxKeySize`.
    @inline(never)
    static func badKey(size: Int, maxKeySize: Int, operation: String) -> StorageError {
        if size == 0 {
            return StorageError(
                code: .badValueSize, message: "\(operation): keys must not be empty", mdbCode: MDB_BAD_VALSIZE)
        }
        return StorageError(
            code: .keyTooLarge,
            message: "\(operation): key is \(size) bytes, larger than the maximum key size of \(maxKeySize) bytes",
            mdbCode: MDB_BAD_VALSIZE)
    }
}
