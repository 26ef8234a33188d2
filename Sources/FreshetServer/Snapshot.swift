// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Snapshots of a data directory (a compacted LMDB copy: rows, registry, schemas and replication positions, all from
// one read transaction) and the bootstrap of a new region from one.

internal import FreshetPosix
internal import FreshetStorage

/// What ``FeatureStore/writeSnapshot(directory:to:)`` wrote.
public struct SnapshotSummary: Sendable {
    /// The snapshot file's size.
    public var bytes: Int
    /// The size of the store's data file when the snapshot was taken (free pages included).
    public var sourceFileBytes: Int
    /// What the snapshot holds: its registry version, views and source positions.
    public var contents: StoreStatistics
}

extension FeatureStore {
    /// Writes a consistent, compacted copy of the store in `directory` to `file`: one LMDB read transaction
    /// (`mdb_env_copy2` with `MDB_CP_COMPACT`), so writers go on meanwhile, and the rows, the registry, the schemas
    /// and every source's position in the file are of one instant. The file appears only once it is complete and
    /// on disk (written beside it, flushed, renamed).
    /// - Throws: ``StorageError`` (no store in `directory`, a full disk, …), ``SystemError`` for the file.
    public static func writeSnapshot(directory: String, to file: String) throws -> SnapshotSummary {
        var options = Environment.Options(mapSize: 0, maxDatabases: 1024)
        options.readOnly = true
        let source = try Environment(path: directory, options: options)
        let staging = try Self.snapshotStaging(for: file)
        defer { Self.removeSnapshotStaging(staging) }
        try source.copy(to: staging, compact: true)
        let contents = try Self.publishSnapshot(staging: staging, as: file)
        return SnapshotSummary(
            bytes: try FileIO.size(of: file) ?? 0,
            sourceFileBytes: try FileIO.size(of: directory + "/data.mdb") ?? 0, contents: contents)
    }

    /// The directory a snapshot for `file` is assembled in (`FILE.partial`, its data file `data.mdb`), emptied of
    /// anything an earlier attempt left.
    public static func snapshotStaging(for file: String) throws -> String {
        let staging = file + ".partial"
        Self.removeSnapshotStaging(staging)
        try FileIO.makeDirectories(staging)
        return staging
    }

    /// Removes a staging directory and what it holds.
    public static func removeSnapshotStaging(_ staging: String) {
        try? FileIO.removeFile(staging + "/data.mdb")
        try? FileIO.removeFile(staging + "/lock.mdb")
        try? FileIO.removeDirectory(staging)
    }

    /// Flushes the snapshot assembled in `staging`, reads what it holds, and renames it to `file`.
    /// - Throws: ``StorageError`` when it is not a readable LMDB store; ``SystemError`` for the files.
    public static func publishSnapshot(staging: String, as file: String) throws -> StoreStatistics {
        try FileIO.sync(staging + "/data.mdb")
        let contents = try Self.inspect(directory: staging)
        try FileIO.rename(staging + "/data.mdb", to: file)
        return contents
    }

    /// The registry version recorded in the store in `directory` (0: none), read without counting anything.
    static func storedRegistryVersion(directory: String) throws -> UInt64 {
        var options = Environment.Options(mapSize: 0, maxDatabases: 1024)
        options.readOnly = true
        let environment = try Environment(path: directory, options: options)
        let meta = try environment.database(named: "freshet/meta", create: false)
        return try environment.read { transaction in
            try transaction.get(meta, key: Self.registryVersionKey).flatMap(Self.registryVersion)
        } ?? 0
    }

    /// The first bytes of an LMDB data file: a page header (16 bytes), then the meta page's magic, 0xBEEFC0DE.
    static let lmdbMagic: [UInt8] = [0xDE, 0xC0, 0xEF, 0xBE]

    /// Makes `snapshot` the store of the new region in `directory`: copies it in as `data.mdb` (written beside it,
    /// flushed, renamed), so a crash leaves either no store or the whole snapshot. Producers then resume from the
    /// snapshot's positions (`GetPosition`), so nothing is applied twice.
    /// - Throws: ``StoreError`` when `directory` holds a store already or `snapshot` is not an LMDB data file;
    ///   ``SystemError`` for the files.
    public static func bootstrap(directory: String, from snapshot: String) throws {
        let target = directory + "/data.mdb"
        if try FileIO.size(of: target) != nil {
            throw StoreError(
                "--bootstrap: \(directory) holds a store already; a snapshot starts a new region in an empty data directory"
            )
        }
        let head = try FileIO.readAll(snapshot, maxBytes: 32)
        guard head.count >= 20, Array(head[16..<20]) == Self.lmdbMagic else {
            throw StoreError("--bootstrap: \(snapshot) is not a Freshet snapshot (not an LMDB data file)")
        }
        try FileIO.makeDirectories(directory)
        let partial = target + ".partial"
        _ = try FileIO.copyFile(snapshot, to: partial)
        try FileIO.rename(partial, to: target)
    }

    /// Undoes ``bootstrap(directory:from:)`` after a start that failed on the snapshot's contents (for example an
    /// LMDB file that is not a Freshet store), leaving the directory as it was.
    public static func undoBootstrap(directory: String) {
        try? FileIO.removeFile(directory + "/data.mdb")
        try? FileIO.removeFile(directory + "/lock.mdb")
    }
}
