// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// The histogram's percentiles against distributions whose percentiles are known exactly.

import FreshetBench
import Testing

@Suite("Latency histogram")
struct LatencyHistogramTests {
    /// Relative error allowed: one bucket is at most 1/128 of its value wide.
    static let precision = 1.0 / 128

    private func expectClose(_ actual: UInt64, _ expected: Double, sourceLocation: SourceLocation = #_sourceLocation) {
        let error = abs(Double(actual) - expected) / max(expected, 1)
        #expect(error <= Self.precision, "got \(actual), expected \(expected)", sourceLocation: sourceLocation)
        #expect(Double(actual) >= expected - 1, "percentiles never under-report", sourceLocation: sourceLocation)
    }

    @Test func uniformFromOneMicrosecondToOneSecond() {
        var histogram = LatencyHistogram()
        // 1,000,000 evenly spaced values from 1 µs to 1 s.
        let count = 1_000_000
        for index in 1...count {
            histogram.record(nanoseconds: UInt64(index) * 1000)
        }
        for q in [0.5, 0.9, 0.99, 0.999] {
            self.expectClose(histogram.value(atQuantile: q), q * Double(count) * 1000)
        }
        #expect(histogram.maximum == UInt64(count) * 1000)
        #expect(histogram.value(atQuantile: 1) == histogram.maximum)
        #expect(histogram.count == UInt64(count))
        #expect(abs(histogram.mean - 500_000.5 * 1000) < 1)
    }

    @Test func exponentialTailIsResolved() {
        // Exponential with mean 100 µs via the inverse CDF at evenly spaced quantiles: p-quantile = -mean·ln(1-p).
        var histogram = LatencyHistogram()
        let count = 200_000
        for index in 0..<count {
            let p = (Double(index) + 0.5) / Double(count)
            histogram.record(nanoseconds: UInt64((-100_000 * log1p(-p)).rounded()))
        }
        for q in [0.5, 0.9, 0.99, 0.999] {
            self.expectClose(histogram.value(atQuantile: q), -100_000 * log1p(-q))
        }
    }

    @Test func aFewSlowValuesShowInTheTail() {
        var histogram = LatencyHistogram()
        for _ in 0..<9_990 { histogram.record(nanoseconds: 100_000) }
        for _ in 0..<10 { histogram.record(nanoseconds: 200_000_000) }
        self.expectClose(histogram.value(atQuantile: 0.99), 100_000)
        self.expectClose(histogram.value(atQuantile: 0.9995), 200_000_000)
        #expect(histogram.maximum == 200_000_000)
    }

    @Test func smallValuesAreExactAndHugeOnesClamp() {
        var histogram = LatencyHistogram()
        for value in [0, 1, 17, 255] as [UInt64] { histogram.record(nanoseconds: value) }
        #expect(histogram.value(atQuantile: 0.25) == 0)
        #expect(histogram.value(atQuantile: 0.5) == 1)
        #expect(histogram.value(atQuantile: 0.75) == 17)
        histogram.record(nanoseconds: .max)
        #expect(histogram.maximum == .max)
        #expect(histogram.value(atQuantile: 0.99) == .max, "the top value is reported as the exact maximum")
    }

    @Test func mergeAddsCounts() {
        var a = LatencyHistogram()
        var b = LatencyHistogram()
        for value in 1...1000 { a.record(nanoseconds: UInt64(value) * 1000) }
        for value in 1001...2000 { b.record(nanoseconds: UInt64(value) * 1000) }
        a.merge(b)
        #expect(a.count == 2000)
        self.expectClose(a.value(atQuantile: 0.5), 1_000_000)
        #expect(a.maximum == 2_000_000)
        #expect(LatencyHistogram().value(atQuantile: 0.5) == 0)
    }
}

private func log1p(_ x: Double) -> Double {
    // ln(1 + x) by the series for small x and a direct log otherwise, without Foundation.
    if abs(x) < 1e-4 { return x - x * x / 2 + x * x * x / 3 }
    return ln(1 + x)
}

private func ln(_ x: Double) -> Double {
    // Newton's method on exp(y) = x, starting from the exponent of x.
    var y = Double(x.exponent) * 0.6931471805599453
    for _ in 0..<40 {
        let e = exp(y)
        y -= (e - x) / e
    }
    return y
}

private func exp(_ x: Double) -> Double {
    // exp by squaring of a Taylor series on x / 2^k.
    let k = 20
    let small = x / Double(1 << k)
    var term = 1.0
    var sum = 1.0
    for n in 1..<20 {
        term *= small / Double(n)
        sum += term
    }
    for _ in 0..<k { sum *= sum }
    return sum
}
