// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// The producer side of replication (`freshet push`): one feeder per server, each resuming from the server's
// position, with a bounded window of unacked batches and reconnects with backoff.

internal import FreshetCore
internal import FreshetGRPC
public import FreshetPosix
public import FreshetProto
internal import Glibc

/// The updates of one source, each encoded once and shared by every server's feeder. Update `i` (0-based) has
/// sequence `i + 1`: its position in the file, so a rerun of the same file is idempotent whatever the batch size.
///
/// Immutable once built; safe to share between threads.
public final class EncodedUpdates: Sendable {
    private let bytes: [UInt8]
    /// `ends[i]`: where update `i` ends in `bytes` (it starts at `ends[i - 1]`, or 0).
    private let ends: [Int]

    /// Encodes `updates` in order.
    public init(_ updates: some Sequence<UpdateMessage>) {
        var bytes: [UInt8] = []
        var ends: [Int] = []
        for update in updates {
            ReplicationCodec.appendUpdate(update, to: &bytes)
            ends.append(bytes.count)
        }
        self.bytes = bytes
        self.ends = ends
    }

    /// The number of updates (and so the last sequence).
    public var count: Int { self.ends.count }

    /// How many updates from sequence `first` (1-based) make a batch of at most `maxUpdates` updates and about
    /// `maxBytes` bytes (always at least one update).
    public func batchCount(first: UInt64, maxUpdates: Int, maxBytes: Int) -> Int {
        let start = Int(first) - 1
        let from = start == 0 ? 0 : self.ends[start - 1]
        var count = 1
        while count < maxUpdates && start + count < self.ends.count
            && self.ends[start + count] - from + 4 * (count + 1) <= maxBytes
        {
            count += 1
        }
        return count
    }

    /// An encoded `UpdateBatch` of `count` updates starting at sequence `first` (1-based).
    public func batch(source: String, first: UInt64, count: Int) -> [UInt8] {
        let start = Int(first) - 1
        var output: [UInt8] = []
        let from = start == 0 ? 0 : self.ends[start - 1]
        output.reserveCapacity(self.ends[start + count - 1] - from + count * 4 + source.utf8.count + 16)
        ProtoWire.appendStringField(1, source, to: &output)
        ProtoWire.appendVarintField(2, first, to: &output)
        var previous = from
        for index in start..<start + count {
            let end = self.ends[index]
            ProtoWire.appendBytesField(3, self.bytes[previous..<end], to: &output)
            previous = end
        }
        return output
    }
}

/// Settings of a feed.
public struct FeedOptions: Sendable {
    /// The producer's source name.
    public var source: String
    /// Updates per batch, at most.
    public var batchRows = 500
    /// Bytes per batch, about, at most (a single larger update still goes alone): keeps batches under the server's
    /// message limit (4 MiB by default).
    public var maxBatchBytes = 1 << 20
    /// Batches sent and not yet acked, at most, per server.
    public var window = 8
    /// A server that makes no progress (no connection, no ack) for this long is given up.
    public var giveUpAfter: Duration = .seconds(120)
    /// How often progress is reported.
    public var progressInterval: Duration = .seconds(1)
    public var connectTimeout: Duration = .seconds(5)

    public init(source: String) {
        self.source = source
    }
}

/// How one server's feed ended.
public enum FeedResult: Sendable {
    /// The server acked every update; its final position and counters, how long it took, and how many times the
    /// feeder had to reconnect.
    case done(SourcePositionMessage, elapsed: Duration, reconnects: Int)
    /// The feed stopped for good; the reason.
    case failed(String)
}

/// Feeds one server: asks its position, streams the batches after it, waits for acks, and reconnects with
/// exponential backoff (100 ms doubling to 5 s) when the connection drops or the server restarts. It never waits
/// for another server, so a slow or dead region cannot hold the others back.
///
/// Thread affinity: run ``run()`` on a thread of its own (it blocks); the feeder itself is immutable.
public final class ServerFeeder: Sendable {
    let endpoint: Endpoint
    let updates: EncodedUpdates
    let options: FeedOptions
    let report: @Sendable (String) -> Void
    private let name: String

    /// - Parameter report: receives progress and problem lines (without a trailing newline).
    public init(
        endpoint: Endpoint, updates: EncodedUpdates, options: FeedOptions, report: @escaping @Sendable (String) -> Void
    ) {
        self.endpoint = endpoint
        self.updates = updates
        self.options = options
        self.report = report
        self.name = endpoint.description
    }

    /// The highest position the server has shown, and when it last rose: only a rising position is progress (a
    /// connection that is refused again and again is not).
    private struct Progress {
        var at: ContinuousClock.Instant
        var position: UInt64 = 0
        var seen = false

        init(at: ContinuousClock.Instant) { self.at = at }

        mutating func observe(_ position: UInt64) {
            if !self.seen || position > self.position {
                self.seen = true
                self.position = max(self.position, position)
                self.at = ContinuousClock.now
            }
        }
    }

    private struct Retry: Error {
        var reason: String
    }

    private struct Fatal: Error {
        var reason: String
    }

    /// Feeds until the server has acked every update, or gives up.
    public func run() -> FeedResult {
        let started = ContinuousClock.now
        var backoff: Duration = .milliseconds(100)
        var progress = Progress(at: started)
        var attempts = 0
        while true {
            attempts += 1
            do {
                let position = try self.feedOnce(progress: &progress, backoff: &backoff)
                return .done(position, elapsed: ContinuousClock.now - started, reconnects: attempts - 1)
            } catch let fatal as Fatal {
                return .failed(fatal.reason)
            } catch {
                let reason = (error as? Retry)?.reason ?? "\(error)"
                let stalled = ContinuousClock.now - progress.at
                if stalled >= self.options.giveUpAfter {
                    // Shown to the millisecond, in the flag's own syntax (`2m`, `1.5s`).
                    let shown = Duration.milliseconds(Int64(stalled.seconds * 1000))
                    return .failed(
                        "no progress for \(shown.freshetDescription) (limit --give-up-after \(self.options.giveUpAfter.freshetDescription)); last problem: \(reason)"
                    )
                }
                self.report("\(self.name): \(reason); retrying in \(backoff.freshetDescription)")
                Self.sleep(backoff)
                backoff = min(backoff * 2, .seconds(5))
            }
        }
    }

    /// One connection's worth of feeding. Returns the final position once everything is acked.
    private func feedOnce(progress: inout Progress, backoff: inout Duration) throws -> SourcePositionMessage {
        let client: GRPCClient
        do {
            client = try GRPCClient(endpoint: self.endpoint, connectTimeout: self.options.connectTimeout)
        } catch {
            throw Retry(reason: "cannot connect: \(error)")
        }
        defer { client.close() }
        let total = UInt64(self.updates.count)
        let start = try self.position(client)
        progress.observe(start.appliedSequence)
        if start.appliedSequence >= total {
            if start.appliedSequence > total {
                self.report(
                    "\(self.name): the server is at position \(start.appliedSequence) for source '\(self.options.source)', past this file's \(total) updates; nothing to send (is --source right?)"
                )
            }
            return start
        }
        let stream: Int32
        do {
            stream = try client.openStream(path: "/freshet.v1.Replication/Replicate")
        } catch {
            throw Retry(reason: "cannot open the stream: \(error)")
        }
        var next = start.appliedSequence + 1
        var acked = start.appliedSequence
        var unacked: [UInt64] = []  // the last sequence of each batch sent and not acked
        var sendClosed = false
        var lastReport = ContinuousClock.now
        var ackedAtLastReport = acked
        while true {
            do {
                while next <= total && unacked.count < self.options.window {
                    let count = self.updates.batchCount(
                        first: next, maxUpdates: self.options.batchRows, maxBytes: self.options.maxBatchBytes)
                    try client.send(
                        self.updates.batch(source: self.options.source, first: next, count: count), on: stream)
                    unacked.append(next + UInt64(count) - 1)
                    next += UInt64(count)
                }
                if next > total && !sendClosed {
                    try client.closeSend(stream)
                    sendClosed = true
                }
            } catch {
                throw Retry(reason: "connection lost while sending: \(error)")
            }
            let events = client.receive(on: stream, wait: .milliseconds(250))
            for message in events.messages {
                guard let ack = ReplicationCodec.decodeAck(message) else {
                    throw Fatal(reason: "the server sent an ack that is not a freshet.v1.ReplicateAck")
                }
                acked = max(acked, ack.appliedSequence)
                progress.observe(acked)
                backoff = .milliseconds(100)
                while let first = unacked.first, first <= acked { unacked.removeFirst() }
            }
            let now = ContinuousClock.now
            if now - lastReport >= self.options.progressInterval {
                let rate = Double(acked - ackedAtLastReport) / (now - lastReport).seconds
                self.report("\(self.name): \(acked)/\(total) acked (\(Int(rate)) updates/s)")
                lastReport = now
                ackedAtLastReport = acked
            }
            guard let end = events.end else {
                if ContinuousClock.now - progress.at >= self.options.giveUpAfter {
                    throw Retry(reason: "no ack for \(self.options.giveUpAfter.freshetDescription)")
                }
                continue
            }
            switch end.status.code {
            case .ok where acked >= total:
                return try self.position(client)
            case .invalidArgument, .unimplemented, .permissionDenied, .unauthenticated:
                throw Fatal(reason: "the server refused the stream: \(end.status.code): \(end.status.message)")
            case .resourceExhausted where end.status.message.contains("larger than the limit"):
                throw Fatal(
                    reason:
                        "the server refused a batch as too large: \(end.status.message) (lower --max-batch-bytes, or raise the server's --max-message-bytes)"
                )
            default:
                throw Retry(
                    reason: "the stream ended at position \(acked) with \(end.status.code): \(end.status.message)")
            }
        }
    }

    private func position(_ client: GRPCClient) throws -> SourcePositionMessage {
        let response: GRPCResponse
        do {
            response = try client.unary(
                path: "/freshet.v1.Replication/GetPosition",
                request: ReplicationCodec.encodePositionRequest(source: self.options.source), timeout: .seconds(10))
        } catch {
            throw Retry(reason: "GetPosition failed: \(error)")
        }
        switch response.status.code {
        case .ok:
            guard let message = response.messages.first, let position = ReplicationCodec.decodePosition(message) else {
                throw Fatal(reason: "GetPosition answered with a message that is not a freshet.v1.SourcePosition")
            }
            return position
        case .invalidArgument, .unimplemented, .permissionDenied, .unauthenticated:
            throw Fatal(reason: "GetPosition refused: \(response.status.code): \(response.status.message)")
        default:
            throw Retry(reason: "GetPosition failed: \(response.status.code): \(response.status.message)")
        }
    }

    private static func sleep(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }
}

extension Duration {
    /// Seconds as a Double.
    var seconds: Double {
        let (seconds, attoseconds) = self.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
