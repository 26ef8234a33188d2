// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Tests for recycled readers: visibility of later commits (from this and another process), concurrency, and traps.

import Foundation
import FreshetStorage
import Synchronization
import Testing

@Suite("Reader")
struct ReaderTests {
    @Test("a reader sees commits made after it was created, and databases opened after it")
    func readerSeesNewerCommits() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let env = try Environment(path: dir.path, options: testOptions)
        let reader = try env.makeReader()
        let db = try env.database(named: "features", create: true)

        #expect(try reader.withTransaction { try $0.get(db, key: bytes("k")) } == nil)
        for version in UInt64(1)...3 {
            try env.write { try $0.put(db, key: bytes("k"), value: encode(version)) }
            let seen = try reader.withTransaction { txn in decode(try txn.get(db, key: bytes("k"))) }
            #expect(seen == version)
        }
        // Between calls the reader holds no snapshot: the transaction ID moves with the commits.
        let before = try reader.withTransaction { $0.id }
        try env.write { try $0.put(db, key: bytes("other"), value: bytes("x")) }
        #expect(try reader.withTransaction { $0.id } == before + 1)
    }

    @Test("a reader sees a commit made by another process")
    func readerSeesCommitFromAnotherProcess() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let env = try Environment(path: dir.path, options: testOptions)
        let db = try env.database(named: "features", create: true)
        try env.write { try $0.put(db, key: bytes("k"), value: bytes("parent")) }

        let loop = try ReaderThread(environment: env)
        defer { loop.stop() }
        let before = try await loop.run { reader in try reader.withTransaction { try $0.get(db, key: bytes("k")) } }
        #expect(before == bytes("parent"))

        // A real second process: LMDB must not be opened twice in one process (Environment refuses it).
        await #expect(processExitsWith: .success) { [path = dir.path as String] in
            let other = try Environment(path: path, options: testOptions)
            let db = try other.database(named: "features", create: false)
            try other.write { txn in
                try txn.put(db, key: bytes("k"), value: bytes("child"))
                try txn.put(db, key: bytes("pid"), value: encode(UInt64(getpid())))
            }
        }

        let (value, pid) = try await loop.run { reader in
            try reader.withTransaction { txn in
                (try txn.get(db, key: bytes("k")), decode(try txn.get(db, key: bytes("pid"))))
            }
        }
        #expect(value == bytes("child"))
        #expect(pid != nil && pid != UInt64(getpid()))
    }

    @Test("a map grown by another process is adopted, not a permanent MAP_RESIZED")
    func adoptsMapGrownByAnotherProcess() async throws {
        // Regression: after a `freshet load --map-size` larger than the server's grew the file, every lookup of the
        // running server failed with MDB_MAP_RESIZED until a restart.
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var small = testOptions
        small.mapSize = 1 << 20
        let env = try Environment(path: dir.path, options: small)
        let db = try env.database(named: "features", create: true)
        try env.write { try $0.put(db, key: bytes("first"), value: bytes("parent")) }
        let loop = try ReaderThread(environment: env)
        defer { loop.stop() }
        #expect(
            try await loop.run { reader in try reader.withTransaction { try $0.get(db, key: bytes("first")) } }
                == bytes("parent"))

        await #expect(processExitsWith: .success) { [path = dir.path as String] in
            var large = testOptions
            large.mapSize = 64 << 20
            let other = try Environment(path: path, options: large)
            let db = try other.database(named: "features", create: false)
            let value = [UInt8](repeating: 7, count: 4096)
            try other.write { txn in
                for index in 0..<1500 { try txn.put(db, key: bytes("key-\(index)"), value: value) }
            }
        }
        #expect(try env.info().mapSize == 1 << 20, "not adopted yet")
        let seen = try await loop.run { reader in
            try reader.withTransaction { txn in (try txn.get(db, key: bytes("key-1499"))?.count, try txn.count(db)) }
        }
        #expect(seen.0 == 4096)
        #expect(seen.1 == 1501)
        #expect(try env.info().mapSize >= 6 << 20, "the larger size was adopted")
        // One-shot reads and writes adopt it too.
        #expect(try env.read { try $0.count(db) } == 1501)
        try env.write { try $0.put(db, key: bytes("after"), value: bytes("ok")) }
    }

    @Test("readers on several threads while one thread writes: consistent, monotonic snapshots")
    func concurrentReadersAndWriter() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let env = try Environment(path: dir.path, options: testOptions)
        let db = try env.database(named: "features", create: true)
        let writes: UInt64 = 300
        let readerCount = 3

        final class Shared: Sendable {
            let done = Atomic<Bool>(false)
            let failures = Mutex<[String]>([])
            let finalValues = Mutex<[UInt64]>([])
            let reads = Atomic<Int>(0)
            /// Readers that have finished their first read; the writer starts when all have.
            let ready = Atomic<Int>(0)
        }
        let shared = Shared()
        let group = DispatchGroup()

        for _ in 0..<readerCount {
            group.enter()
            Thread {
                var announced = false
                defer {
                    if !announced {
                        shared.ready.add(1, ordering: .releasing)
                    }
                    group.leave()
                }
                do {
                    let reader = try env.makeReader()
                    var last: UInt64 = 0
                    while true {
                        let finished = shared.done.load(ordering: .acquiring)
                        // Each transaction writes "a" and "b" together: a snapshot must never see them differ.
                        let (a, b) = try reader.withTransaction { txn in
                            (
                                decode(try txn.get(db, key: bytes("a"))) ?? 0,
                                decode(try txn.get(db, key: bytes("b"))) ?? 0
                            )
                        }
                        shared.reads.add(1, ordering: .relaxed)
                        if a != b {
                            shared.failures.withLock { $0.append("torn snapshot a=\(a) b=\(b)") }
                        }
                        if a < last {
                            shared.failures.withLock { $0.append("went back from \(last) to \(a)") }
                        }
                        last = a
                        if !announced {
                            announced = true
                            shared.ready.add(1, ordering: .releasing)
                        }
                        if finished {
                            shared.finalValues.withLock { $0.append(last) }
                            return
                        }
                    }
                } catch {
                    shared.failures.withLock { $0.append("reader: \(error)") }
                }
            }.start()
        }

        group.enter()
        Thread {
            defer { group.leave() }
            // Start writing only once every reader is running, so reads and writes overlap.
            while shared.ready.load(ordering: .acquiring) < readerCount {
                sched_yield()
            }
            do {
                for value in UInt64(1)...writes {
                    try env.write { txn in
                        try txn.put(db, key: bytes("a"), value: encode(value))
                        try txn.put(db, key: bytes("b"), value: encode(value))
                    }
                    // Spread the commits out so the readers interleave with them (on 2 cores a burst of commits
                    // can otherwise finish within one scheduler slice).
                    usleep(20)
                }
            } catch {
                shared.failures.withLock { $0.append("writer: \(error)") }
            }
            shared.done.store(true, ordering: .releasing)
        }.start()

        #expect(group.wait(timeout: .now() + 60) == .success)
        #expect(shared.failures.withLock { $0 } == [])
        // A read that began after the last commit sees it.
        #expect(shared.finalValues.withLock { $0 } == Array(repeating: writes, count: readerCount))
        #expect(shared.reads.load(ordering: .relaxed) >= readerCount)
    }

    // MARK: - Traps (each runs in a child process)

    @Test("using a reader on another thread traps")
    func readerOnAnotherThreadTraps() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        await #expect(processExitsWith: .failure) { [path = dir.path as String] in
            let env = try Environment(path: path, options: testOptions)
            let reader = UncheckedSendableBox(try env.makeReader())
            let returned = DispatchSemaphore(value: 0)
            Thread {
                _ = try? reader.value.withTransaction { $0.id }
                returned.signal()
            }.start()
            returned.wait()  // Reached only if the precondition did not fire.
        }
    }

    @Test("a nested withTransaction on one reader traps")
    func nestedReaderTraps() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        await #expect(processExitsWith: .failure) { [path = dir.path as String] in
            let env = try Environment(path: path, options: testOptions)
            let reader = try env.makeReader()
            _ = try reader.withTransaction { _ in try reader.withTransaction { $0.id } }
        }
    }

    @Test("a write nested in a write on the same thread traps instead of deadlocking")
    func nestedWriteTraps() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        await #expect(processExitsWith: .failure) { [path = dir.path as String] in
            let env = try Environment(path: path, options: testOptions)
            try env.write { _ in try env.write { _ in } }
        }
    }

    @Test("a database handle of another environment traps")
    func foreignDatabaseTraps() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        await #expect(processExitsWith: .failure) { [path = dir.path as String] in
            let first = try Environment(path: path + "/first", options: testOptions)
            let second = try Environment(path: path + "/second", options: testOptions)
            let foreign = try first.database(named: "features", create: true)
            _ = try second.database(named: "features", create: true)
            _ = try second.read { try $0.get(foreign, key: bytes("k")) }
        }
    }
}
