// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Tests for Go-style duration parsing and the compact formatting that reads back to the same Duration.

import Testing

@testable import FreshetCore

/// Parses and returns the error, or `nil` when the text parses.
private func durationError(_ text: String) -> DurationParseError? {
    let result = Result { () throws(DurationParseError) -> Duration in try Duration(parsing: text) }
    if case .failure(let error) = result { return error }
    return nil
}

@Suite("Duration parsing")
struct DurationParsingTests {
    static let valid: [(String, Duration)] = [
        ("0", .zero),
        ("0s", .zero),
        ("0h0m", .zero),
        ("1h", .seconds(3600)),
        ("90m", .seconds(5400)),
        ("1h30m", .seconds(5400)),
        ("30m1h", .seconds(5400)),
        ("1h1h", .seconds(7200)),
        ("2.5s", .milliseconds(2500)),
        ("1.5h", .seconds(5400)),
        (".5s", .milliseconds(500)),
        ("1.s", .seconds(1)),
        ("500ms", .milliseconds(500)),
        ("250us", .microseconds(250)),
        ("250\u{B5}s", .microseconds(250)),
        ("250\u{3BC}s", .microseconds(250)),
        ("100ns", .nanoseconds(100)),
        ("7d", .seconds(7 * 86_400)),
        ("1d12h", .seconds(36 * 3600)),
        ("0.5d", .seconds(43_200)),
        ("1ns1us1ms1s", .nanoseconds(1_001_001_001)),
        ("0.000000001s", .nanoseconds(1)),
        ("1.9ns", .nanoseconds(1)),
        ("0.1s", .milliseconds(100)),
        ("0.3333333333333333333333333h", .nanoseconds(1_199_999_999_999)),
        ("001s", .seconds(1)),
        ("9223372036854775807ns", .nanoseconds(Int64.max)),
        ("106751d23h47m16.854775807s", .nanoseconds(Int64.max)),
        ("2562047h47m16.854775807s", .nanoseconds(Int64.max)),
    ]

    @Test("parses Go-style durations", arguments: DurationParsingTests.valid)
    func parses(text: String, expected: Duration) throws {
        #expect(try Duration(parsing: text) == expected)
    }

    static let tooLarge = "duration is longer than the maximum of 106751d23h47m16.854775807s"

    static let invalid: [(String, String)] = [
        ("", "empty duration"),
        ("-1s", "negative durations are not allowed"),
        ("+1s", "a sign is not allowed"),
        ("1", "missing unit after '1' (use ns, us, ms, s, m, h or d)"),
        ("00", "missing unit after '00' (use ns, us, ms, s, m, h or d)"),
        ("1h30", "missing unit after '30' (use ns, us, ms, s, m, h or d)"),
        ("1.5.5s", "missing unit after '1.5' (use ns, us, ms, s, m, h or d)"),
        ("1x", "unknown unit 'x' (use ns, us, ms, s, m, h or d)"),
        ("1H", "unknown unit 'H' (use ns, us, ms, s, m, h or d)"),
        ("1 h", "unknown unit ' h' (use ns, us, ms, s, m, h or d)"),
        ("1sec", "unknown unit 'sec' (use ns, us, ms, s, m, h or d)"),
        ("1h-5m", "unknown unit 'h-' (use ns, us, ms, s, m, h or d)"),
        ("h", "expected a number, found 'h'"),
        (".s", "expected a number, found 's'"),
        ("1h.", "expected a number, found end of text"),
        (" 1s", "expected a number, found byte 0x20"),
        ("9223372036854775808ns", DurationParsingTests.tooLarge),
        ("106752d", DurationParsingTests.tooLarge),
        ("106751d23h47m16.854775808s", DurationParsingTests.tooLarge),
        ("99999999999999999999999s", DurationParsingTests.tooLarge),
        ("9223372036854775807ns1ns", DurationParsingTests.tooLarge),
    ]

    @Test("rejects invalid text with a message naming the problem", arguments: DurationParsingTests.invalid)
    func rejects(text: String, message: String) throws {
        let error = try #require(durationError(text))
        #expect(error.message == message)
        #expect(error.text == text)
    }

    @Test("error descriptions quote the text")
    func errorDescription() throws {
        #expect(durationError("1x")?.description == "'1x': unknown unit 'x' (use ns, us, ms, s, m, h or d)")
    }

    static let formatted: [(Duration, String)] = [
        (.zero, "0s"),
        (.seconds(5400), "1h30m"),
        (.seconds(3600), "1h"),
        (.seconds(60), "1m"),
        (.seconds(1), "1s"),
        (.milliseconds(500), "500ms"),
        (.microseconds(250), "250us"),
        (.nanoseconds(100), "100ns"),
        (.seconds(7 * 86_400), "7d"),
        (.milliseconds(2500), "2.5s"),
        (.nanoseconds(1_500_000), "1.5ms"),
        (.nanoseconds(1_234_567), "1.234567ms"),
        (.nanoseconds(1_500), "1.5us"),
        (.seconds(60) + .milliseconds(500), "1m0.5s"),
        (.seconds(86_401), "1d1s"),
        (.seconds(3600) + .nanoseconds(1), "1h0.000000001s"),
        (.nanoseconds(Int64.max), "106751d23h47m16.854775807s"),
        (.milliseconds(-1500), "-1.5s"),
        (.nanoseconds(1) / 2, "0s"),
    ]

    @Test("formats compactly", arguments: DurationParsingTests.formatted)
    func formats(duration: Duration, text: String) throws {
        #expect(duration.freshetDescription == text)
        if duration >= .zero {
            #expect(try Duration(parsing: text) == Duration.nanoseconds(duration.wholeNanoseconds ?? -1))
        }
    }

    @Test("parsed durations format back to text that parses to the same value", arguments: DurationParsingTests.valid)
    func reformat(text: String, expected: Duration) throws {
        #expect(try Duration(parsing: expected.freshetDescription) == expected)
    }

    @Test("random durations round-trip through freshetDescription")
    func randomRoundTrip() throws {
        var generator = SplitMix64(seed: 0xD0_2A7_1011)
        for index in 0..<10_000 {
            // Spread magnitudes over every unit, from nanoseconds to centuries.
            let bits = Int64(generator.next() % 63)
            var nanoseconds = Int64(generator.next() >> 1) >> (62 - bits)
            if index.isMultiple(of: 3) {
                nanoseconds -= nanoseconds % 1_000_000_000
            }
            let duration = Duration.nanoseconds(nanoseconds)
            #expect(try Duration(parsing: duration.freshetDescription) == duration)
        }
    }
}
