// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Tests for Timestamp: RFC 3339 parsing and formatting, the civil calendar, the protobuf split and arithmetic.

import Testing

@testable import FreshetCore

/// Parses and returns the error, or `nil` when the text parses.
private func timestampError(_ text: String) -> TimestampError? {
    let result = Result { () throws(TimestampError) -> Timestamp in try Timestamp(iso8601: text) }
    if case .failure(let error) = result { return error }
    return nil
}

private let second: Int64 = 1_000_000_000

@Suite("Timestamp")
struct TimestampTests {
    // MARK: Parsing

    /// Expected values computed independently with Python's `calendar.timegm`.
    static let valid: [(String, Int64)] = [
        ("1970-01-01T00:00:00Z", 0),
        ("1970-01-02", 86_400 * second),
        ("2013-01-01T06:00:00Z", 1_357_020_000 * second),
        ("2013-10-19T03:59:00Z", 1_382_155_140 * second),
        ("2013-03-10T07:00:00Z", 1_362_898_800 * second),
        ("2000-02-29T12:00:00Z", 951_825_600 * second),
        ("2012-02-29", 1_330_473_600 * second),
        ("1900-03-01T00:00:00Z", -2_203_891_200 * second),
        ("2100-03-01T00:00:00Z", 4_107_542_400 * second),
        ("1969-07-20T20:17:40Z", -14_182_940 * second),
        ("1678-01-01T00:00:00Z", -9_214_560_000 * second),
        ("2261-12-31T23:59:59Z", 9_214_646_399 * second),
        // Lower case, a space instead of T, no offset (UTC), and offsets.
        ("2013-01-01t06:00:00z", 1_357_020_000 * second),
        ("2013-01-01 06:00:00Z", 1_357_020_000 * second),
        ("2013-01-01T06:00:00", 1_357_020_000 * second),
        ("2013-01-01T01:00:00-05:00", 1_357_020_000 * second),
        ("2013-01-01T11:30:00+05:30", 1_357_020_000 * second),
        ("2012-12-31T22:00:00-08:00", 1_357_020_000 * second),
        ("2013-01-01T06:00:00+00:00", 1_357_020_000 * second),
        ("2013-01-01T06:00:00-00:00", 1_357_020_000 * second),
        // Fractions of 1 to 9 digits.
        ("2013-01-01T06:00:00.5Z", 1_357_020_000 * second + 500_000_000),
        ("2013-01-01T06:00:00.000123Z", 1_357_020_000 * second + 123_000),
        ("2013-01-01T06:00:00.123456789Z", 1_357_020_000 * second + 123_456_789),
        ("2013-01-01T06:00:00.100+01:00", 1_357_016_400 * second + 100_000_000),
        ("1969-12-31T23:59:59.999999999Z", -1),
        ("1969-12-31T23:59:59.5Z", -500_000_000),
        // The representable extremes.
        ("1677-09-21T00:12:43.145224192Z", .min),
        ("2262-04-11T23:47:16.854775807Z", .max),
    ]

    @Test("parses RFC 3339 timestamps and dates", arguments: TimestampTests.valid)
    func parses(text: String, nanoseconds: Int64) throws {
        #expect(try Timestamp(iso8601: text).nanosecondsSinceEpoch == nanoseconds)
    }

    struct InvalidCase: CustomTestStringConvertible, Sendable {
        var text: String
        var message: String
        var testDescription: String { "\(self.text.debugDescription) -> \(self.message)" }
    }

    static let outOfRange =
        "out of range (supported: 1677-09-21T00:12:43.145224192Z to 2262-04-11T23:47:16.854775807Z)"

    static let expectedOffset = "expected 'Z', '+hh:mm' or '-hh:mm' after the time, found "

    static let invalid: [InvalidCase] = [
        .init(text: "2013-02-30T00:00:00Z", message: "day 30 is out of range for 2013-02"),
        .init(text: "2013-02-29", message: "day 29 is out of range for 2013-02"),
        .init(text: "1900-02-29", message: "day 29 is out of range for 1900-02"),
        .init(text: "2013-04-31", message: "day 31 is out of range for 2013-04"),
        .init(text: "2013-01-00", message: "day 0 is out of range for 2013-01"),
        .init(text: "2013-13-01", message: "month 13 is out of range"),
        .init(text: "2013-00-01", message: "month 0 is out of range"),
        .init(text: "2013-01-01T24:00:00Z", message: "hour 24 is out of range"),
        .init(text: "2013-01-01T23:60:00Z", message: "minute 60 is out of range"),
        .init(text: "2013-12-31T23:59:60Z", message: "leap second 60 is not supported"),
        .init(text: "2013-01-01T00:00:61Z", message: "second 61 is out of range"),
        .init(text: "2013-01-01T00:00:00.1234567891Z", message: "more than 9 fractional-second digits"),
        .init(text: "2013-01-01T00:00:00.Z", message: "expected digits after '.', found 'Z'"),
        .init(text: "2013-01-01T00:00Z", message: "expected ':' after the minute, found 'Z'"),
        .init(text: "2013-1-01", message: "expected 2 digits for the month, found '-'"),
        .init(text: "13-01-01", message: "expected 4 digits for the year, found '-'"),
        .init(text: "-2013-01-01", message: "expected 4 digits for the year, found '-'"),
        .init(text: "", message: "expected 4 digits for the year, found end of text"),
        .init(text: "2013", message: "expected '-' after the year, found end of text"),
        .init(text: "2013-01-01T", message: "expected 2 digits for the hour, found end of text"),
        .init(text: "2013-01-01  00:00:00Z", message: "expected 2 digits for the hour, found byte 0x20"),
        .init(text: "2013-01-01X", message: "expected 'T' or end of text after the date, found 'X'"),
        .init(text: "2013-01-01T00:00:00+0500", message: "expected ':' after the offset hour, found '0'"),
        .init(text: "2013-01-01T00:00:00+24:00", message: "offset hour 24 is out of range"),
        .init(text: "2013-01-01T00:00:00+05:60", message: "offset minute 60 is out of range"),
        .init(text: "2013-01-01T00:00:00+05", message: "expected ':' after the offset hour, found end of text"),
        .init(text: "2013-01-01T00:00:00Zjunk", message: "unexpected 'j' after the timestamp"),
        .init(text: "2013-01-01T00:00:00z ", message: "unexpected byte 0x20 after the timestamp"),
        .init(text: "2013-01-01T00:00:00 Z", message: TimestampTests.expectedOffset + "byte 0x20"),
        .init(text: "2013-01-01T00:00:00.12a", message: TimestampTests.expectedOffset + "'a'"),
        .init(text: "\u{FF12}\u{FF10}13-01-01", message: "expected 4 digits for the year, found byte 0xEF"),
        .init(text: "1677-09-21T00:12:43.145224191Z", message: TimestampTests.outOfRange),
        .init(text: "2262-04-11T23:47:16.854775808Z", message: TimestampTests.outOfRange),
        .init(text: "2262-04-12", message: TimestampTests.outOfRange),
        .init(text: "0000-01-01", message: TimestampTests.outOfRange),
        .init(text: "9999-12-31T23:59:59-23:59", message: TimestampTests.outOfRange),
    ]

    @Test("rejects invalid text with a message naming the problem", arguments: TimestampTests.invalid)
    func rejects(_ testCase: InvalidCase) throws {
        let error = try #require(timestampError(testCase.text))
        #expect(error.message == testCase.message)
        #expect(error.text == testCase.text)
    }

    @Test("error descriptions quote the text, cut to 64 characters")
    func errorDescription() throws {
        let error = try #require(timestampError("2013-02-30T00:00:00Z"))
        #expect(error.description == "'2013-02-30T00:00:00Z': day 30 is out of range for 2013-02")
        let long = String(repeating: "9", count: 500)
        let longError = try #require(timestampError(long))
        #expect(longError.description.hasPrefix("'" + String(repeating: "9", count: 64) + "…': "))
    }

    // MARK: Formatting

    static let formatted: [(Int64, String)] = [
        (0, "1970-01-01T00:00:00Z"),
        (1_357_020_000 * second, "2013-01-01T06:00:00Z"),
        (1_357_020_000 * second + 500_000_000, "2013-01-01T06:00:00.5Z"),
        (1_357_020_000 * second + 123_000, "2013-01-01T06:00:00.000123Z"),
        (1_357_020_000 * second + 1, "2013-01-01T06:00:00.000000001Z"),
        (1_357_020_000 * second + 120_000_000, "2013-01-01T06:00:00.12Z"),
        (-1, "1969-12-31T23:59:59.999999999Z"),
        (-second, "1969-12-31T23:59:59Z"),
        (951_825_600 * second, "2000-02-29T12:00:00Z"),
        (-2_203_891_200 * second, "1900-03-01T00:00:00Z"),
        (.min, "1677-09-21T00:12:43.145224192Z"),
        (.max, "2262-04-11T23:47:16.854775807Z"),
    ]

    @Test("formats as RFC 3339 UTC with trimmed fractions", arguments: TimestampTests.formatted)
    func formats(nanoseconds: Int64, text: String) throws {
        let timestamp = Timestamp(nanosecondsSinceEpoch: nanoseconds)
        #expect(timestamp.iso8601 == text)
        #expect(timestamp.description == text)
        #expect(try Timestamp(iso8601: text) == timestamp)
    }

    @Test("random instants round-trip through text")
    func randomRoundTrip() throws {
        var generator = SplitMix64(seed: 0x7135_7A3B)
        for index in 0..<10_000 {
            // Alternate between any instant and whole seconds (which format without a fraction).
            var nanoseconds = Int64(bitPattern: generator.next())
            if index.isMultiple(of: 2) {
                nanoseconds -= nanoseconds % second
            }
            let timestamp = Timestamp(nanosecondsSinceEpoch: nanoseconds)
            #expect(try Timestamp(iso8601: timestamp.iso8601) == timestamp)
        }
    }

    // MARK: Civil calendar

    @Test("days-from-civil agrees with a day-by-day calendar from 1677 to 2262")
    func civilCalendar() {
        func step(_ date: inout (year: Int64, month: Int64, day: Int64), forward: Bool) {
            if forward {
                date.day += 1
                if date.day > CivilCalendar.daysInMonth(year: date.year, month: date.month) {
                    date.day = 1
                    date.month += 1
                    if date.month > 12 {
                        date.month = 1
                        date.year += 1
                    }
                }
            } else {
                date.day -= 1
                if date.day == 0 {
                    date.month -= 1
                    if date.month == 0 {
                        date.month = 12
                        date.year -= 1
                    }
                    date.day = CivilCalendar.daysInMonth(year: date.year, month: date.month)
                }
            }
        }
        var mismatches = 0
        for forward in [true, false] {
            var date: (year: Int64, month: Int64, day: Int64) = (1970, 1, 1)
            var days: Int64 = 0
            while days >= -107_000 && days <= 107_000 {
                let civil = CivilCalendar.civilFromDays(days)
                let back = CivilCalendar.daysFromCivil(year: date.year, month: date.month, day: date.day)
                if civil != date || back != days {
                    mismatches += 1
                }
                step(&date, forward: forward)
                days += forward ? 1 : -1
            }
        }
        #expect(mismatches == 0)
    }

    static let leapYearCases: [(Int64, Bool)] = [
        (2000, true), (2012, true), (2013, false), (1900, false), (2100, false), (1600, true), (2400, true),
        (1970, false),
    ]

    @Test("leap years follow the Gregorian rule", arguments: TimestampTests.leapYearCases)
    func leapYears(year: Int64, isLeap: Bool) {
        #expect(CivilCalendar.isLeapYear(year) == isLeap)
        #expect(CivilCalendar.daysInMonth(year: year, month: 2) == (isLeap ? 29 : 28))
    }

    // MARK: Protobuf split

    static let splitCases: [(Int64, Int64, Int32)] = [
        (0, 0, 0),
        (1, 0, 1),
        (-1, -1, 999_999_999),
        (1_500_000_000, 1, 500_000_000),
        (-1_500_000_000, -2, 500_000_000),
        (-1_000_000_000, -1, 0),
        (.max, 9_223_372_036, 854_775_807),
        (.min, -9_223_372_037, 145_224_192),
    ]

    @Test(
        "seconds round toward negative infinity, nanoseconds stay in 0...999_999_999",
        arguments: TimestampTests.splitCases)
    func split(total: Int64, seconds: Int64, nanoseconds: Int32) throws {
        let timestamp = Timestamp(nanosecondsSinceEpoch: total)
        #expect(timestamp.seconds == seconds)
        #expect(timestamp.nanoseconds == nanoseconds)
        #expect(Timestamp(seconds: seconds, nanoseconds: nanoseconds) == timestamp)
        #expect(Timestamp(exactlySeconds: seconds, nanoseconds: nanoseconds) == timestamp)
    }

    @Test("init(exactlySeconds:nanoseconds:) rejects invalid wire values")
    func exactly() {
        #expect(Timestamp(exactlySeconds: 0, nanoseconds: -1) == nil)
        #expect(Timestamp(exactlySeconds: 0, nanoseconds: 1_000_000_000) == nil)
        #expect(Timestamp(exactlySeconds: .max, nanoseconds: 0) == nil)
        #expect(Timestamp(exactlySeconds: 9_223_372_036, nanoseconds: 854_775_808) == nil)
        #expect(Timestamp(exactlySeconds: -9_223_372_037, nanoseconds: 145_224_191) == nil)
        #expect(Timestamp(exactlySeconds: -9_223_372_036, nanoseconds: 0) != nil)
    }

    // MARK: Arithmetic

    @Test("adds and subtracts Durations")
    func arithmetic() throws {
        let six = try Timestamp(iso8601: "2013-01-01T06:00:00Z")
        #expect(six + .seconds(3600) == (try Timestamp(iso8601: "2013-01-01T07:00:00Z")))
        #expect(six - .milliseconds(1500) == (try Timestamp(iso8601: "2013-01-01T05:59:58.5Z")))
        #expect(six + .seconds(-60) == (try Timestamp(iso8601: "2013-01-01T05:59:00Z")))
        var moving = six
        moving += .seconds(7 * 86_400)
        moving -= .nanoseconds(1)
        #expect(moving.iso8601 == "2013-01-08T05:59:59.999999999Z")
        #expect(moving.duration(since: six) == .seconds(7 * 86_400) - .nanoseconds(1))
        #expect(six.duration(since: moving) == .nanoseconds(1) - .seconds(7 * 86_400))
        #expect(moving - six == moving.duration(since: six))
        #expect(Timestamp.epoch.duration(since: Timestamp(nanosecondsSinceEpoch: 1)) == .nanoseconds(-1))
    }

    @Test("sub-nanosecond durations truncate toward zero")
    func truncation() {
        #expect(Timestamp.epoch + .nanoseconds(3) / 2 == Timestamp(nanosecondsSinceEpoch: 1))
        #expect(Timestamp.epoch + .nanoseconds(-3) / 2 == Timestamp(nanosecondsSinceEpoch: -1))
        #expect(Timestamp.epoch + Duration(secondsComponent: 0, attosecondsComponent: 999_999_999) == .epoch)
    }

    @Test("adding(_:) reports overflow instead of trapping; the full range has an exact duration")
    func overflow() {
        #expect(Timestamp.max.adding(.nanoseconds(1)) == nil)
        #expect(Timestamp.min.adding(.nanoseconds(-1)) == nil)
        #expect(Timestamp.epoch.adding(.seconds(Int64.max)) == nil)
        #expect(Timestamp.epoch.adding(.seconds(Int64.min)) == nil)
        #expect(Timestamp.max.adding(.zero) == .max)
        let span = Timestamp.max.duration(since: .min)
        #expect(span == .nanoseconds(Int64.max) + .nanoseconds(Int64.max) + .nanoseconds(1))
    }

    @Test("orders by time")
    func ordering() throws {
        let texts = ["2013-01-01T06:00:00Z", "1969-12-31T23:59:59Z", "2013-01-01T06:00:00.5Z", "1970-01-01"]
        let sorted = try texts.map { text throws(TimestampError) in try Timestamp(iso8601: text) }.sorted()
        #expect(
            sorted.map(\.iso8601) == [
                "1969-12-31T23:59:59Z", "1970-01-01T00:00:00Z", "2013-01-01T06:00:00Z", "2013-01-01T06:00:00.5Z",
            ])
        #expect(Timestamp.min < .epoch && .epoch < .max)
    }

    @Test("now() reads the wall clock")
    func now() throws {
        let now = Timestamp.now()
        #expect(now > (try Timestamp(iso8601: "2024-01-01")))
        #expect(now < (try Timestamp(iso8601: "2100-01-01")))
    }
}
