// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// How a benchmark sends: closed loop for maximum throughput, or open loop at a fixed rate without coordinated
// omission.

/// How requests are paced.
public enum LoadMode: Sendable, Equatable, CustomStringConvertible {
    /// Every request slot (connections × streams) sends its next request as soon as its last one completes: the most
    /// throughput the server gives. Latency is measured from the actual send.
    case closed
    /// Requests are due at fixed intervals (`rate` per second) whatever happens to earlier ones. Latency is measured
    /// from the *intended* send time, so a request that waited for a free slot, because the server stalled, counts
    /// that wait: a stall shows in the percentiles instead of silently lowering the request rate (no coordinated
    /// omission).
    case open(rate: Double)

    public var description: String {
        switch self {
        case .closed: "closed loop"
        case .open(let rate): "open loop at \(format(rate)) req/s"
        }
    }
}

/// The schedule of an open-loop run: request i is due at `start + i / rate`.
public struct OpenLoopSchedule: Sendable {
    public let start: ContinuousClock.Instant
    public let rate: Double
    /// Requests taken so far: indices `0..<issued` are due.
    public private(set) var issued = 0

    public init(start: ContinuousClock.Instant, rate: Double) {
        precondition(rate > 0, "an open-loop rate must be positive")
        self.start = start
        self.rate = rate
    }

    /// The intended time of request `index`.
    public func intendedTime(of index: Int) -> ContinuousClock.Instant {
        self.start + .nanoseconds(Int64((Double(index) / self.rate * 1e9).rounded()))
    }

    /// The intended time of the next request not yet taken.
    public var next: ContinuousClock.Instant { self.intendedTime(of: self.issued) }

    /// Takes every request due at or before `now` and before `end`, in order; returns their indices (their times are
    /// ``intendedTime(of:)``).
    @discardableResult
    public mutating func takeDue(now: ContinuousClock.Instant, end: ContinuousClock.Instant) -> Range<Int> {
        let first = self.issued
        let limit = min(now, end)
        // Jump close to the answer, then settle exactly by the same rounding intendedTime uses.
        let elapsed = (limit - self.start).seconds
        if elapsed > 0 {
            self.issued = max(self.issued, Int((elapsed * self.rate).rounded(.down)) - 1)
        }
        while self.issued > first && !self.isDue(self.issued - 1, now: now, end: end) { self.issued -= 1 }
        while self.isDue(self.issued, now: now, end: end) { self.issued += 1 }
        return first..<self.issued
    }

    private func isDue(_ index: Int, now: ContinuousClock.Instant, end: ContinuousClock.Instant) -> Bool {
        let intended = self.intendedTime(of: index)
        return intended <= now && intended < end
    }
}

/// The shape of one run.
public struct LoadOptions: Sendable {
    public var mode: LoadMode = .closed
    /// Connections to open.
    public var connections = 4
    /// Concurrent requests per connection (HTTP/2 streams, or the Redis pipeline depth).
    public var streams = 8
    /// Measured time, after the warm-up.
    public var duration: Duration = .seconds(10)
    /// Time before measuring starts: requests run but are not recorded.
    public var warmup: Duration = .seconds(2)
    /// How long to wait for answers still due when the run ends; what has not come back by then is counted with its
    /// latency so far (and as a timeout), never dropped.
    public var drainLimit: Duration = .seconds(5)

    public init() {}
}
