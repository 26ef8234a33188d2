// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Tests for reads and writes inside transactions: round trips, zero-copy gets, aborts, deletes and iteration.

import Foundation
import FreshetStorage
import Testing

/// An error thrown by test closures.
struct Boom: Error, Equatable {}

@Suite("Transactions")
struct TransactionTests {
    /// A fresh environment with one database, torn down after `body`.
    private func withDatabase(_ body: (Environment, Database) throws -> Void) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let env = try Environment(path: dir.path, options: testOptions)
        try body(env, try env.database(named: "features", create: true))
    }

    // MARK: - Gets and puts

    @Test("put then get returns the value, through both the byte-array and raw-buffer APIs")
    func putGetRoundTrip() throws {
        try self.withDatabase { env, db in
            let key = bytes("user:42")
            let value: [UInt8] = [0, 1, 2, 0xff, 0]
            try env.write { txn in
                try txn.put(db, key: key, value: value)
                try bytes("raw").withUnsafeBytes { raw in
                    try key.withUnsafeBytes { key in try txn.put(db, key: key, value: raw) }
                }
                // A write transaction sees its own uncommitted writes; the raw put replaced the first.
                #expect(try txn.get(db, key: key) == bytes("raw"))
            }
            try env.read { txn in
                #expect(try txn.get(db, key: key) == bytes("raw"))
                try env.write { try $0.put(db, key: key, value: value) }
                // This snapshot began before that commit.
                #expect(try txn.get(db, key: key) == bytes("raw"))
            }
            #expect(try env.read { try $0.get(db, key: key) } == value)
            // An empty value is a value, not an absence.
            try env.write { try $0.put(db, key: bytes("empty"), value: []) }
            #expect(try env.read { try $0.get(db, key: bytes("empty")) } == [])
        }
    }

    @Test("get returns a pointer into the map: stable within the transaction, no copy")
    func zeroCopyGet() throws {
        try self.withDatabase { env, db in
            // Large enough to live alone on overflow pages, so its address is predictable.
            let large = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 * 7) }
            try env.write { txn in
                try txn.put(db, key: bytes("large"), value: large)
                try txn.put(db, key: bytes("small"), value: bytes("hello"))
            }
            try env.read { txn in
                let first = try bytes("large").withUnsafeBytes { try txn.get(db, key: $0) }
                let second = try bytes("large").withUnsafeBytes { try txn.get(db, key: $0) }
                let value = try #require(first)
                #expect(value.count == large.count)
                #expect(value.elementsEqual(large))
                #expect(value.baseAddress == second?.baseAddress)
                // An overflow page's data starts right after LMDB's 16-byte page header: the pointer is into a
                // page of the memory map, not into a buffer of ours.
                #expect(Int(bitPattern: value.baseAddress) % 4096 == 16)

                let small = try #require(try bytes("small").withUnsafeBytes { try txn.get(db, key: $0) })
                #expect(Array(small) == bytes("hello"))
            }
        }
    }

    @Test("a missing key is nil, not an error")
    func missingKeyIsNil() throws {
        try self.withDatabase { env, db in
            try env.read { txn in
                let copied = try txn.get(db, key: bytes("absent"))
                let raw = try bytes("absent").withUnsafeBytes { try txn.get(db, key: $0) }
                #expect(copied == nil)
                #expect(raw == nil)
            }
        }
    }

    @Test("a write whose body throws is aborted: nothing is written and the error is rethrown as is")
    func writeAbortsOnThrow() throws {
        try self.withDatabase { (env, db) throws in
            #expect(throws: Boom()) {
                try env.write { txn in
                    try txn.put(db, key: bytes("a"), value: bytes("1"))
                    throw Boom()
                }
            }
            #expect(try env.read { try $0.get(db, key: bytes("a")) } == nil)
            #expect(try env.statistics(of: db).entries == 0)
            // The writer lock was released: the next write goes through.
            #expect(
                try env.write { txn in
                    try txn.put(db, key: bytes("b"), value: bytes("2"))
                    return 7
                } == 7)
            #expect(try env.read { try $0.count(db) } == 1)
        }
    }

    @Test("a one-shot read inside a write, on the same thread, sees the last commit (MDB_NOTLS)")
    func readInsideWrite() throws {
        try self.withDatabase { env, db in
            try env.write { txn in
                try txn.put(db, key: bytes("k"), value: bytes("uncommitted"))
                #expect(try env.read { try $0.get(db, key: bytes("k")) } == nil)
            }
            #expect(try env.read { try $0.get(db, key: bytes("k")) } == bytes("uncommitted"))
        }
    }

    // MARK: - Reserved puts

    @Test("putReserved writes the value in place")
    func putReserved() throws {
        try self.withDatabase { env, db in
            try env.write { txn in
                try txn.putReserved(db, key: bytes("r"), count: 16) { buffer in
                    for index in buffer.indices {
                        buffer[index] = UInt8(index)
                    }
                }
                try txn.putReserved(db, key: bytes("zero"), count: 0) { #expect($0.isEmpty) }
            }
            #expect(try env.read { try $0.get(db, key: bytes("r")) } == Array(0..<16))
            #expect(try env.read { try $0.get(db, key: bytes("zero")) } == [])
        }
    }

    @Test("a throwing putReserved fill never commits, even when the body catches the error")
    func putReservedFillThrows() throws {
        try self.withDatabase { env, db in
            try env.write { try $0.put(db, key: bytes("r"), value: bytes("old")) }

            #expect(throws: Boom()) {
                try env.write { txn in
                    try txn.putReserved(db, key: bytes("r"), count: 8) { _ in throw Boom() }
                }
            }
            var later: StorageError?
            let error = #expect(throws: StorageError.self) {
                try env.write { txn in
                    do {
                        try txn.putReserved(db, key: bytes("r"), count: 8) { _ in throw Boom() }
                    } catch {
                        // Swallowed on purpose; the next write in this transaction is refused.
                        do {
                            try txn.put(db, key: bytes("other"), value: bytes("x"))
                        } catch let error as StorageError {
                            later = error
                        }
                    }
                }
            }
            #expect(later?.code == .badTransaction)
            #expect(error?.code == .badTransaction)
            #expect(try env.read { try $0.get(db, key: bytes("r")) } == bytes("old"))
            #expect(try env.read { try $0.get(db, key: bytes("other")) } == nil)
        }
    }

    // MARK: - Keys

    @Test("keys longer than maxKeySize fail with KEY_TOO_LARGE before LMDB; empty keys with BAD_VALSIZE")
    func keySizes() throws {
        try self.withDatabase { env, db in
            #expect(env.maxKeySize == 511)
            let limit = [UInt8](repeating: 1, count: env.maxKeySize)
            let tooLarge = [UInt8](repeating: 1, count: env.maxKeySize + 1)

            try env.write { try $0.put(db, key: limit, value: bytes("ok")) }
            #expect(try env.read { try $0.get(db, key: limit) } == bytes("ok"))

            let put = #expect(throws: StorageError.self) {
                try env.write { try $0.put(db, key: tooLarge, value: bytes("no")) }
            }
            #expect(put?.code == .keyTooLarge)
            #expect(put?.mdbCode == -30781)  // MDB_BAD_VALSIZE, what LMDB itself would return
            #expect(put?.message.contains("512") == true)
            #expect(put?.message.contains("511") == true)
            #expect(put?.message.hasPrefix("mdb_put") == true)

            let get = #expect(throws: StorageError.self) { try env.read { try $0.get(db, key: tooLarge) } }
            #expect(get?.code == .keyTooLarge)
            let delete = #expect(throws: StorageError.self) { try env.write { try $0.delete(db, key: tooLarge) } }
            #expect(delete?.code == .keyTooLarge)
            let reserve = #expect(throws: StorageError.self) {
                try env.write { try $0.putReserved(db, key: tooLarge, count: 1) { $0[0] = 1 } }
            }
            #expect(reserve?.code == .keyTooLarge)

            let empty = #expect(throws: StorageError.self) { try env.write { try $0.put(db, key: [], value: [1]) } }
            #expect(empty?.code == .badValueSize)
            #expect(try env.read { try $0.count(db) } == 1)
        }
    }

    // MARK: - Deletes

    @Test("delete reports presence; clear empties and keeps; drop deletes the database")
    func deleteClearDrop() throws {
        try self.withDatabase { env, db in
            try env.write { txn in
                for key in ["a", "b", "c"] {
                    try txn.put(db, key: bytes(key), value: bytes(key))
                }
            }
            try env.write { txn in
                let present = try txn.delete(db, key: bytes("a"))
                let again = try txn.delete(db, key: bytes("a"))
                let absent = try txn.delete(db, key: bytes("zz"))
                #expect(present && !again && !absent)
            }
            #expect(try env.read { try $0.count(db) } == 2)
            #expect(try env.read { try $0.get(db, key: bytes("a")) } == nil)

            try env.write { try $0.clear(db) }
            #expect(try env.read { try $0.count(db) } == 0)
            #expect(try env.database(named: "features", create: false) == db)
            try env.write { try $0.put(db, key: bytes("d"), value: bytes("d")) }

            try env.write { try $0.drop(db) }
            let gone = #expect(throws: StorageError.self) { try env.database(named: "features", create: false) }
            #expect(gone?.code == .notFound)

            let recreated = try env.database(named: "features", create: true)
            #expect(try env.read { try $0.count(recreated) } == 0)
        }
    }

    // MARK: - Iteration

    @Test("forEach walks keys in bytewise order, from a start key, and stops when asked")
    func iterationOrder() throws {
        try self.withDatabase { env, db in
            let inserted: [[UInt8]] = [
                bytes("b"), bytes("a"), bytes("ab"), bytes("c"), [0x00], [0xff, 0x00], bytes("ba"),
            ]
            try env.write { txn in
                for key in inserted {
                    try txn.put(db, key: key, value: key + [0x2a])
                }
            }
            let ordered: [[UInt8]] = [
                [0x00], bytes("a"), bytes("ab"), bytes("b"), bytes("ba"), bytes("c"), [0xff, 0x00],
            ]

            func walk(from start: [UInt8] = [], limit: Int = .max) throws -> [[UInt8]] {
                try env.read { txn in
                    var keys: [[UInt8]] = []
                    try txn.forEach(db, from: start) { key, value in
                        #expect(Array(value) == Array(key) + [0x2a])
                        keys.append(Array(key))
                        return keys.count < limit
                    }
                    return keys
                }
            }
            #expect(try walk() == ordered)
            #expect(try walk(from: bytes("aa")) == Array(ordered[2...]))
            #expect(try walk(from: bytes("b")) == Array(ordered[3...]))
            #expect(try walk(from: bytes("bb")) == Array(ordered[5...]))
            #expect(try walk(from: [0xff, 0xff]) == [])
            #expect(try walk(limit: 2) == Array(ordered[..<2]))

            #expect(throws: Boom()) {
                try env.read { txn in try txn.forEach(db) { _, _ in throw Boom() } }
            }
            // The same walk inside a write transaction sees uncommitted keys.
            try env.write { txn in
                try txn.put(db, key: bytes("aa"), value: bytes("aa") + [0x2a])
                var keys: [[UInt8]] = []
                try txn.forEach(db, from: bytes("a")) { key, _ in
                    keys.append(Array(key))
                    return keys.count < 3
                }
                #expect(keys == [bytes("a"), bytes("aa"), bytes("ab")])
            }
        }
    }
}
