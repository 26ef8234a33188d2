// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Tests for opening environments, named databases, map size limits, info, statistics, copies and read-only mode.

import Foundation
import FreshetStorage
import Testing

@Suite("Environment")
struct EnvironmentTests {
    // MARK: - Opening

    @Test("creates the directory, with missing parents, holding data.mdb and lock.mdb")
    func openCreatesDirectory() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.file("a/b/env")
        let env = try Environment(path: path, options: testOptions)
        #expect(env.path == path)
        #expect(env.maxKeySize == 511)

        var isDirectory: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue)
        #expect(FileManager.default.fileExists(atPath: path + "/data.mdb"))
        #expect(FileManager.default.fileExists(atPath: path + "/lock.mdb"))
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        let mode = try #require(attributes[.posixPermissions] as? Int)
        #expect(mode & 0o700 == 0o700)
        #expect(mode & 0o022 == 0)  // 0o755 under any umask that keeps group/other write off
    }

    @Test("data survives closing and reopening")
    func reopenKeepsData() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        do {
            let env = try Environment(path: dir.path, options: Environment.Options(mapSize: 1 << 20))
            let db = try env.database(named: "features", create: true)
            try env.write { try $0.put(db, key: bytes("user:1"), value: bytes("42")) }
        }
        let env = try Environment(path: dir.path, options: Environment.Options(mapSize: 1 << 20))
        let db = try env.database(named: "features", create: false)
        #expect(try env.read { try $0.get(db, key: bytes("user:1")) } == bytes("42"))
    }

    @Test("a regular file as the path fails with ENOTDIR")
    func openOnRegularFileFails() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let file = dir.file("not-a-directory")
        #expect(FileManager.default.createFile(atPath: file, contents: Data("x".utf8)))

        let error = #expect(throws: StorageError.self) {
            try Environment(path: file, options: testOptions)
        }
        #expect(error?.code == .io)
        #expect(error?.mdbCode == ENOTDIR)
        #expect(error?.message.contains(file) == true)
        #expect(error?.message.contains("not a directory") == true)
    }

    @Test("a data.mdb that is not an LMDB file fails with INVALID")
    func openOnGarbageFails() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        #expect(
            FileManager.default.createFile(atPath: dir.file("data.mdb"), contents: Data(repeating: 0xAB, count: 8192)))
        let error = #expect(throws: StorageError.self) {
            try Environment(path: dir.path, options: testOptions)
        }
        #expect(error?.code == .invalid)
        #expect(error?.message.contains("mdb_env_open") == true)
    }

    @Test("a second open of the same directory in one process is refused")
    func secondOpenInProcessRefused() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        do {
            let env = try Environment(path: dir.path, options: testOptions)
            withExtendedLifetime(env) {
                let error = #expect(throws: StorageError.self) {
                    try Environment(path: dir.path, options: testOptions)
                }
                #expect(error?.code == .alreadyOpen)
                #expect(error?.mdbCode == EBUSY)
                // The same directory under another spelling.
                let alias = #expect(throws: StorageError.self) {
                    try Environment(path: dir.path + "/./", options: testOptions)
                }
                #expect(alias?.code == .alreadyOpen)
            }
        }
        // Once the first one is gone, the directory can be opened again.
        _ = try Environment(path: dir.path, options: testOptions)
    }

    @Test("read-only: reads work, writes and creates fail with PERMISSION_DENIED")
    func readOnly() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        do {
            let env = try Environment(path: dir.path, options: testOptions)
            let db = try env.database(named: "features", create: true)
            try env.write { try $0.put(db, key: bytes("k"), value: bytes("v")) }
        }
        var options = testOptions
        options.readOnly = true
        let env = try Environment(path: dir.path, options: options)
        let db = try env.database(named: "features", create: false)
        #expect(try env.read { try $0.get(db, key: bytes("k")) } == bytes("v"))

        let write = #expect(throws: StorageError.self) {
            try env.write { try $0.put(db, key: bytes("k"), value: bytes("w")) }
        }
        #expect(write?.code == .permissionDenied)
        let create = #expect(throws: StorageError.self) {
            try env.database(named: "other", create: true)
        }
        #expect(create?.code == .permissionDenied)
        let sync = #expect(throws: StorageError.self) { try env.sync(force: true) }
        #expect(sync?.code == .permissionDenied)

        let missing = #expect(throws: StorageError.self) {
            try Environment(path: dir.file("missing"), options: options)
        }
        #expect(missing?.code == .io)
        #expect(missing?.mdbCode == ENOENT)
    }

    // MARK: - Named databases

    @Test("many named databases are independent, cached, and reopen by name")
    func manyNamedDatabases() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let count = 50
        do {
            let env = try Environment(path: dir.path, options: testOptions)
            let databases = try (0..<count).map { try env.database(named: "table-\($0)", create: true) }
            #expect(Set(databases).count == count)
            #expect(try env.database(named: "table-7", create: false) == databases[7])
            #expect(try env.database(named: "table-7", create: true) == databases[7])
            try env.write { txn in
                for (index, db) in databases.enumerated() {
                    try txn.put(db, key: bytes("k"), value: bytes("v\(index)"))
                }
            }
            try env.read { txn in
                for (index, db) in databases.enumerated() {
                    let value = try txn.get(db, key: bytes("k"))
                    let count = try txn.count(db)
                    #expect(value == bytes("v\(index)"))
                    #expect(count == 1)
                }
            }
            let missing = #expect(throws: StorageError.self) {
                try env.database(named: "missing", create: false)
            }
            #expect(missing?.code == .notFound)
        }
        let env = try Environment(path: dir.path, options: testOptions)
        let db = try env.database(named: "table-42", create: false)
        #expect(db.name == "table-42")
        #expect(try env.read { try $0.get(db, key: bytes("k")) } == bytes("v42"))
    }

    @Test("more databases than maxDatabases fails with DBS_FULL")
    func databasesFull() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var options = testOptions
        options.maxDatabases = 2
        let env = try Environment(path: dir.path, options: options)
        _ = try env.database(named: "one", create: true)
        _ = try env.database(named: "two", create: true)
        let error = #expect(throws: StorageError.self) {
            try env.database(named: "three", create: true)
        }
        #expect(error?.code == .databasesFull)
    }

    @Test("database names are checked before LMDB sees them")
    func databaseNames() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let env = try Environment(path: dir.path, options: testOptions)
        let empty = #expect(throws: StorageError.self) { try env.database(named: "", create: true) }
        #expect(empty?.code == .invalidArgument)
        let nul = #expect(throws: StorageError.self) { try env.database(named: "a\u{0}b", create: true) }
        #expect(nul?.code == .invalidArgument)
        let long = #expect(throws: StorageError.self) {
            try env.database(named: String(repeating: "n", count: 600), create: true)
        }
        #expect(long?.code == .keyTooLarge)
    }

    // MARK: - Map size

    @Test("filling a tiny map fails with MAP_FULL, and growing the map lets writes continue")
    func mapFull() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let env = try Environment(path: dir.path, options: Environment.Options(mapSize: 64 << 10, sync: .noSync))
        #expect(try env.info().mapSize == 64 << 10)
        let db = try env.database(named: "features", create: true)
        let value = [UInt8](repeating: 7, count: 1024)

        var failure: StorageError?
        var written: UInt64 = 0
        for index in UInt64(0)..<10_000 {
            do {
                try env.write { try $0.put(db, key: encode(index), value: value) }
                written += 1
            } catch let error as StorageError {
                failure = error
                break
            }
        }
        let error = try #require(failure)
        #expect(error.code == .mapFull)
        #expect(error.mdbCode == -30792)  // MDB_MAP_FULL
        #expect(error.message.contains("MDB_MAP_FULL"))
        #expect(written > 0)

        // The failed transaction was aborted; everything committed before it is intact.
        #expect(try env.read { try $0.count(db) } == Int(written))

        try env.setMapSize(1 << 20)
        #expect(try env.info().mapSize == 1 << 20)
        try env.write { try $0.put(db, key: encode(written), value: value) }
        #expect(try env.read { try $0.count(db) } == Int(written) + 1)
    }

    // MARK: - Info and statistics

    @Test("info and statistics describe the environment and its databases")
    func infoAndStatistics() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let env = try Environment(path: dir.path, options: testOptions)
        let db = try env.database(named: "features", create: true)

        let before = try env.info()
        #expect(before.mapSize == testOptions.mapSize)
        #expect(before.pageSize == Int(sysconf(Int32(_SC_PAGESIZE))))
        #expect(before.maxReaders == 126)
        #expect(before.usedBytes == (before.lastPageNumber + 1) * before.pageSize)

        for index in UInt64(0)..<3 {
            try env.write { try $0.put(db, key: encode(index), value: bytes("value")) }
        }
        let reader = try env.makeReader()
        let after = try env.info()
        #expect(after.lastTransactionID == before.lastTransactionID + 3)
        #expect(after.lastPageNumber >= before.lastPageNumber)
        #expect(after.readerSlotsUsed >= 1)
        #expect(try reader.withTransaction { $0.id } == after.lastTransactionID)

        let statistics = try env.statistics(of: db)
        #expect(statistics.entries == 3)
        #expect(statistics.depth == 1)
        #expect(statistics.leafPages == 1)
        #expect(statistics.branchPages == 0)
        #expect(statistics.overflowPages == 0)
        #expect(statistics.pageSize == before.pageSize)
        #expect(try env.clearStaleReaders() == 0)
        try env.sync(force: true)
    }

    // MARK: - Copy

    @Test("a compacting copy opens as an environment with the same data, in a smaller file")
    func compactingCopy() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let source = try Environment(path: dir.file("source"), options: testOptions)
        let features = try source.database(named: "features", create: true)
        let meta = try source.database(named: "meta", create: true)
        try source.write { txn in
            for index in UInt64(0)..<2_000 {
                try txn.put(features, key: encode(index), value: [UInt8](repeating: UInt8(index & 0xff), count: 100))
            }
            try txn.put(meta, key: bytes("offset"), value: encode(2_000))
        }
        try source.write { txn in
            for index in stride(from: UInt64(0), to: 2_000, by: 2) {
                try txn.delete(features, key: encode(index))
            }
        }

        try source.copy(to: dir.file("compact"), compact: true)
        try source.copy(to: dir.file("plain"), compact: false)
        let again = #expect(throws: StorageError.self) {
            try source.copy(to: dir.file("compact"), compact: true)
        }
        #expect(again?.code == .io)
        #expect(again?.mdbCode == EEXIST)

        let copy = try Environment(path: dir.file("compact"), options: testOptions)
        let copiedFeatures = try copy.database(named: "features", create: false)
        let copiedMeta = try copy.database(named: "meta", create: false)
        #expect(try entries(copiedFeatures, in: copy) == entries(features, in: source))
        #expect(try entries(copiedMeta, in: copy) == entries(meta, in: source))
        // A compacting copy restarts transaction IDs (LMDB writes it as transaction 1), while a plain copy keeps
        // them: replication offsets must live in the data (here "meta"), never be LMDB transaction IDs.
        let plain = try Environment(path: dir.file("plain"), options: testOptions)
        #expect(try plain.read { $0.id } == source.read { $0.id })
        #expect(try copy.read { $0.id } == 1)

        func size(_ name: String) throws -> Int {
            try #require(FileManager.default.attributesOfItem(atPath: dir.file(name) + "/data.mdb")[.size] as? Int)
        }
        #expect(try size("compact") < size("plain"))
    }
}
