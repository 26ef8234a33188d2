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
        if let real = FileIO.realPath(directory), FileIO.realPath(FileIO.parent(of: file)) == real {
            throw StoreError("--out: \(file) is inside the data directory \(directory); write the snapshot elsewhere")
        }
        try Self.checkSnapshotTarget(file)
        var options = Environment.Options(mapSize: 0, maxDatabases: 1024)
        options.readOnly = true
        let source: Environment
        do {
            source = try Environment(path: directory, options: options)
            _ = try source.database(named: "freshet/meta", create: false)
        } catch {
            throw StoreError("no Freshet data directory at \(directory) (\(error))")
        }
        let staging = try Self.snapshotStaging(for: file)
        defer { Self.removeSnapshotStaging(staging) }
        do {
            try source.copy(to: staging, compact: true)
        } catch {
            throw StoreError("cannot write the snapshot \(file): \(error)")
        }
        let contents = try Self.publishSnapshot(staging: staging, as: file)
        return SnapshotSummary(
            bytes: try FileIO.size(of: file) ?? 0,
            sourceFileBytes: try FileIO.size(of: directory + "/data.mdb") ?? 0, contents: contents)
    }

    /// Refuses a snapshot target that is a directory, or that lies in a data directory or in its `snapshots/`
    /// (where it could replace a live data or lock file, or be removed at the server's next start).
    public static func checkSnapshotTarget(_ file: String) throws {
        if file.isEmpty || file.hasSuffix("/") {
            throw StoreError("--out: give a file name, not '\(file)'")
        }
        if FileIO.realPath(file + "/.") != nil {
            throw StoreError("--out: \(file) is a directory; give a file name")
        }
        let parent = FileIO.parent(of: file)
        for directory in [parent, FileIO.parent(of: FileIO.realPath(parent) ?? parent)] {
            if try FileIO.size(of: directory + "/data.mdb") != nil || FileIO.size(of: directory + "/lock.mdb") != nil {
                throw StoreError(
                    "--out: \(file) is inside a data directory (\(directory)) or its snapshots/; write the snapshot elsewhere"
                )
            }
        }
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

    /// Flushes the snapshot assembled in `staging`, reads what it holds (entry counts, registry version and
    /// positions: no row is read), and renames it to `file`.
    /// - Throws: ``StorageError`` when it is not a readable LMDB store; ``SystemError`` for the files.
    public static func publishSnapshot(staging: String, as file: String) throws -> StoreStatistics {
        try FileIO.sync(staging + "/data.mdb")
        if let problem = try Self.snapshotProblem(staging + "/data.mdb") {
            throw StoreError("the snapshot \(problem)")
        }
        let contents = try Self.inspect(directory: staging, entriesOnly: true)
        try FileIO.rename(staging + "/data.mdb", to: file)
        return contents
    }

    /// What makes `path` unusable as a snapshot, or `nil`: not an LMDB data file, or shorter than its pages.
    ///
    /// An LMDB file starts with two meta pages (each a 16-byte page header, then `MDB_meta`: the magic 0xBEEFC0DE,
    /// the format version 1, …, the page size at byte 24 of the meta, the last page number at 120 and the
    /// transaction id at 128). The newer meta's last page must lie inside the file: a copy cut short (a transfer
    /// that stopped) would otherwise be mapped, and reading a page past its end kills the server with SIGBUS.
    public static func snapshotProblem(_ path: String) throws -> String? {
        guard let size = try FileIO.size(of: path) else { return "does not exist" }
        let first = try FileIO.read(path, offset: 0, count: 160)
        func word32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
            (0..<4).reduce(0) { $0 | UInt32(bytes[at + $1]) << (8 * $1) }
        }
        func word64(_ bytes: [UInt8], _ at: Int) -> UInt64 {
            (0..<8).reduce(0) { $0 | UInt64(bytes[at + $1]) << (8 * $1) }
        }
        let notLMDB = "is not a Freshet snapshot (not an LMDB data file)"
        guard first.count == 160, word32(first, 16) == 0xBEEF_C0DE, word32(first, 20) == 1 else { return notLMDB }
        let pageSize = Int(word32(first, 40))
        guard [4096, 8192, 16384, 32768, 65536].contains(pageSize) else { return notLMDB }
        let second = try FileIO.read(path, offset: pageSize, count: 160)
        guard second.count == 160, word32(second, 16) == 0xBEEF_C0DE else {
            return "is cut short: \(size) bytes, not even its two meta pages (an incomplete copy?)"
        }
        let newer = word64(second, 144) > word64(first, 144) ? second : first
        let lastPage = word64(newer, 136)
        guard lastPage < UInt64(Int.max / pageSize) else { return notLMDB }
        let needed = (Int(lastPage) + 1) * pageSize
        guard size >= needed else {
            return "is cut short: \(size) bytes, but its pages need \(needed) (an incomplete copy?)"
        }
        return nil
    }

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
        if let problem = try Self.snapshotProblem(snapshot) {
            throw StoreError("--bootstrap: \(snapshot) \(problem)")
        }
        try FileIO.makeDirectories(directory)
        let partial = target + ".partial"
        let copied = try FileIO.copyFile(snapshot, to: partial)
        guard copied == (try FileIO.size(of: snapshot) ?? -1) else {
            try? FileIO.removeFile(partial)
            throw StoreError("--bootstrap: \(snapshot) changed while it was copied in; nothing was started")
        }
        // Never over a store that appeared while the snapshot was copied (a freshet load, say).
        guard try FileIO.renameWithoutReplacing(partial, to: target) else {
            try? FileIO.removeFile(partial)
            throw StoreError(
                "--bootstrap: a store appeared in \(directory) while \(snapshot) was copied in (a freshet load?); nothing was started, and that store is left as it is"
            )
        }
    }

    /// Removes what a bootstrap killed halfway left (`data.mdb.partial`).
    public static func removeBootstrapLeftovers(directory: String) {
        try? FileIO.removeFile(directory + "/data.mdb.partial")
    }

    /// Undoes ``bootstrap(directory:from:)`` after a start that failed on the snapshot's contents (for example an
    /// LMDB file that is not a Freshet store), leaving the directory as it was.
    public static func undoBootstrap(directory: String) {
        try? FileIO.removeFile(directory + "/data.mdb")
        try? FileIO.removeFile(directory + "/lock.mdb")
    }
}
