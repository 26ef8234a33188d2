// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Tests that every LMDB return code maps to the intended StorageError code and message.

import Foundation
import FreshetStorage
import Testing

@Suite("StorageError")
struct StorageErrorTests {
    /// Every `MDB_*` code (values from lmdb.h, stable ABI) and the errno values LMDB passes through.
    static let mapping: [(Int32, StorageError.Code)] = [
        (-30799, .keyExists),  // MDB_KEYEXIST
        (-30798, .notFound),  // MDB_NOTFOUND
        (-30797, .corrupted),  // MDB_PAGE_NOTFOUND
        (-30796, .corrupted),  // MDB_CORRUPTED
        (-30795, .panic),  // MDB_PANIC
        (-30794, .versionMismatch),  // MDB_VERSION_MISMATCH
        (-30793, .invalid),  // MDB_INVALID
        (-30792, .mapFull),  // MDB_MAP_FULL
        (-30791, .databasesFull),  // MDB_DBS_FULL
        (-30790, .readersFull),  // MDB_READERS_FULL
        (-30789, .readersFull),  // MDB_TLS_FULL
        (-30788, .txnFull),  // MDB_TXN_FULL
        (-30787, .corrupted),  // MDB_CURSOR_FULL
        (-30786, .corrupted),  // MDB_PAGE_FULL
        (-30785, .mapResized),  // MDB_MAP_RESIZED
        (-30784, .incompatible),  // MDB_INCOMPATIBLE
        (-30783, .badTransaction),  // MDB_BAD_RSLOT
        (-30782, .badTransaction),  // MDB_BAD_TXN
        (-30781, .badValueSize),  // MDB_BAD_VALSIZE
        (-30780, .badDatabase),  // MDB_BAD_DBI
        (EINVAL, .invalidArgument),
        (EACCES, .permissionDenied),
        (EPERM, .permissionDenied),
        (EROFS, .permissionDenied),
        (EAGAIN, .busy),
        (EBUSY, .busy),
        (EIO, .io),
        (ENOSPC, .io),
        (ENOMEM, .io),
        (ENOENT, .io),
        (-1, .other),
        (-30800, .other),
    ]

    @Test("maps each return code", arguments: StorageErrorTests.mapping)
    func mapsReturnCode(mdbCode: Int32, expected: StorageError.Code) {
        let error = StorageError(mdbCode: mdbCode, operation: "mdb_test")
        #expect(error.code == expected)
        #expect(error.mdbCode == mdbCode)
        #expect(error.message.hasPrefix("mdb_test: "))
    }

    @Test("LMDB codes carry LMDB's text")
    func lmdbMessage() {
        let error = StorageError(mdbCode: -30792, operation: "mdb_put")
        #expect(error.message == "mdb_put: MDB_MAP_FULL: Environment mapsize limit reached")
        #expect(error.description.contains("MAP_FULL"))
    }

    @Test("errno values carry their name and strerror text")
    func errnoMessage() {
        let error = StorageError(mdbCode: ENOENT, operation: "mdb_env_open(/nowhere)")
        #expect(error.message == "mdb_env_open(/nowhere): ENOENT: No such file or directory")
        #expect(error.code == .io)
    }

    @Test("codes are distinct and named")
    func codeNames() {
        let codes: [StorageError.Code] = [
            .notFound, .keyExists, .mapFull, .mapResized, .readersFull, .databasesFull, .txnFull, .keyTooLarge,
            .badValueSize, .corrupted, .panic, .versionMismatch, .invalid, .incompatible, .badTransaction,
            .badDatabase, .invalidArgument, .permissionDenied, .busy, .alreadyOpen, .io, .other,
        ]
        #expect(Set(codes).count == codes.count)
        #expect(Set(codes.map(\.description)).count == codes.count)
        #expect(StorageError.Code.mapFull.description == "MAP_FULL")
    }
}
