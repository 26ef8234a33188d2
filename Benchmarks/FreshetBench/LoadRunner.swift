// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Drives connections on one epoll event loop in closed or open loop, and records every latency.

internal import FreshetCore
internal import FreshetPosix
internal import Glibc

/// What one finished request reports.
enum Outcome {
    case ok
    /// A failure, named by its gRPC status (`UNAVAILABLE`) or the Redis error kind, with what the server (or the
    /// broken connection) said about it when there is something.
    case failed(String, detail: String? = nil)
}

/// One connection of a run, for some protocol. Loop-confined.
protocol LoadConnection: AnyObject {
    /// How many more requests it can take now.
    var freeSlots: Int { get }
    /// Whether the connection is unusable (closed by the peer).
    var isBroken: Bool { get }
    /// Why it broke (`the server closed the connection`), once it has.
    var brokenReason: String? { get }
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
    /// The measured time asked for.
    public var duration: Duration
    public var warmup: Duration
    /// The measured time actually covered: ``duration``, or less when every connection broke before the end (then
    /// ``endedEarly`` says why). Rates are per second of this.
    public var measured: Duration
    /// Requests whose intended time fell in the measured window, finished or not, succeeded or not.
    public var requests: UInt64
    /// Rows in those requests.
    public var rows: UInt64
    /// Those of ``requests`` that succeeded (gRPC status OK, a Redis reply that is not an error).
    public var succeeded: UInt64
    /// Rows in the requests that succeeded.
    public var succeededRows: UInt64
    /// Failures by name (gRPC status, `TIMEOUT` for requests not answered within the drain limit, …).
    public var errors: [String: UInt64]
    /// The first message seen for each failure name (the server's `grpc-message`, the Redis error, or why the
    /// connection broke), so that a run that fails says why.
    public var errorDetails: [String: String]
    /// Why the run stopped before its end (every connection broke), or `nil`.
    public var endedEarly: String?
    /// Successful answers received during the measured window, whenever their requests were due: what the server
    /// actually delivered. In an open loop above the server's capacity this stays at the capacity while
    /// ``requests`` follows the rate.
    public var completedInWindow: UInt64
    public var latency: LatencyHistogram
    /// The client process's CPU time (user + system) during the measured window, as a share of one core.
    public var clientCPU: Double
    public var connections: Int
    public var streams: Int

    /// Successful requests per measured second (failures are not throughput).
    public var requestsPerSecond: Double { self.perSecond(self.succeeded) }
    /// Successful answers received per measured second.
    public var completedPerSecond: Double { self.perSecond(self.completedInWindow) }
    /// Rows of successful requests per measured second.
    public var rowsPerSecond: Double { self.perSecond(self.succeededRows) }
    /// Requests due per measured second, whatever became of them (the offered load).
    public var offeredPerSecond: Double { self.perSecond(self.requests) }
    public var errorCount: UInt64 { self.errors.values.reduce(0, +) }

    private func perSecond(_ count: UInt64) -> Double {
        self.measured > .zero ? Double(count) / self.measured.seconds : 0
    }
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
    /// Open loop: the requests due but not sent yet are the schedule's indices `backlog..<schedule.issued` (their
    /// times follow from the index, so a server far behind a huge rate costs no memory).
    private var backlog = 0
    private var schedule: OpenLoopSchedule?
    private var inFlight = 0
    private var measureStart = ContinuousClock.now
    private var end = ContinuousClock.now
    private var histogram = LatencyHistogram()
    private var requests: UInt64 = 0
    private var rows: UInt64 = 0
    private var succeeded: UInt64 = 0
    private var succeededRows: UInt64 = 0
    private var errors: [String: UInt64] = [:]
    private var errorDetails: [String: String] = [:]
    private var completedInWindow: UInt64 = 0
    private var finished = false
    private var endedEarly: (reason: String, at: ContinuousClock.Instant)?
    private var cpuAtStart: (cpu: Double, at: ContinuousClock.Instant)?
    private var cpuAtEnd: (cpu: Double, at: ContinuousClock.Instant)?

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
        self.loop.schedule(at: self.measureStart) { [unowned self] in
            if self.cpuAtStart == nil { self.cpuAtStart = (processCPUSeconds(), .now) }
        }
        self.loop.schedule(at: self.end) { [unowned self] in
            if self.cpuAtEnd == nil { self.cpuAtEnd = (processCPUSeconds(), .now) }
            self.checkFinished()
        }
        self.loop.schedule(at: self.end + self.options.drainLimit) { [unowned self] in self.giveUp() }
        try self.loop.run()
        for connection in self.connections { connection.close() }
        // CPU over the wall time between the two samples, which a busy loop may have taken late.
        var clientCPU = 0.0
        if let start = self.cpuAtStart, let end = self.cpuAtEnd, end.at > start.at {
            clientCPU = (end.cpu - start.cpu) / (end.at - start.at).seconds
        }
        var measured = self.options.duration
        if let early = self.endedEarly {
            measured = max(.zero, min(early.at, self.end) - self.measureStart)
        }
        return LoadResult(
            mode: self.options.mode, duration: self.options.duration, warmup: self.options.warmup,
            measured: measured, requests: self.requests, rows: self.rows, succeeded: self.succeeded,
            succeededRows: self.succeededRows, errors: self.errors, errorDetails: self.errorDetails,
            endedEarly: self.endedEarly?.reason, completedInWindow: self.completedInWindow, latency: self.histogram,
            clientCPU: clientCPU, connections: self.options.connections, streams: self.options.streams)
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
        schedule.takeDue(now: .now, end: self.end)
        self.schedule = schedule
        self.dispatchBacklog()
        let next = schedule.next
        if next < self.end {
            self.loop.schedule(at: next) { [unowned self] in self.pump() }
        }
    }

    /// Due requests not sent yet (open loop).
    private var backlogCount: Int { (self.schedule?.issued ?? 0) - self.backlog }

    private func dispatchBacklog() {
        guard let schedule = self.schedule, self.backlog < schedule.issued else { return }
        for connection in self.connections where !connection.isBroken {
            while connection.freeSlots > 0 && self.backlog < schedule.issued {
                self.send(on: connection, intended: schedule.intendedTime(of: self.backlog))
                self.backlog += 1
            }
        }
    }

    // MARK: - LoadConnectionOwner

    func completed(intended: ContinuousClock.Instant, rows: Int, outcome: Outcome, on connection: any LoadConnection) {
        self.inFlight -= 1
        let now = ContinuousClock.now
        if case .ok = outcome, now >= self.measureStart && now < self.end { self.completedInWindow += 1 }
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
        switch outcome {
        case .ok:
            self.succeeded += 1
            self.succeededRows += UInt64(rows)
        case .failed(let name, let detail):
            self.errors[name, default: 0] += 1
            if let detail, self.errorDetails[name] == nil { self.errorDetails[name] = detail }
        }
    }

    private func flushDirty() {
        let batch = self.dirty
        self.dirty.removeAll(keepingCapacity: true)
        for connection in batch.values { connection.flush() }
        if self.connections.allSatisfy(\.isBroken) && !self.finished {
            let reason = self.connections.lazy.compactMap(\.brokenReason).first ?? "every connection closed"
            let now = ContinuousClock.now
            if now < self.end {
                self.endedEarly = ("every connection broke (\(reason))", now)
                self.cpuAtEnd = (processCPUSeconds(), now)
            }
            self.giveUp()
        }
    }

    // MARK: - Ending

    private func checkFinished() {
        guard !self.finished, ContinuousClock.now >= self.end, self.inFlight == 0 else { return }
        if self.backlogCount > 0 { return }
        self.finished = true
        self.loop.stop()
    }

    /// The drain limit passed (or every connection broke): what is still waiting is recorded with its latency so
    /// far and counted as a timeout, so that nothing slow is left out of the percentiles.
    private func giveUp() {
        guard !self.finished else { return }
        self.finished = true
        let now = ContinuousClock.now
        if let schedule = self.schedule {
            for index in self.backlog..<schedule.issued {
                let intended = schedule.intendedTime(of: index)
                self.record(
                    intended: intended, rows: 0, latency: now - intended, outcome: .failed("TIMEOUT (never sent)"))
            }
            self.backlog = schedule.issued
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
