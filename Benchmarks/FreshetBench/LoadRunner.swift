// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Drives connections on one epoll event loop in closed or open loop, and records every latency.

internal import FreshetCore
internal import FreshetPosix
internal import Glibc

/// What one finished request reports.
enum Outcome {
    case ok
    /// A failure, named by its gRPC status (`UNAVAILABLE`) or the Redis error.
    case failed(String)
}

/// One connection of a run, for some protocol. Loop-confined.
protocol LoadConnection: AnyObject {
    /// How many more requests it can take now.
    var freeSlots: Int { get }
    /// Whether the connection is unusable (closed by the peer).
    var isBroken: Bool { get }
    /// Sends request `payload` of the pool; `intended` is the time latency is measured from.
    func send(payload: Int, intended: ContinuousClock.Instant)
    /// Writes what is queued (called once per loop turn).
    func flush()
    /// Closes the socket.
    func close()
}

/// Receives completions from connections.
protocol LoadConnectionOwner: AnyObject {
    func completed(intended: ContinuousClock.Instant, rows: Int, outcome: Outcome, on connection: any LoadConnection)
    func markDirty(_ connection: any LoadConnection)
}

/// The measured outcome of one run.
public struct LoadResult: Sendable {
    public var mode: LoadMode
    public var duration: Duration
    public var warmup: Duration
    /// Requests whose intended time fell in the measured window, finished or not.
    public var requests: UInt64
    /// Rows in those requests.
    public var rows: UInt64
    /// Failures by name (gRPC status, `TIMEOUT` for requests not answered within the drain limit, …).
    public var errors: [String: UInt64]
    /// Answers received during the measured window, whenever their requests were due: what the server actually
    /// delivered. In an open loop above the server's capacity this stays at the capacity while ``requests``
    /// follows the rate.
    public var completedInWindow: UInt64
    public var latency: LatencyHistogram
    /// The client process's CPU time (user + system) during the measured window, as a share of one core.
    public var clientCPU: Double
    public var connections: Int
    public var streams: Int

    public var requestsPerSecond: Double { Double(self.requests) / self.duration.seconds }
    public var completedPerSecond: Double { Double(self.completedInWindow) / self.duration.seconds }
    public var rowsPerSecond: Double { Double(self.rows) / self.duration.seconds }
    public var errorCount: UInt64 { self.errors.values.reduce(0, +) }
}

extension Duration {
    /// The duration in seconds, as a Double.
    public var seconds: Double {
        let (seconds, attoseconds) = self.components
        return Double(seconds) + Double(attoseconds) * 1e-18
    }
}

/// Runs one load test on the calling thread.
///
/// Closed loop: each of `connections × streams` slots sends its next request as soon as the previous one completes.
/// Open loop: an ``OpenLoopSchedule`` makes requests due at exact intervals (a timerfd wakes the loop); a due
/// request waits in a backlog when every slot is busy, and its latency is measured from its intended time, so a
/// stalled server shows as latency, not as a lower rate. Requests are recorded when their intended time lies in the
/// measured window (after the warm-up); at the end, requests not answered within the drain limit are recorded with
/// their latency so far and counted as `TIMEOUT`.
///
/// Thread affinity: create and run on one thread.
public final class LoadRunner: LoadConnectionOwner {
    private let options: LoadOptions
    private let loop: EventLoop
    private let payloadCount: Int
    private let rowsOf: (Int) -> Int
    private var connections: [any LoadConnection] = []
    private var dirty: [ObjectIdentifier: any LoadConnection] = [:]
    private var nextPayload = 0
    private var backlog: [ContinuousClock.Instant] = []
    private var backlogStart = 0
    private var schedule: OpenLoopSchedule?
    private var inFlight = 0
    private var measureStart = ContinuousClock.now
    private var end = ContinuousClock.now
    private var histogram = LatencyHistogram()
    private var requests: UInt64 = 0
    private var rows: UInt64 = 0
    private var errors: [String: UInt64] = [:]
    private var completedInWindow: UInt64 = 0
    private var finished = false
    private var cpuAtStart: Double?
    private var cpuAtEnd: Double?

    /// Creates a runner whose connections are made by `connect` (called on this thread, once per connection).
    /// - Parameters:
    ///   - payloads: the number of distinct prepared requests; they are sent in turn.
    ///   - rowsOf: the number of rows of payload `i`.
    init(
        options: LoadOptions, loop: EventLoop, payloads: Int, rowsOf: @escaping (Int) -> Int,
        connect: (LoadRunner) throws -> any LoadConnection
    ) throws {
        precondition(payloads > 0, "no requests to send")
        self.options = options
        self.loop = loop
        self.payloadCount = payloads
        self.rowsOf = rowsOf
        for _ in 0..<options.connections {
            self.connections.append(try connect(self))
        }
        loop.beforeSleep = { [unowned self] in self.flushDirty() }
    }

    /// Runs the test and returns what was measured.
    func run() throws -> LoadResult {
        let start = ContinuousClock.now
        self.measureStart = start + self.options.warmup
        self.end = self.measureStart + self.options.duration
        switch self.options.mode {
        case .closed:
            for connection in self.connections {
                while connection.freeSlots > 0 && !connection.isBroken {
                    self.send(on: connection, intended: ContinuousClock.now)
                }
            }
        case .open(let rate):
            self.schedule = OpenLoopSchedule(start: start, rate: rate)
            // Sends due within 100 µs are waited for by polling, not by a timer: at tens of thousands of requests
            // per second, a timerfd per send would cost the load generator more than the requests themselves.
            self.loop.spinThreshold = .microseconds(100)
            self.pump()
        }
        self.loop.schedule(at: self.measureStart) { [unowned self] in self.cpuAtStart = processCPUSeconds() }
        self.loop.schedule(at: self.end) { [unowned self] in
            self.cpuAtEnd = processCPUSeconds()
            self.checkFinished()
        }
        self.loop.schedule(at: self.end + self.options.drainLimit) { [unowned self] in self.giveUp() }
        try self.loop.run()
        for connection in self.connections { connection.close() }
        let cpu = (self.cpuAtEnd ?? processCPUSeconds()) - (self.cpuAtStart ?? 0)
        return LoadResult(
            mode: self.options.mode, duration: self.options.duration, warmup: self.options.warmup,
            requests: self.requests, rows: self.rows, errors: self.errors, completedInWindow: self.completedInWindow,
            latency: self.histogram,
            clientCPU: cpu / self.options.duration.seconds, connections: self.options.connections,
            streams: self.options.streams)
    }

    // MARK: - Sending

    private func send(on connection: any LoadConnection, intended: ContinuousClock.Instant) {
        let payload = self.nextPayload
        self.nextPayload = (self.nextPayload + 1) % self.payloadCount
        self.inFlight += 1
        connection.send(payload: payload, intended: intended)
        self.markDirty(connection)
    }

    /// Open loop: takes the requests now due into the backlog, sends what free slots allow, re-arms the timer.
    private func pump() {
        guard var schedule = self.schedule, !self.finished else { return }
        let now = ContinuousClock.now
        self.backlog += schedule.takeDue(now: now, end: self.end)
        self.schedule = schedule
        self.dispatchBacklog()
        let next = schedule.next
        if next < self.end {
            self.loop.schedule(at: next) { [unowned self] in self.pump() }
        }
    }

    private func dispatchBacklog() {
        guard self.backlogStart < self.backlog.count else { return }
        for connection in self.connections where !connection.isBroken {
            while connection.freeSlots > 0 && self.backlogStart < self.backlog.count {
                self.send(on: connection, intended: self.backlog[self.backlogStart])
                self.backlogStart += 1
            }
        }
        if self.backlogStart > 4096 && self.backlogStart * 2 > self.backlog.count {
            self.backlog.removeFirst(self.backlogStart)
            self.backlogStart = 0
        }
    }

    // MARK: - LoadConnectionOwner

    func completed(intended: ContinuousClock.Instant, rows: Int, outcome: Outcome, on connection: any LoadConnection) {
        self.inFlight -= 1
        let now = ContinuousClock.now
        if now >= self.measureStart && now < self.end { self.completedInWindow += 1 }
        self.record(intended: intended, rows: rows, latency: now - intended, outcome: outcome)
        guard !self.finished else { return }
        switch self.options.mode {
        case .closed:
            if now < self.end && !connection.isBroken {
                self.send(on: connection, intended: now)
            }
        case .open:
            self.dispatchBacklog()
        }
        self.checkFinished()
    }

    func markDirty(_ connection: any LoadConnection) {
        self.dirty[ObjectIdentifier(connection)] = connection
    }

    private func record(intended: ContinuousClock.Instant, rows: Int, latency: Duration, outcome: Outcome) {
        guard intended >= self.measureStart && intended < self.end else { return }
        self.requests += 1
        self.rows += UInt64(rows)
        self.histogram.record(latency)
        if case .failed(let name) = outcome {
            self.errors[name, default: 0] += 1
        }
    }

    private func flushDirty() {
        let batch = self.dirty
        self.dirty.removeAll(keepingCapacity: true)
        for connection in batch.values { connection.flush() }
        if self.connections.allSatisfy(\.isBroken) && !self.finished {
            self.giveUp()
        }
    }

    // MARK: - Ending

    private func checkFinished() {
        guard !self.finished, ContinuousClock.now >= self.end, self.inFlight == 0 else { return }
        if case .open = self.options.mode, self.backlogStart < self.backlog.count { return }
        self.finished = true
        self.loop.stop()
    }

    /// The drain limit passed (or every connection broke): what is still waiting is recorded with its latency so
    /// far and counted as a timeout, so that nothing slow is left out of the percentiles.
    private func giveUp() {
        guard !self.finished else { return }
        self.finished = true
        let now = ContinuousClock.now
        for intended in self.backlog[self.backlogStart...] {
            self.record(intended: intended, rows: 0, latency: now - intended, outcome: .failed("TIMEOUT (never sent)"))
        }
        for connection in self.connections {
            for (intended, rows) in (connection as? any TimingOut)?.unanswered() ?? [] {
                self.record(intended: intended, rows: rows, latency: now - intended, outcome: .failed("TIMEOUT"))
            }
        }
        self.loop.stop()
    }
}

/// A connection that can list the requests still waiting for an answer (for the end of a run).
protocol TimingOut {
    func unanswered() -> [(ContinuousClock.Instant, Int)]
}

/// CPU seconds (user + system) used by this process so far.
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) * 1e-6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}
