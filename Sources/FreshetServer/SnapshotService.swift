// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// `freshet.v1.Admin` snapshots of a running server: CreateSnapshot, ReadSnapshot, DeleteSnapshot.

internal import FreshetCore
internal import FreshetGRPC
internal import FreshetPosix
internal import FreshetProto
internal import FreshetStorage
import Synchronization

/// Snapshots of the running store, written to the data directory's `snapshots/` and pulled by clients in chunks.
///
/// A pull design keeps the transport simple and the server safe: a slow or vanished client holds a file, not
/// memory or a stream, and an interrupted download resumes from its offset. The copy runs on a thread of its own
/// (an LMDB read transaction: lookups and replication go on), the chunk reads on one reader thread, never on an
/// event loop.
///
/// Thread safety: the sessions are behind a mutex; everything else is immutable.
final class SnapshotService: Sendable {
    struct Session: Sendable {
        var bytes: Int?
        var lastUsed: ContinuousClock.Instant
    }

    /// At most this many snapshots exist at once (each is a full compacted copy on disk).
    static let maxSnapshots = 2
    /// A snapshot not read for this long is removed (a client that died mid-download holds its place no longer).
    static let idleLimit = Duration.seconds(120)
    /// The largest chunk a ReadSnapshot returns.
    static let maxChunk = 1 << 20

    let store: FeatureStore
    let directory: String
    let maxChunk: Int
    let logger: Logger
    private let sessions = Mutex<[String: Session]>([:])
    private let reader: SerialWorker

    /// Removes what earlier runs left in `DATA/snapshots`.
    init(store: FeatureStore, dataDirectory: String, maxMessageBytes: Int, logger: Logger) throws {
        self.store = store
        self.directory = dataDirectory + "/snapshots"
        self.maxChunk = min(Self.maxChunk, maxMessageBytes - 64)
        self.logger = logger
        self.reader = try SerialWorker(name: "freshet-snapshot-read")
        for name in try FileIO.list(self.directory) { Self.remove(self.directory + "/" + name) }
    }

    private func path(_ id: String) -> String { self.directory + "/" + id + ".mdb" }

    /// Removes every finished snapshot (at shutdown: they are the clients' copies, and a restart removes them
    /// anyway).
    func removeAll() {
        let ids = self.sessions.withLock { sessions -> [String] in
            let done = sessions.filter { $0.value.bytes != nil }.map(\.key)
            for id in done { sessions[id] = nil }
            return done
        }
        for id in ids { Self.remove(self.path(id)) }
    }

    /// Removes a snapshot file, or a staging directory with the copy's files.
    private static func remove(_ path: String) {
        FeatureStore.removeSnapshotStaging(path)
        try? FileIO.removeFile(path)
    }

    /// Removes the snapshots nobody read for ``idleLimit`` (and that are not being written).
    private func sweep() {
        let now = ContinuousClock.now
        let stale = self.sessions.withLock { sessions -> [String] in
            let ids = sessions.filter { $0.value.bytes != nil && now - $0.value.lastUsed > Self.idleLimit }.map(\.key)
            for id in ids { sessions[id] = nil }
            return ids
        }
        for id in stale {
            Self.remove(self.path(id))
            self.logger.info("snapshot removed after 2 minutes unread", ["id": id])
        }
    }

    /// `CreateSnapshot`: answers once the copy is complete.
    func createSnapshot(
        _ context: ServerCallContext, _ responder: ServerStreamResponder
    ) throws(GRPCStatus) -> any StreamingCall {
        DeferredUnaryCall(responder: responder) { [self] bytes, reply in
            guard bytes.withUnsafeBytes({ AdminCodec.isWellFormed($0) }) else {
                reply(
                    .failure(
                        GRPCStatus(.invalidArgument, "the request is not a valid freshet.v1.CreateSnapshotRequest")))
                return
            }
            self.sweep()
            let id = String(UInt64.random(in: 1...UInt64.max), radix: 16)
            let admitted = self.sessions.withLock { sessions -> Bool in
                guard sessions.count < Self.maxSnapshots else { return false }
                sessions[id] = Session(bytes: nil, lastUsed: .now)
                return true
            }
            guard admitted else {
                let now = ContinuousClock.now
                let existing = self.sessions.withLock { sessions in
                    sessions.map { id, session in
                        "\(id) (\(session.bytes == nil ? "being written" : "last read \((now - session.lastUsed).freshetDescription) ago"))"
                    }.sorted()
                }
                reply(
                    .failure(
                        GRPCStatus(
                            .resourceExhausted,
                            "\(Self.maxSnapshots) snapshots exist already on this server: \(existing.joined(separator: ", ")); delete one (DeleteSnapshot) or wait until it goes unread for 2 minutes"
                        )))
                return
            }
            do {
                try OSThread(name: "freshet-snapshot") { [self] in reply(self.write(id)) }.detach()
            } catch {
                self.sessions.withLock { $0[id] = nil }
                reply(.failure(GRPCStatus(.unavailable, "cannot start the snapshot: \(error)")))
            }
        }
    }

    /// Writes snapshot `id` (on its own thread) and returns the `SnapshotInfo` answer.
    private func write(_ id: String) -> Result<[UInt8], GRPCStatus> {
        let staging = self.directory + "/" + id + ".partial"
        let started = ContinuousClock.now
        do {
            try self.store.environment.copy(to: staging, compact: true)
            let version = try FeatureStore.publishSnapshot(staging: staging, as: self.path(id)).registryVersion
            Self.remove(staging)
            let bytes = try FileIO.size(of: self.path(id)) ?? 0
            self.sessions.withLock { $0[id] = Session(bytes: bytes, lastUsed: .now) }
            self.logger.info(
                "snapshot written",
                [
                    "id": id, "bytes": String(bytes), "registry_version": String(version),
                    "took": (ContinuousClock.now - started).freshetDescription,
                ])
            var response: [UInt8] = []
            AdminCodec.appendSnapshotInfo(
                SnapshotInfoMessage(id: id, bytes: UInt64(bytes), registryVersion: version), to: &response)
            return .success(response)
        } catch {
            Self.remove(staging)
            Self.remove(self.path(id))
            self.sessions.withLock { $0[id] = nil }
            self.logger.error("snapshot failed", ["id": id, "error": "\(error)"])
            return .failure(GRPCStatus(.internalError, "the snapshot failed on the server: \(error)"))
        }
    }

    /// `ReadSnapshot`: one chunk, read on the reader thread.
    func readSnapshot(
        _ context: ServerCallContext, _ responder: ServerStreamResponder
    ) throws(GRPCStatus) -> any StreamingCall {
        DeferredUnaryCall(responder: responder) { [self] bytes, reply in
            guard let request = bytes.withUnsafeBytes({ AdminCodec.decodeReadSnapshotRequest($0) }) else {
                reply(
                    .failure(GRPCStatus(.invalidArgument, "the request is not a valid freshet.v1.ReadSnapshotRequest")))
                return
            }
            self.sweep()
            let size = self.sessions.withLock { sessions -> Int? in
                guard let bytes = sessions[request.id]?.bytes else { return nil }
                sessions[request.id]?.lastUsed = .now
                return bytes
            }
            guard let size else {
                reply(
                    .failure(
                        GRPCStatus(
                            .notFound,
                            "no snapshot '\(request.id)' on this server (unknown, still being written, deleted, or removed after 2 minutes unread)"
                        )))
                return
            }
            guard request.offset <= UInt64(size) else {
                reply(
                    .failure(GRPCStatus(.outOfRange, "offset \(request.offset) is past the snapshot's \(size) bytes")))
                return
            }
            let offset = Int(request.offset)
            let count = min(request.maxBytes == 0 ? self.maxChunk : Int(request.maxBytes), self.maxChunk, size - offset)
            let path = self.path(request.id)
            self.reader.submit {
                do {
                    let data = try FileIO.read(path, offset: offset, count: count)
                    var response: [UInt8] = []
                    AdminCodec.appendSnapshotChunk(data, end: offset + data.count >= size, to: &response)
                    reply(.success(response))
                } catch {
                    reply(.failure(GRPCStatus(.notFound, "snapshot '\(request.id)' cannot be read: \(error)")))
                }
            }
        }
    }

    /// `DeleteSnapshot`.
    func deleteSnapshot(
        _ request: UnsafeRawBufferPointer, _ context: ServerCallContext, _ response: inout [UInt8]
    ) throws(GRPCStatus) {
        guard let id = AdminCodec.decodeSnapshotID(request) else {
            throw GRPCStatus(.invalidArgument, "the request is not a valid freshet.v1.DeleteSnapshotRequest")
        }
        let removed = self.sessions.withLock { sessions -> Bool in
            guard sessions[id]?.bytes != nil else { return false }
            sessions[id] = nil
            return true
        }
        guard removed else { throw GRPCStatus(.notFound, "no snapshot '\(id)' on this server") }
        Self.remove(self.path(id))
    }
}

/// One thread that runs submitted closures in order.
final class SerialWorker: Sendable {
    private let queue = Mutex<[@Sendable () -> Void]>([])
    private let ready = Semaphore()

    init(name: String) throws {
        // The thread keeps the worker alive: it serves as long as the process runs.
        try OSThread(name: name) { [self] in
            while true {
                self.ready.wait()
                let work = self.queue.withLock { $0.isEmpty ? nil : $0.removeFirst() }
                work?()
            }
        }.detach()
    }

    func submit(_ work: @escaping @Sendable () -> Void) {
        self.queue.withLock { $0.append(work) }
        self.ready.signal()
    }
}
