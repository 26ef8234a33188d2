// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// The replication pipeline behind the event loops: a decoder thread checks batches, a writer thread commits them in
// groups; both run below the loops' priority.

public import FreshetCore
internal import FreshetPosix
public import FreshetProto
public import FreshetStorage
import Synchronization

/// Marks the batches of one `Replicate` stream, so that once one of them is refused (invalid, or a gap) the later
/// ones already handed in are not applied either: the stream ends at its first failure.
///
/// Thread safety: an atomic flag; set by the pipeline threads, read by them.
public final class ReplicationStreamToken: Sendable {
    private let failed = Atomic<Bool>(false)

    public init() {}

    /// Whether a batch of this stream was refused.
    public var hasFailed: Bool { self.failed.load(ordering: .acquiring) }

    func fail() { self.failed.store(true, ordering: .releasing) }
}

/// What the pipeline did with one submitted batch.
public enum ApplyOutcome: Sendable {
    /// Committed (durably, with `--sync full`); the ack to send.
    case applied(ReplicateAckMessage)
    /// `first_sequence` is past position + 1; nothing was applied. `expected` is position + 1.
    case gap(expected: UInt64)
    /// The bytes are not a valid batch, or the batch fails the registry checks; nothing was applied. The message
    /// names the batch, the update and the field.
    case rejected(String)
    /// Not applied because an earlier batch of the same stream was rejected or left a gap.
    case abandoned
    /// The transaction failed (the store is full, an I/O error); nothing of the batch was applied.
    case failed(StorageError)
}

/// Applies every replication batch of a store, off the event loops.
///
/// Event loops hand in raw `UpdateBatch` bytes with ``submit(_:stream:completion:onRoom:)``. Two threads follow:
/// - the **decoder** decodes each batch and checks it against the registry (``UpdateValidator``): a few
///   microseconds per update, which must not stall the lookups served on the loops;
/// - the **writer** takes every checked batch waiting (up to ``Options/maxGroupUpdates``), applies them in one
///   LMDB write transaction with the sources' new positions, commits (with `fsync` under
///   ``Environment/SyncMode/full``), and only then calls each batch's completion, in submission order. So an ack
///   never precedes durability, and a crash at any moment leaves every batch applied entirely or not at all.
///
/// Both threads run below the loops' priority (``Options/priority``, SCHED_IDLE by default): when a loop wakes up
/// with a lookup to serve, the kernel runs it first, so lookups keep their latency while replication uses the CPU
/// they leave. (Measured: lookup p99 under a flat-out push was about 4 ms at nice 0, 10 or 19, and about 1 ms with
/// SCHED_IDLE, on 2 vCPUs; `Benchmarks/replication`.)
///
/// Both queues are bounded (``Options/maxQueuedBytes`` of raw batches, ``Options/maxQueuedUpdates`` of checked
/// ones): when the raw queue is full, ``submit(_:stream:completion:onRoom:)`` refuses the batch and calls `onRoom`
/// once the decoder has taken work out, so callers stop reading their streams meanwhile (backpressure through HTTP/2
/// flow control) instead of growing memory.
///
/// Thread safety: every public member is safe from any thread. Completions and `onRoom` run on the pipeline's
/// threads; they must be quick (hand the result to an event loop's inbox).
public final class ReplicationWriter: Sendable {
    /// Limits of the queues and of one group commit.
    public struct Options: Sendable {
        /// Bytes of raw batches that may wait for the decoder (a single larger batch is still taken when the queue
        /// is empty).
        public var maxQueuedBytes = 32 << 20
        /// Updates that may wait in either queue (checked batches, and batches submitted already checked).
        public var maxQueuedUpdates = 200_000
        /// Updates committed together at most (a single larger batch is committed alone).
        public var maxGroupUpdates = 100_000
        /// The scheduling priority of the decoder and writer threads.
        public var priority = Priority.idle

        public init() {}
    }

    /// How the pipeline's threads share the CPU with the event loops.
    public enum Priority: String, Sendable, CaseIterable {
        /// SCHED_IDLE: replication uses only CPU time the loops leave, and a loop that wakes up with a lookup
        /// preempts it at once. Lookups keep their latency; when the loops saturate every CPU, replication slows to
        /// a crawl (its lag grows) until they have time to spare.
        case idle
        /// nice 10: replication gets about a tenth of a CPU's share next to a busy loop.
        case low
        /// The loops' own priority: replication and lookups share the CPU evenly.
        case normal
    }

    /// What the pipeline has done since it started, for tests and logs.
    public struct Counters: Sendable, Hashable {
        public var commits = 0
        public var batches = 0
        public var refusedSubmits = 0
    }

    private enum Input: Sendable {
        case raw([UInt8])
        case checked(ValidatedBatch)
        case control(@Sendable () -> Void)
    }

    private struct Submitted: Sendable {
        let input: Input
        let stream: ReplicationStreamToken
        let completion: @Sendable (ApplyOutcome) -> Void
    }

    private enum Checked: Sendable {
        case batch(ValidatedBatch)
        case refused(ApplyOutcome)
        /// Work for the writer thread alone; the decoder waits for `done` before it checks the next batch.
        case control(@Sendable () -> Void, done: Semaphore)
    }

    private struct Ready: Sendable {
        let checked: Checked
        let stream: ReplicationStreamToken
        let completion: @Sendable (ApplyOutcome) -> Void

        var updates: Int {
            if case .batch(let batch) = self.checked { return batch.updates.count }
            return 0
        }
    }

    private struct State: Sendable {
        var submitted: [Submitted] = []
        var submittedBytes = 0
        var submittedUpdates = 0
        var ready: [Ready] = []
        var readyUpdates = 0
        var waiters: [@Sendable () -> Void] = []
        var stopping = false
        var decoderDone = false
        var counters = Counters()
    }

    private let environment: Environment
    private let applier: ReplicationApplier
    /// The checks in force (a registry change replaces them; the decoder asks before each batch).
    private let validator: (@Sendable () -> UpdateValidator)?
    private let options: Options
    private let logger: Logger
    private let state = Mutex(State())
    /// Wakes the decoder: a submit, room in the ready queue, or the stop request.
    private let decoderSignal = Semaphore()
    /// Wakes the writer: a checked batch, or the decoder's end.
    private let writerSignal = Semaphore()
    private let threads = Mutex<[OSThread]>([])
    /// A failing commit (a full store) repeats for every batch a producer resends: one log line per 10 s.
    private let commitWarnings = Mutex(LogThrottle())

    /// Starts the decoder and writer threads for `environment`.
    /// - Parameter validator: checks raw batches; without one, only already checked batches may be submitted.
    /// - Throws: ``SystemError`` when a thread cannot start.
    public convenience init(
        environment: Environment, meta: Database, validator: UpdateValidator? = nil, options: Options = Options(),
        logger: Logger
    ) throws {
        var current: (@Sendable () -> UpdateValidator)?
        if let validator { current = { validator } }
        try self.init(
            environment: environment, meta: meta, currentValidator: current, options: options, logger: logger)
    }

    /// Starts the decoder and writer threads for `environment`.
    /// - Parameter currentValidator: returns the checks in force; asked before each raw batch is checked. A
    ///   change of checks made by a ``perform(_:)`` work item applies to every batch submitted after it.
    /// - Throws: ``SystemError`` when a thread cannot start.
    public init(
        environment: Environment, meta: Database, currentValidator: (@Sendable () -> UpdateValidator)?,
        options: Options = Options(), logger: Logger
    ) throws {
        self.environment = environment
        self.applier = ReplicationApplier(meta: meta)
        self.validator = currentValidator
        self.options = options
        self.logger = logger
        let decoder = try OSThread(name: "freshet-decoder") { [self] in
            self.lowerPriority()
            self.runDecoder()
        }
        let writer = try OSThread(name: "freshet-writer") { [self] in
            self.lowerPriority()
            self.runWriter()
        }
        self.threads.withLock { $0 = [decoder, writer] }
    }

    private func lowerPriority() {
        let done: Bool
        switch self.options.priority {
        case .idle: done = OSThread.makeCurrentIdlePriority()
        case .low: done = OSThread.lowerCurrentPriority(toNice: 10)
        case .normal: done = true
        }
        if !done {
            self.logger.warning(
                "cannot lower the replication threads' priority; lookups may wait behind replication",
                ["priority": "\(self.options.priority)"])
        }
    }

    /// Hands in a raw `UpdateBatch` of the stream `stream`. Returns false when the queue is full: the batch is not
    /// taken, and `onRoom` runs (on a pipeline thread) once there is room, so the caller can offer it again.
    /// - Precondition: the writer was created with a validator.
    public func submit(
        _ bytes: [UInt8], stream: ReplicationStreamToken, completion: @escaping @Sendable (ApplyOutcome) -> Void,
        onRoom: @escaping @Sendable () -> Void
    ) -> Bool {
        precondition(self.validator != nil, "submitting raw batches needs a validator")
        return self.enqueue(
            Submitted(input: .raw(bytes), stream: stream, completion: completion), bytes: bytes.count, updates: 0,
            onRoom: onRoom)
    }

    /// Hands in a batch that was checked already (tools and tests). As ``submit(_:stream:completion:onRoom:)``.
    public func submit(
        _ batch: ValidatedBatch, stream: ReplicationStreamToken = ReplicationStreamToken(),
        completion: @escaping @Sendable (ApplyOutcome) -> Void, onRoom: @escaping @Sendable () -> Void
    ) -> Bool {
        self.enqueue(
            Submitted(input: .checked(batch), stream: stream, completion: completion), bytes: 0,
            updates: batch.updates.count, onRoom: onRoom)
    }

    /// Runs `work` on the writer thread, alone: after every batch submitted before it was committed (and acked),
    /// and before any batch submitted after it is checked. For changes that must be ordered with the updates,
    /// such as a registry change: `work` makes its own write transaction, and may change what
    /// `currentValidator` returns. Returns false (and never runs `work`) once the pipeline is stopping.
    public func perform(_ work: @escaping @Sendable () -> Void) -> Bool {
        self.enqueue(
            Submitted(input: .control(work), stream: ReplicationStreamToken(), completion: { _ in }), bytes: 0,
            updates: 0, onRoom: {}, bypassLimits: true)
    }

    private func enqueue(
        _ submitted: Submitted, bytes: Int, updates: Int, onRoom: @escaping @Sendable () -> Void,
        bypassLimits: Bool = false
    ) -> Bool {
        let accepted = self.state.withLock { state in
            if state.stopping { return false }
            if !bypassLimits && !state.submitted.isEmpty
                && (state.submittedBytes + bytes > self.options.maxQueuedBytes
                    || state.submittedUpdates + updates > self.options.maxQueuedUpdates)
            {
                state.waiters.append(onRoom)
                state.counters.refusedSubmits += 1
                return false
            }
            state.submitted.append(submitted)
            state.submittedBytes += bytes
            state.submittedUpdates += updates
            return true
        }
        if accepted { self.decoderSignal.signal() }
        return accepted
    }

    /// Whether the pipeline stopped taking batches (``stop()`` was called).
    public var isStopping: Bool { self.state.withLock { $0.stopping } }

    /// The counters so far.
    public var counters: Counters { self.state.withLock { $0.counters } }

    /// Applies what is queued, then stops both threads and waits for them. Later submits are refused.
    public func stop() {
        let threads = self.threads.withLock { threads in
            defer { threads = [] }
            return threads
        }
        guard !threads.isEmpty else { return }
        self.state.withLock { $0.stopping = true }
        self.decoderSignal.signal()
        self.writerSignal.signal()
        for thread in threads { thread.join() }
    }

    /// Reads a source's position (in a short read transaction).
    public func position(of source: String) throws -> SourcePosition {
        try self.environment.read { try self.applier.position(of: source, in: $0) }
    }

    // MARK: - The decoder thread

    private func runDecoder() {
        while true {
            self.decoderSignal.wait()
            while true {
                // Take one submitted batch, unless the ready queue is full (the writer frees room and signals).
                let (next, waiters, finished) = self.state.withLock {
                    state -> (Submitted?, [@Sendable () -> Void], Bool) in
                    guard let first = state.submitted.first else {
                        if state.stopping {
                            state.decoderDone = true
                            return (nil, [], true)
                        }
                        return (nil, [], false)
                    }
                    if !state.ready.isEmpty && state.readyUpdates >= self.options.maxQueuedUpdates {
                        return (nil, [], false)
                    }
                    state.submitted.removeFirst()
                    if case .raw(let bytes) = first.input { state.submittedBytes -= bytes.count }
                    if case .checked(let batch) = first.input { state.submittedUpdates -= batch.updates.count }
                    let waiters = state.waiters
                    state.waiters.removeAll()
                    return (first, waiters, false)
                }
                for waiter in waiters { waiter() }
                if finished {
                    self.writerSignal.signal()
                    return
                }
                guard let next else { break }
                let ready = Ready(checked: self.check(next), stream: next.stream, completion: next.completion)
                self.state.withLock { state in
                    state.ready.append(ready)
                    state.readyUpdates += ready.updates
                }
                self.writerSignal.signal()
                // A control item may change the checks: the next batch waits for it.
                if case .control(_, let done) = ready.checked { done.wait() }
            }
        }
    }

    /// Decodes and checks one submitted batch (a stream that failed already gets no more checks).
    private func check(_ submitted: Submitted) -> Checked {
        if submitted.stream.hasFailed { return .refused(.abandoned) }
        switch submitted.input {
        case .control(let work):
            return .control(work, done: Semaphore())
        case .checked(let batch):
            return .batch(batch)
        case .raw(let bytes):
            if let problem = bytes.withUnsafeBytes({ ReplicationCodec.nulInStrings($0) }) {
                submitted.stream.fail()
                let first = bytes.withUnsafeBytes { ReplicationCodec.peekBatch($0)?.firstSequence } ?? 0
                return .refused(.rejected("batch first_sequence \(first): \(problem); strings must not hold NUL bytes"))
            }
            let decoded = bytes.withUnsafeBytes { ReplicationCodec.decodeBatch($0) }
            guard let decoded else {
                submitted.stream.fail()
                return .refused(.rejected("a message of the stream is not a valid freshet.v1.UpdateBatch"))
            }
            do {
                return .batch(try self.validator!().validate(decoded))
            } catch {
                submitted.stream.fail()
                return .refused(.rejected(error.message))
            }
        }
    }

    // MARK: - The writer thread

    private func runWriter() {
        while true {
            self.writerSignal.wait()
            while true {
                let (group, finished) = self.takeGroup()
                if group.isEmpty {
                    if finished { return }
                    break
                }
                self.commit(group)
                // The ready queue has room again.
                self.decoderSignal.signal()
            }
        }
    }

    /// Takes the next group of checked batches; `finished` once the decoder is done and nothing is left.
    private func takeGroup() -> ([Ready], Bool) {
        self.state.withLock { state in
            var count = 0
            var updates = 0
            for ready in state.ready {
                // A control item runs alone.
                if case .control = ready.checked {
                    if count == 0 { count = 1 }
                    break
                }
                if count > 0 && updates + ready.updates > self.options.maxGroupUpdates { break }
                count += 1
                updates += ready.updates
            }
            let group = Array(state.ready.prefix(count))
            state.ready.removeFirst(count)
            state.readyUpdates -= updates
            return (group, state.decoderDone && state.ready.isEmpty)
        }
    }

    private func commit(_ group: [Ready]) {
        if group.count == 1, case .control(let work, let done) = group[0].checked {
            work()
            done.signal()
            return
        }
        let ingestTime = Timestamp.now()
        var outcomes: [ApplyOutcome] = []
        let hasWork = group.contains { if case .batch = $0.checked { true } else { false } }
        do {
            outcomes = try self.environment.write { transaction in
                var positions: [String: SourcePosition] = [:]
                var results: [ApplyOutcome] = []
                results.reserveCapacity(group.count)
                for ready in group {
                    switch ready.checked {
                    case .refused(let outcome):
                        results.append(outcome)
                    case .control:
                        preconditionFailure("a control item runs alone")
                    case .batch(let batch):
                        // A gap earlier in this group (or a rejection) ends the stream: skip its later batches.
                        if ready.stream.hasFailed {
                            results.append(.abandoned)
                            continue
                        }
                        let outcome = try self.applier.apply(
                            batch, ingestTime: ingestTime, positions: &positions, in: transaction)
                        if case .gap = outcome { ready.stream.fail() }
                        results.append(outcome)
                    }
                }
                if hasWork { try self.applier.writePositions(positions, in: transaction) }
                return results
            }
        } catch {
            let failure =
                (error as? StorageError)
                ?? StorageError(code: .other, message: "replication commit failed: \(error)", mdbCode: 0)
            let admitted = self.commitWarnings.withLock { $0.admit() }
            if admitted.log {
                self.logger.error(
                    "replication commit failed; the group's batches were not applied",
                    [
                        "batches": String(group.count), "error": failure.description,
                        "failures_not_logged": String(admitted.held),
                    ])
            }
            outcomes = group.map { ready in
                if case .refused(let outcome) = ready.checked { return outcome }
                ready.stream.fail()
                return .failed(failure)
            }
        }
        self.state.withLock {
            $0.counters.commits += 1
            $0.counters.batches += group.count
        }
        for (ready, outcome) in zip(group, outcomes) {
            ready.completion(outcome)
        }
    }
}
