// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// A log-linear latency histogram: constant memory, under 1% relative error from nanoseconds to minutes.

/// Latencies recorded into log-linear buckets, HDR-histogram style.
///
/// Values are nanoseconds. Below 256 ns every value has its own bucket; above, each power of two is split into 128
/// equal buckets, so a bucket is at most 1/128 (0.78%) of its value wide. Percentiles report the upper edge of the
/// bucket they fall in (never below the true value, at most 0.78% above). The exact maximum is kept separately.
/// Values above about 78 hours are clamped into the last bucket. 5,376 buckets; recording is a few instructions.
public struct LatencyHistogram: Sendable {
    static let subBucketBits = 7
    static let subBuckets = 1 << subBucketBits  // 128 per power of two
    static let octaves = 40  // up to 2^(40+8) ns

    private var counts: [UInt64]
    public private(set) var count: UInt64 = 0
    public private(set) var maximum: UInt64 = 0
    public private(set) var minimum: UInt64 = .max
    private var sum: Double = 0

    public init() {
        self.counts = [UInt64](repeating: 0, count: Self.bucketCount)
    }

    static var bucketCount: Int { 2 * Self.subBuckets + Self.octaves * Self.subBuckets }

    /// The bucket of a value.
    static func bucket(_ value: UInt64) -> Int {
        if value < UInt64(2 * Self.subBuckets) { return Int(value) }
        let shift = (63 - value.leadingZeroBitCount) - Self.subBucketBits  // ≥ 1
        let sub = Int(value >> UInt64(shift)) - Self.subBuckets  // 0..<128
        return min(2 * Self.subBuckets + (shift - 1) * Self.subBuckets + sub, Self.bucketCount - 1)
    }

    /// The largest value that falls in `bucket`.
    static func upperEdge(_ bucket: Int) -> UInt64 {
        if bucket < 2 * Self.subBuckets { return UInt64(bucket) }
        let shift = (bucket - 2 * Self.subBuckets) / Self.subBuckets + 1
        let sub = (bucket - 2 * Self.subBuckets) % Self.subBuckets + Self.subBuckets
        return (UInt64(sub + 1) << UInt64(shift)) - 1
    }

    /// Records one latency.
    public mutating func record(nanoseconds value: UInt64) {
        self.counts[Self.bucket(value)] += 1
        self.count += 1
        self.sum += Double(value)
        if value > self.maximum { self.maximum = value }
        if value < self.minimum { self.minimum = value }
    }

    /// Records one latency given as a Duration (negative durations count as 0).
    public mutating func record(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        let nanoseconds = seconds * 1_000_000_000 + attoseconds / 1_000_000_000
        self.record(nanoseconds: UInt64(max(0, nanoseconds)))
    }

    /// Adds every value of another histogram.
    public mutating func merge(_ other: LatencyHistogram) {
        for index in self.counts.indices { self.counts[index] += other.counts[index] }
        self.count += other.count
        self.sum += other.sum
        self.maximum = max(self.maximum, other.maximum)
        self.minimum = min(self.minimum, other.minimum)
    }

    /// The value at quantile `q` (0...1): the smallest recorded bucket edge at or below which at least `q` of the
    /// values lie. 0 for an empty histogram; the exact maximum for q = 1.
    public func value(atQuantile q: Double) -> UInt64 {
        guard self.count > 0 else { return 0 }
        if q >= 1 { return self.maximum }
        let wanted = max(1, UInt64((q * Double(self.count)).rounded(.up)))
        var seen: UInt64 = 0
        for (index, count) in self.counts.enumerated() where count > 0 {
            seen += count
            if seen >= wanted {
                // The last bucket also holds every clamped value: its edge would under-report them.
                return index == Self.bucketCount - 1 ? self.maximum : min(Self.upperEdge(index), self.maximum)
            }
        }
        return self.maximum
    }

    /// The mean of the recorded values, in nanoseconds.
    public var mean: Double { self.count == 0 ? 0 : self.sum / Double(self.count) }
}
