// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// The single writer thread: takes validated batches from a bounded queue and commits them in groups.

public import FreshetCore
internal import FreshetPosix
public import FreshetStorage
import Synchronization

/// Owns every replication write transaction of a store.
///
/// Event loops hand batches in with ``submit(_:completion:onRoom:)``; the writer thread takes everything waiting
/// (up to ``Options/maxGroupUpdates``), applies it in one LMDB write transaction with the sources' new positions,
/// commits (with `fsync` under ``Environment/SyncMode/full``), and only then calls each batch's completion. So an
/// ack never precedes durability, and a crash at any moment leaves every batch applied entirely or not at all.
///
/// The queue is bounded (``Options/maxQueuedUpdates``): when it is full ``submit(_:completion:onRoom:)`` refuses the
/// batch and calls `onRoom` once the writer has taken work out, so callers stop reading their streams meanwhile
/// (backpressure through HTTP/2 flow control) instead of growing memory.
///
/// Thread safety: every public member is safe from any thread. Completions and `onRoom` run on the writer thread;
/// they must be quick (hand the result to an event loop's inbox).
public final class ReplicationWriter: Sendable {
    /// Limits of the queue and of one group commit.
    public struct Options: Sendable {
        /// Updates that may wait in the queue (a single larger batch is still taken when the queue is empty).
        public var maxQueuedUpdates = 200_000
        /// Updates committed together at most (a single larger batch is committed alone).
        public var maxGroupUpdates = 100_000

        public init() {}
    }

    /// What the writer has done since it started, for tests and logs.
    public struct Counters: Sendable, Hashable {
        public var commits = 0
        public var batches = 0
        public var refusedSubmits = 0
    }

    private struct Pending: Sendable {
        let batch: ValidatedBatch
        let completion: @Sendable (ApplyOutcome) -> Void
    }

    private struct State: Sendable {
        var queue: [Pending] = []
        var queuedUpdates = 0
        var waiters: [@Sendable () -> Void] = []
        var stopping = false
        var counters = Counters()
    }

    private let environment: Environment
    private let applier: ReplicationApplier
    private let options: Options
    private let logger: Logger
    private let state = Mutex(State())
    /// Counts submits (and the stop request) so the thread sleeps while there is nothing to do.
    private let signal = Semaphore()
    private let thread = Mutex<OSThread?>(nil)

    /// Starts the writer thread for `environment`.
    /// - Throws: ``SystemError`` when the thread cannot start.
    public init(environment: Environment, meta: Database, options: Options = Options(), logger: Logger) throws {
        self.environment = environment
        self.applier = ReplicationApplier(meta: meta)
        self.options = options
        self.logger = logger
        let thread = try OSThread(name: "freshet-writer") { [self] in self.run() }
        self.thread.withLock { $0 = thread }
    }

    /// Queues a batch. Returns false when the queue is full: the batch is not taken, and `onRoom` runs (on the
    /// writer thread) once there is room, so the caller can offer it again.
    public func submit(
        _ batch: ValidatedBatch, completion: @escaping @Sendable (ApplyOutcome) -> Void,
        onRoom: @escaping @Sendable () -> Void
    ) -> Bool {
        let accepted = self.state.withLock { state in
            if state.stopping {
                return false
            }
            if !state.queue.isEmpty && state.queuedUpdates + batch.updates.count > self.options.maxQueuedUpdates {
                state.waiters.append(onRoom)
                state.counters.refusedSubmits += 1
                return false
            }
            state.queue.append(Pending(batch: batch, completion: completion))
            state.queuedUpdates += batch.updates.count
            return true
        }
        if accepted { self.signal.signal() }
        return accepted
    }

    /// Whether the writer stopped taking batches (``stop()`` was called).
    public var isStopping: Bool { self.state.withLock { $0.stopping } }

    /// The counters so far.
    public var counters: Counters { self.state.withLock { $0.counters } }

    /// Applies what is queued, then stops the thread and waits for it. Later submits are refused.
    public func stop() {
        let thread = self.thread.withLock { thread in
            defer { thread = nil }
            return thread
        }
        guard let thread else { return }
        self.state.withLock { $0.stopping = true }
        self.signal.signal()
        thread.join()
    }

    /// Reads a source's position (in a short read transaction).
    public func position(of source: String) throws -> SourcePosition {
        try self.environment.read { try self.applier.position(of: source, in: $0) }
    }

    // MARK: - The writer thread

    private func run() {
        while true {
            self.signal.wait()
            while true {
                let (group, stop, waiters) = self.takeGroup()
                for waiter in waiters { waiter() }
                if group.isEmpty {
                    if stop { return }
                    break
                }
                self.commit(group)
            }
        }
    }

    /// Takes the batches of the next group, and the callers waiting for room (there is room once these are out).
    private func takeGroup() -> ([Pending], Bool, [@Sendable () -> Void]) {
        self.state.withLock { state in
            var count = 0
            var updates = 0
            for pending in state.queue {
                if count > 0 && updates + pending.batch.updates.count > self.options.maxGroupUpdates { break }
                count += 1
                updates += pending.batch.updates.count
            }
            let group = Array(state.queue.prefix(count))
            state.queue.removeFirst(count)
            state.queuedUpdates -= updates
            let waiters = state.waiters
            state.waiters.removeAll()
            return (group, state.stopping && state.queue.isEmpty, waiters)
        }
    }

    private func commit(_ group: [Pending]) {
        let ingestTime = Timestamp.now()
        var outcomes: [ApplyOutcome] = []
        do {
            outcomes = try self.environment.write { transaction in
                var positions: [String: SourcePosition] = [:]
                var results: [ApplyOutcome] = []
                results.reserveCapacity(group.count)
                for pending in group {
                    results.append(
                        try self.applier.apply(
                            pending.batch, ingestTime: ingestTime, positions: &positions, in: transaction))
                }
                try self.applier.writePositions(positions, in: transaction)
                return results
            }
        } catch {
            let failure =
                (error as? StorageError)
                ?? StorageError(code: .other, message: "replication commit failed: \(error)", mdbCode: 0)
            self.logger.error(
                "replication commit failed; the group's batches were not applied",
                ["batches": String(group.count), "error": failure.description])
            outcomes = Array(repeating: .failed(failure), count: group.count)
        }
        self.state.withLock {
            $0.counters.commits += 1
            $0.counters.batches += group.count
        }
        for (pending, outcome) in zip(group, outcomes) {
            pending.completion(outcome)
        }
    }
}
