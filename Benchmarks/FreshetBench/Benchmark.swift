// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Entry points: run a load test against a gRPC or Redis server, and print its result as text or JSON.

internal import FreshetCore
public import FreshetPosix

/// Load tests against a running server.
public enum Benchmark {
    /// Runs a gRPC load test on the calling thread.
    /// - Throws: ``SystemError``/``EndpointError`` when a connection cannot be made.
    public static func grpc(endpoint: Endpoint, payloads: GRPCPayloads, options: LoadOptions) throws -> LoadResult {
        TerminationSignals.ignoreBrokenPipe()
        let loop = try EventLoop()
        let runner = try LoadRunner(
            options: options, loop: loop, payloads: payloads.count, rowsOf: { payloads.rows[$0] }
        ) { owner in
            try GRPCLoadConnection(
                endpoint: endpoint, loop: loop, owner: owner, payloads: payloads, streams: options.streams)
        }
        return try runner.run()
    }

    /// Runs a Redis load test (GET or MGET, pipelined `streams` deep) on the calling thread.
    public static func redis(endpoint: Endpoint, payloads: RedisPayloads, options: LoadOptions) throws -> LoadResult {
        TerminationSignals.ignoreBrokenPipe()
        let loop = try EventLoop()
        let runner = try LoadRunner(
            options: options, loop: loop, payloads: payloads.count, rowsOf: { payloads.rows[$0] }
        ) { owner in
            try RedisLoadConnection(
                endpoint: endpoint, loop: loop, owner: owner, payloads: payloads, depth: options.streams)
        }
        return try runner.run()
    }
}

extension LoadResult {
    /// Latencies in microseconds at p50, p90, p99, p99.9 and the maximum.
    public var percentilesMicroseconds: (p50: Double, p90: Double, p99: Double, p999: Double, max: Double) {
        func micros(_ q: Double) -> Double { Double(self.latency.value(atQuantile: q)) / 1000 }
        return (micros(0.5), micros(0.9), micros(0.99), micros(0.999), Double(self.latency.maximum) / 1000)
    }

    /// A few lines for people.
    public func text(target: String) -> String {
        let p = self.percentilesMicroseconds
        var lines = [
            "\(target): \(self.mode), \(self.connections) connections × \(self.streams) streams",
            "measured \(format(self.measured.seconds)) s after \(format(self.warmup.seconds)) s warm-up: "
                + "\(self.requests) requests (\(self.succeeded) succeeded), \(self.rows) rows, \(self.errorCount) errors",
        ]
        if let reason = self.endedEarly {
            lines.append("ended early, before the \(format(self.duration.seconds)) s asked for: \(reason)")
        }
        lines += [
            "throughput: \(format(self.requestsPerSecond)) req/s, \(format(self.rowsPerSecond)) rows/s succeeded "
                + "(answers received in the window: \(format(self.completedPerSecond))/s)",
            "latency µs: p50 \(format(p.p50))  p90 \(format(p.p90))  p99 \(format(p.p99))  p99.9 \(format(p.p999))  "
                + "max \(format(p.max))  mean \(format(self.latency.mean / 1000))",
            "client cpu: \(format(self.clientCPU * 100))% of one core",
        ]
        for (name, count) in self.errors.sorted(by: { $0.key < $1.key }) {
            lines.append("errors \(name): \(count)" + (self.errorDetails[name].map { " (first: \($0))" } ?? ""))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// One JSON object (for scripts).
    public func json(target: String) -> String {
        let p = self.percentilesMicroseconds
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("target")
        writer.writeString(target)
        writer.key("mode")
        switch self.mode {
        case .closed:
            writer.writeString("closed")
        case .open(let rate):
            writer.writeString("open")
            writer.key("rate")
            writer.writeDouble(rate)
        }
        writer.key("connections")
        writer.writeInt64(Int64(self.connections))
        writer.key("streams")
        writer.writeInt64(Int64(self.streams))
        writer.key("duration_s")
        writer.writeDouble(self.duration.seconds)
        writer.key("measured_s")
        writer.writeDouble(self.measured.seconds)
        if let reason = self.endedEarly {
            writer.key("ended_early")
            writer.writeString(reason)
        }
        writer.key("warmup_s")
        writer.writeDouble(self.warmup.seconds)
        writer.key("requests")
        writer.writeInt64(Int64(self.requests))
        writer.key("rows")
        writer.writeInt64(Int64(self.rows))
        writer.key("succeeded")
        writer.writeInt64(Int64(self.succeeded))
        writer.key("offered_per_s")
        writer.writeDouble(self.offeredPerSecond)
        writer.key("requests_per_s")
        writer.writeDouble(self.requestsPerSecond)
        writer.key("rows_per_s")
        writer.writeDouble(self.rowsPerSecond)
        writer.key("completed_per_s")
        writer.writeDouble(self.completedPerSecond)
        writer.key("latency_us")
        writer.beginObject()
        for (name, value) in [
            ("p50", p.p50), ("p90", p.p90), ("p99", p.p99), ("p999", p.p999), ("max", p.max),
            ("mean", self.latency.mean / 1000),
        ] {
            writer.key(name)
            writer.writeDouble(value)
        }
        writer.endObject()
        writer.key("errors")
        writer.beginObject()
        for (name, count) in self.errors.sorted(by: { $0.key < $1.key }) {
            writer.key(name)
            writer.writeInt64(Int64(count))
        }
        writer.endObject()
        writer.key("error_details")
        writer.beginObject()
        for (name, detail) in self.errorDetails.sorted(by: { $0.key < $1.key }) {
            writer.key(name)
            writer.writeString(detail)
        }
        writer.endObject()
        writer.key("client_cpu")
        writer.writeDouble(self.clientCPU)
        writer.endObject()
        return writer.string
    }
}

/// A number for people: integers above 100 without decimals, others with up to 3 significant decimals.
func format(_ value: Double) -> String {
    guard value.isFinite, abs(value) < 1e15 else { return "\(value)" }
    if value >= 100 || value == value.rounded() { return String(Int(value.rounded())) }
    let scaled = (value * 1000).rounded() / 1000
    return String(scaled)
}
