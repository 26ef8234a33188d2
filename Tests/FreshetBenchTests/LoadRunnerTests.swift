// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// The open-loop scheduler, and load runs against an in-process gRPC server that stalls on purpose.

import FreshetBench
import FreshetCore
import FreshetGRPC
import FreshetPosix
import FreshetProto
import Glibc
import Synchronization
import Testing

@Suite("Open-loop schedule")
struct OpenLoopScheduleTests {
    @Test func requestsAreDueAtExactIntervalsWhateverTheCallerDoes() {
        let start = ContinuousClock.now
        var schedule = OpenLoopSchedule(start: start, rate: 1000)
        #expect(schedule.intendedTime(of: 0) == start)
        #expect(schedule.intendedTime(of: 1500) == start + .milliseconds(1500))
        // Taking late does not shift later requests: 10 ms late, 11 are due at once, with their own times.
        let due = schedule.takeDue(now: start + .milliseconds(10), end: start + .seconds(1))
        #expect(due == 0..<11)
        #expect(schedule.intendedTime(of: due.last!) == start + .milliseconds(10))
        #expect(schedule.next == start + .milliseconds(11))
        // Nothing at or after the end is taken.
        let rest = schedule.takeDue(now: start + .seconds(5), end: start + .seconds(1))
        #expect(rest == 11..<1000)
        #expect(schedule.takeDue(now: start + .seconds(6), end: start + .seconds(1)).isEmpty)
    }

    @Test(arguments: [0.5, 3, 999.9, 1000, 7919, 1e6, 1e7])
    func takingDueAgreesWithIntendedTimesAtAnyRate(rate: Double) {
        let start = ContinuousClock.now
        let end = start + .seconds(2)
        var schedule = OpenLoopSchedule(start: start, rate: rate)
        var taken = 0
        for step in [
            0, 1, 2, 3, 250_000, 999_999, 1_000_000, 1_500_000_017, 1_999_999_999, 2_000_000_000, 3_000_000_000,
        ] {
            let now = start + .nanoseconds(step)
            let due = schedule.takeDue(now: now, end: end)
            #expect(due.lowerBound == taken)
            taken = due.upperBound
            // Every index taken is due; the first one not taken is not.
            if let last = due.last {
                #expect(schedule.intendedTime(of: last) <= now && schedule.intendedTime(of: last) < end)
            }
            let next = schedule.intendedTime(of: taken)
            #expect(next > now || next >= end, "rate \(rate) at +\(step) ns: \(taken) is due but not taken")
        }
    }
}

/// A server (not started yet) whose one handler answers at once, except that call number `calls` blocks its event
/// loop for `stall` (as a server stalled by a disk, a lock or a pause would).
private func stallingServer(stallAfter calls: Int, stall: Duration) -> GRPCServer {
    let counter = Atomic<Int>(0)
    return GRPCServer(
        configuration: GRPCServerConfiguration(endpoint: Endpoint(host: "127.0.0.1", port: 0), threads: 1),
        logger: Logger(level: .error)
    ) { _ in
        let router = Router()
        router.addUnary("/freshet.v1.FeatureServing/GetFeatures") { _, _, response in
            if counter.add(1, ordering: .relaxed).newValue == calls {
                let (seconds, attoseconds) = stall.components
                var time = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
                nanosleep(&time, nil)
            }
            response.append(contentsOf: [0x12, 0x00] as [UInt8])
        }
        return router
    }
}

/// Runs `body` against a started ``stallingServer(stallAfter:stall:)``, shut down afterwards.
private func withStallingServer<R>(stallAfter calls: Int, stall: Duration, _ body: (Endpoint) throws -> R) throws -> R {
    let server = stallingServer(stallAfter: calls, stall: stall)
    try server.start()
    defer {
        server.shutdown(graceful: false)
        server.wait()
    }
    return try body(server.endpoint)
}

private func payloads(_ endpoint: Endpoint) -> GRPCPayloads {
    let message = FeaturesRequest(target: .service("s"), rows: [[("id", .string("k"))]]).encoded()
    return GRPCPayloads(
        path: "/freshet.v1.FeatureServing/GetFeatures", authority: "\(endpoint)", messages: [(message, 1)])
}

@Suite("Load runs", .serialized)
struct LoadRunTests {
    @Test func aStallShowsInTheOpenLoopTail() throws {
        // At 1,000 req/s for 2 s, a 200 ms stall delays the ~200 requests due during it: the open loop measures them
        // from their intended times, so p99.9 and the maximum show the stall.
        try withStallingServer(stallAfter: 700, stall: .milliseconds(200)) { endpoint in
            var options = LoadOptions()
            options.mode = .open(rate: 1000)
            options.connections = 2
            options.streams = 4
            options.warmup = .milliseconds(200)
            options.duration = .seconds(2)
            let result = try Benchmark.grpc(endpoint: endpoint, payloads: payloads(endpoint), options: options)
            #expect(result.errorCount == 0, "\(result.errors)")
            #expect(
                result.requests >= 1990 && result.requests <= 2010, "the open loop keeps its rate: \(result.requests)")
            #expect(result.latency.maximum >= 190_000_000, "max \(result.latency.maximum) ns")
            #expect(
                result.latency.value(atQuantile: 0.999) >= 150_000_000,
                "p99.9 \(result.latency.value(atQuantile: 0.999)) ns")
            // The ~200 requests due during the stall (10% of the run) waited from 200 ms down to 0: most of them
            // count, not just the few in flight when it began.
            #expect(
                result.latency.value(atQuantile: 0.92) >= 10_000_000, "the requests queued behind the stall count too")
        }
    }

    @Test func aClosedLoopCountsTheStallOnlyForTheRequestsInFlight() throws {
        // The contrast that makes open loop necessary: with 8 slots, a closed loop sees the stall in only 8 requests.
        try withStallingServer(stallAfter: 700, stall: .milliseconds(200)) { endpoint in
            var options = LoadOptions()
            options.connections = 2
            options.streams = 4
            options.warmup = .zero
            options.duration = .seconds(1)
            let result = try Benchmark.grpc(endpoint: endpoint, payloads: payloads(endpoint), options: options)
            #expect(result.errorCount == 0)
            #expect(result.latency.maximum >= 190_000_000)
            #expect(result.latency.value(atQuantile: 0.9) < 10_000_000, "closed loop hides the stall from p90")
        }
    }

    @Test func failuresAreCountedByStatus() throws {
        let server = GRPCServer(
            configuration: GRPCServerConfiguration(endpoint: Endpoint(host: "127.0.0.1", port: 0), threads: 1),
            logger: Logger(level: .error)
        ) { _ in
            let router = Router()
            router.addUnary("/freshet.v1.FeatureServing/GetFeatures") { _, _, _ throws(GRPCStatus) in
                throw GRPCStatus(.invalidArgument, "no")
            }
            return router
        }
        try server.start()
        defer {
            server.shutdown(graceful: false)
            server.wait()
        }
        var options = LoadOptions()
        options.connections = 1
        options.streams = 2
        options.warmup = .zero
        options.duration = .milliseconds(300)
        let result = try Benchmark.grpc(
            endpoint: server.endpoint, payloads: payloads(server.endpoint), options: options)
        #expect(result.requests > 0)
        #expect(result.errors == ["INVALID_ARGUMENT": result.requests])
        // Failures are not throughput, and the server's message says why they failed.
        #expect(result.succeeded == 0)
        #expect(result.requestsPerSecond == 0 && result.rowsPerSecond == 0 && result.completedPerSecond == 0)
        #expect(result.offeredPerSecond > 0)
        #expect(result.errorDetails == ["INVALID_ARGUMENT": "no"])
        #expect(result.text(target: "t").contains("errors INVALID_ARGUMENT: \(result.requests) (first: no)"))
        #expect(result.json(target: "t").contains(#""error_details":{"INVALID_ARGUMENT":"no"}"#))
    }

    @Test func aServerThatGoesAwayEndsTheRunAndOnlyTheTimeItServedCounts() throws {
        let server = stallingServer(stallAfter: .max, stall: .zero)
        try server.start()
        let stopper = try OSThread(name: "stopper") {
            usleep(400_000)
            server.shutdown(graceful: false)
        }
        defer {
            stopper.join()
            server.wait()
        }
        var options = LoadOptions()
        options.connections = 2
        options.streams = 2
        options.warmup = .milliseconds(100)
        options.duration = .seconds(5)
        let started = ContinuousClock.now
        let result = try Benchmark.grpc(
            endpoint: server.endpoint, payloads: payloads(server.endpoint), options: options)
        #expect(ContinuousClock.now - started < .seconds(3), "the run stops when every connection is gone")
        let reason = try #require(result.endedEarly)
        #expect(reason.contains("every connection broke"), "\(reason)")
        #expect(result.measured > .milliseconds(200) && result.measured < .seconds(2), "\(result.measured)")
        #expect(result.succeeded > 0)
        let rate = Double(result.succeeded) / result.measured.seconds
        #expect(abs(result.requestsPerSecond - rate) < 1e-6 * rate, "rates are per second actually measured")
        #expect(result.text(target: "t").contains("ended early"))
    }

    @Test func aRateFarAboveTheServerStaysBoundedAndCountsWhatWasNeverSent() throws {
        // 10 million requests a second against one slot: nearly all wait in the backlog, which must cost neither
        // memory nor time (it is a range of schedule indices), and is counted as never sent at the end.
        try withStallingServer(stallAfter: Int.max, stall: .zero) { endpoint in
            var options = LoadOptions()
            options.mode = .open(rate: 10_000_000)
            options.connections = 1
            options.streams = 1
            options.warmup = .zero
            options.duration = .milliseconds(500)
            options.drainLimit = .milliseconds(200)
            let started = ContinuousClock.now
            let result = try Benchmark.grpc(endpoint: endpoint, payloads: payloads(endpoint), options: options)
            // A generous bound (the run itself takes about 0.7 s): a backlog that cost time per request would take
            // minutes for these 5 million; a loaded CI machine must not fail it.
            #expect(ContinuousClock.now - started < .seconds(20))
            #expect(result.requests >= 4_900_000 && result.requests <= 5_000_000, "\(result.requests)")
            #expect(result.errors["TIMEOUT (never sent)", default: 0] > 4_000_000)
            #expect(result.succeeded > 0 && result.succeeded < 1_000_000)
            #expect(result.requestsPerSecond < result.offeredPerSecond / 5)
        }
    }
}
