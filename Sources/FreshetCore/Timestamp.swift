// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// A wall-clock instant in nanoseconds since the Unix epoch, with RFC 3339 parsing and formatting.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

// MARK: - Timestamp

/// An instant in UTC, as whole nanoseconds since 1970-01-01T00:00:00Z (the Unix epoch), ignoring leap seconds.
///
/// This is the event time of features and the time of requests. One `Int64` covers
/// 1677-09-21T00:12:43.145224192Z through 2262-04-11T23:47:16.854775807Z, ``min`` and ``max``.
///
/// ``seconds`` and ``nanoseconds`` give the split that `google.protobuf.Timestamp` uses: seconds are rounded
/// toward negative infinity and nanoseconds are always in `0...999_999_999`, so one nanosecond before the epoch is
/// `(seconds: -1, nanoseconds: 999_999_999)`.
///
/// Arithmetic with `Duration` truncates the duration toward zero to whole nanoseconds. The operators trap when
/// the result is outside ``min``...``max``, like integer arithmetic; ``adding(_:)`` returns `nil` instead.
public struct Timestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Nanoseconds since the Unix epoch; negative before 1970.
    public var nanosecondsSinceEpoch: Int64

    /// Creates a timestamp from nanoseconds since the Unix epoch.
    ///
    /// - Parameter nanosecondsSinceEpoch: The nanoseconds; negative before 1970.
    public init(nanosecondsSinceEpoch: Int64) {
        self.nanosecondsSinceEpoch = nanosecondsSinceEpoch
    }

    /// Creates a timestamp from seconds and nanoseconds since the Unix epoch.
    ///
    /// - Parameters:
    ///   - seconds: Whole seconds since the epoch.
    ///   - nanoseconds: Nanoseconds added to `seconds`; normally `0...999_999_999`, but any value is added as is.
    /// - Precondition: The instant is between ``min`` and ``max``. Use ``init(exactlySeconds:nanoseconds:)`` for
    ///   values from the network.
    public init(seconds: Int64, nanoseconds: Int32 = 0) {
        let total = Timestamp.nanoseconds(seconds: seconds, nanoseconds: Int64(nanoseconds))
        precondition(total != nil, "Timestamp(seconds: \(seconds), nanoseconds: \(nanoseconds)) is out of range")
        self.nanosecondsSinceEpoch = total ?? 0
    }

    /// Creates a timestamp from a `google.protobuf.Timestamp`-style pair, or `nil` when it is invalid.
    ///
    /// - Parameters:
    ///   - seconds: Whole seconds since the epoch.
    ///   - nanoseconds: Nanoseconds within the second.
    /// - Returns: `nil` when `nanoseconds` is outside `0...999_999_999` or the instant is outside
    ///   ``min``...``max``.
    public init?(exactlySeconds seconds: Int64, nanoseconds: Int32) {
        guard (0...999_999_999).contains(nanoseconds),
            let total = Timestamp.nanoseconds(seconds: seconds, nanoseconds: Int64(nanoseconds))
        else {
            return nil
        }
        self.nanosecondsSinceEpoch = total
    }

    /// The Unix epoch, 1970-01-01T00:00:00Z.
    public static let epoch = Timestamp(nanosecondsSinceEpoch: 0)

    /// The earliest representable instant, 1677-09-21T00:12:43.145224192Z.
    public static let min = Timestamp(nanosecondsSinceEpoch: .min)

    /// The latest representable instant, 2262-04-11T23:47:16.854775807Z.
    public static let max = Timestamp(nanosecondsSinceEpoch: .max)

    /// Whole seconds since the epoch, rounded toward negative infinity.
    public var seconds: Int64 {
        let (quotient, remainder) = self.nanosecondsSinceEpoch.quotientAndRemainder(dividingBy: 1_000_000_000)
        return remainder < 0 ? quotient - 1 : quotient
    }

    /// Nanoseconds within the second, always `0...999_999_999`.
    public var nanoseconds: Int32 {
        let remainder = self.nanosecondsSinceEpoch % 1_000_000_000
        return Int32(remainder < 0 ? remainder + 1_000_000_000 : remainder)
    }

    /// The current wall-clock time (`CLOCK_REALTIME`).
    ///
    /// Wall-clock time can jump when the system clock is set; measure elapsed time with `ContinuousClock`.
    ///
    /// - Returns: The current time.
    public static func now() -> Timestamp {
        var time = timespec()
        _ = clock_gettime(CLOCK_REALTIME, &time)
        return Timestamp(nanosecondsSinceEpoch: Int64(time.tv_sec) &* 1_000_000_000 &+ Int64(time.tv_nsec))
    }

    /// Orders timestamps by time.
    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        lhs.nanosecondsSinceEpoch < rhs.nanosecondsSinceEpoch
    }

    /// The RFC 3339 text, as in ``iso8601``.
    public var description: String { self.iso8601 }

    /// `seconds * 1e9 + nanoseconds`, or `nil` when that is outside `Int64`.
    ///
    /// The nanoseconds are first folded into `(-1e9, 1e9)` with the sign of the seconds, so that a sum in range is
    /// never lost to an intermediate product out of range: `Timestamp.min` is -9,223,372,037 s + 145,224,192 ns,
    /// and -9,223,372,037 s alone does not fit.
    static func nanoseconds(seconds: Int64, nanoseconds: Int64) -> Int64? {
        let (carry, remainder) = floorDivide(nanoseconds, 1_000_000_000)
        let sum = seconds.addingReportingOverflow(carry)
        var wholeSeconds = sum.partialValue
        var fraction = remainder
        if wholeSeconds < 0 && fraction > 0 {
            wholeSeconds += 1
            fraction -= 1_000_000_000
        }
        let (scaled, overflow2) = wholeSeconds.multipliedReportingOverflow(by: 1_000_000_000)
        let (total, overflow3) = scaled.addingReportingOverflow(fraction)
        return sum.overflow || overflow2 || overflow3 ? nil : total
    }
}

// MARK: - Arithmetic

extension Timestamp {
    /// This timestamp moved by a duration, or `nil` when the result is outside ``min``...``max``.
    ///
    /// - Parameter duration: The duration, truncated toward zero to whole nanoseconds.
    /// - Returns: The moved timestamp, or `nil` on overflow.
    public func adding(_ duration: Duration) -> Timestamp? {
        guard let delta = duration.wholeNanoseconds else { return nil }
        let (total, overflow) = self.nanosecondsSinceEpoch.addingReportingOverflow(delta)
        return overflow ? nil : Timestamp(nanosecondsSinceEpoch: total)
    }

    /// The duration from `other` to this timestamp; negative when `other` is later.
    ///
    /// - Parameter other: The earlier instant.
    /// - Returns: `self - other`, exact (it cannot overflow).
    public func duration(since other: Timestamp) -> Duration {
        .seconds(self.seconds - other.seconds) + .nanoseconds(Int64(self.nanoseconds) - Int64(other.nanoseconds))
    }

    /// A timestamp moved later by a duration.
    ///
    /// - Precondition: The result is between ``min`` and ``max``; see ``adding(_:)``.
    public static func + (lhs: Timestamp, rhs: Duration) -> Timestamp {
        guard let result = lhs.adding(rhs) else {
            preconditionFailure("Timestamp \(lhs) + \(rhs) is out of range")
        }
        return result
    }

    /// A timestamp moved earlier by a duration.
    ///
    /// - Precondition: The result is between ``min`` and ``max``; see ``adding(_:)``.
    public static func - (lhs: Timestamp, rhs: Duration) -> Timestamp {
        guard let result = lhs.adding(.zero - rhs) else {
            preconditionFailure("Timestamp \(lhs) - \(rhs) is out of range")
        }
        return result
    }

    /// Moves a timestamp later by a duration.
    ///
    /// - Precondition: The result is between ``min`` and ``max``.
    public static func += (lhs: inout Timestamp, rhs: Duration) {
        lhs = lhs + rhs
    }

    /// Moves a timestamp earlier by a duration.
    ///
    /// - Precondition: The result is between ``min`` and ``max``.
    public static func -= (lhs: inout Timestamp, rhs: Duration) {
        lhs = lhs - rhs
    }

    /// The duration between two timestamps, as ``duration(since:)``.
    public static func - (lhs: Timestamp, rhs: Timestamp) -> Duration {
        lhs.duration(since: rhs)
    }
}

extension Duration {
    /// The duration in whole nanoseconds, truncated toward zero, or `nil` when that does not fit in an `Int64`.
    var wholeNanoseconds: Int64? {
        let (seconds, attoseconds) = self.components
        return Timestamp.nanoseconds(seconds: seconds, nanoseconds: attoseconds / 1_000_000_000)
    }
}

// MARK: - TimestampError

/// Why a timestamp text was rejected.
public struct TimestampError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The text that was parsed.
    public var text: String
    /// What is wrong with it, for example `day 30 is out of range for 2013-02`.
    public var message: String

    /// Creates an error.
    ///
    /// - Parameters:
    ///   - text: The text that was parsed.
    ///   - message: What is wrong with it.
    public init(text: String, message: String) {
        self.text = text
        self.message = message
    }

    /// The quoted text and the problem, as in `'2013-02-30T00:00:00Z': day 30 is out of range for 2013-02`.
    /// Long texts are cut to 64 characters.
    public var description: String {
        "\(TextScanning.quoted(self.text)): \(self.message)"
    }
}

// MARK: - RFC 3339

extension Timestamp {
    /// Parses an RFC 3339 timestamp, or a date alone.
    ///
    /// Accepted forms:
    /// - `YYYY-MM-DDTHH:MM:SS`, optionally followed by `.` and 1 to 9 fractional-second digits, then optionally an
    ///   offset: `Z`, `+hh:mm` or `-hh:mm`. Without an offset the time is taken as UTC. `t` and `z` may be lower
    ///   case, and a single space may replace the `T` (RFC 3339 section 5.6 allows both).
    /// - `YYYY-MM-DD`, meaning midnight UTC at the start of that day.
    ///
    /// Every field must have exactly its number of digits, and every range is checked: month 1-12, day within the
    /// month (February has 29 days in leap years), hour 0-23, minute 0-59, second 0-59, offset up to 23:59.
    /// A leap second (`:60`) is rejected rather than clamped, because Freshet's timeline, like Unix time and
    /// `google.protobuf.Timestamp`, has no leap seconds and clamping would silently reorder events. Instants outside
    /// ``min``...``max`` (roughly years 1677 to 2262) are rejected.
    ///
    /// - Parameter text: The text, for example `2013-01-01T06:00:00Z`.
    /// - Throws: ``TimestampError`` naming the text and the first problem.
    public init(iso8601 text: String) throws(TimestampError) {
        var utf8 = text
        let result = utf8.withUTF8 { RFC3339.parse($0) }
        switch result {
        case .success(let nanoseconds):
            self.init(nanosecondsSinceEpoch: nanoseconds)
        case .failure(let message):
            throw TimestampError(text: text, message: message.text)
        }
    }

    /// The instant in RFC 3339 form, in UTC with a `Z`: `2013-01-01T06:00:00Z`.
    ///
    /// Fractional seconds appear only when they are not zero, with trailing zeros trimmed
    /// (`2013-01-01T06:00:00.5Z`, `1969-12-31T23:59:59.999999999Z`). ``init(iso8601:)`` reads it back exactly.
    public var iso8601: String {
        let seconds = self.seconds
        let (days, secondOfDay) = floorDivide(seconds, 86_400)
        let (year, month, day) = CivilCalendar.civilFromDays(days)
        var out: [UInt8] = []
        out.reserveCapacity(30)
        appendDigits(&out, year, count: 4)
        out.append(UInt8(ascii: "-"))
        appendDigits(&out, month, count: 2)
        out.append(UInt8(ascii: "-"))
        appendDigits(&out, day, count: 2)
        out.append(UInt8(ascii: "T"))
        appendDigits(&out, secondOfDay / 3600, count: 2)
        out.append(UInt8(ascii: ":"))
        appendDigits(&out, secondOfDay / 60 % 60, count: 2)
        out.append(UInt8(ascii: ":"))
        appendDigits(&out, secondOfDay % 60, count: 2)
        var fraction = Int64(self.nanoseconds)
        if fraction != 0 {
            var digits = 9
            while fraction % 10 == 0 {
                fraction /= 10
                digits -= 1
            }
            out.append(UInt8(ascii: "."))
            appendDigits(&out, fraction, count: digits)
        }
        out.append(UInt8(ascii: "Z"))
        return String(decoding: out, as: UTF8.self)
    }
}

/// The RFC 3339 grammar, over the UTF-8 bytes of the text.
private enum RFC3339 {
    /// A problem, as a message without the text (the caller adds it).
    struct Problem: Error {
        var text: String
    }

    /// A cursor over the text's bytes.
    struct Cursor {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0

        var isAtEnd: Bool { self.index >= self.bytes.count }

        func peek() -> UInt8? {
            self.index < self.bytes.count ? self.bytes[self.index] : nil
        }

        /// What is at the cursor, for messages: `'x'`, `byte 0xC3` or `end of text`.
        func found() -> String {
            guard let byte = self.peek() else { return "end of text" }
            return TextScanning.describe(byte: byte)
        }

        /// Reads exactly `count` ASCII digits.
        mutating func digits(_ count: Int, _ what: String) throws(Problem) -> Int64 {
            var value: Int64 = 0
            for offset in 0..<count {
                guard self.index + offset < self.bytes.count, TextScanning.isDigit(self.bytes[self.index + offset])
                else {
                    throw Problem(text: "expected \(count) digits for the \(what), found \(self.foundAt(offset))")
                }
                value = value * 10 + Int64(self.bytes[self.index + offset] - UInt8(ascii: "0"))
            }
            self.index += count
            return value
        }

        func foundAt(_ offset: Int) -> String {
            let position = self.index + offset
            guard position < self.bytes.count else { return "end of text" }
            return TextScanning.describe(byte: self.bytes[position])
        }

        mutating func expect(_ byte: UInt8, after what: String) throws(Problem) {
            guard self.peek() == byte else {
                throw Problem(
                    text: "expected '\(Character(Unicode.Scalar(byte)))' after the \(what), found \(self.found())")
            }
            self.index += 1
        }
    }

    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> Result<Int64, Problem> {
        Result { () throws(Problem) -> Int64 in try self.parseOrThrow(bytes) }
    }

    private static func parseOrThrow(_ bytes: UnsafeBufferPointer<UInt8>) throws(Problem) -> Int64 {
        var cursor = Cursor(bytes: bytes)
        let year = try cursor.digits(4, "year")
        try cursor.expect(UInt8(ascii: "-"), after: "year")
        let month = try cursor.digits(2, "month")
        guard (1...12).contains(month) else {
            throw Problem(text: "month \(month) is out of range")
        }
        try cursor.expect(UInt8(ascii: "-"), after: "month")
        let day = try cursor.digits(2, "day")
        guard day >= 1 && day <= CivilCalendar.daysInMonth(year: year, month: month) else {
            throw Problem(text: "day \(day) is out of range for \(pad(year, 4))-\(pad(month, 2))")
        }
        let days = CivilCalendar.daysFromCivil(year: year, month: month, day: day)

        var secondOfDay: Int64 = 0
        var fraction: Int64 = 0
        var offsetSeconds: Int64 = 0
        if !cursor.isAtEnd {
            switch cursor.peek() {
            case UInt8(ascii: "T"), UInt8(ascii: "t"), UInt8(ascii: " "):
                cursor.index += 1
            default:
                throw Problem(text: "expected 'T' or end of text after the date, found \(cursor.found())")
            }
            let hour = try cursor.digits(2, "hour")
            guard hour <= 23 else { throw Problem(text: "hour \(hour) is out of range") }
            try cursor.expect(UInt8(ascii: ":"), after: "hour")
            let minute = try cursor.digits(2, "minute")
            guard minute <= 59 else { throw Problem(text: "minute \(minute) is out of range") }
            try cursor.expect(UInt8(ascii: ":"), after: "minute")
            let second = try cursor.digits(2, "second")
            if second == 60 {
                throw Problem(text: "leap second 60 is not supported")
            }
            guard second <= 59 else { throw Problem(text: "second \(second) is out of range") }
            secondOfDay = hour * 3600 + minute * 60 + second

            if cursor.peek() == UInt8(ascii: ".") {
                cursor.index += 1
                var count = 0
                while let byte = cursor.peek(), TextScanning.isDigit(byte) {
                    count += 1
                    guard count <= 9 else {
                        throw Problem(text: "more than 9 fractional-second digits")
                    }
                    fraction = fraction * 10 + Int64(byte - UInt8(ascii: "0"))
                    cursor.index += 1
                }
                guard count > 0 else {
                    throw Problem(text: "expected digits after '.', found \(cursor.found())")
                }
                for _ in count..<9 {
                    fraction *= 10
                }
            }

            switch cursor.peek() {
            case nil:
                break
            case UInt8(ascii: "Z"), UInt8(ascii: "z"):
                cursor.index += 1
            case UInt8(ascii: "+"), UInt8(ascii: "-"):
                let sign: Int64 = cursor.peek() == UInt8(ascii: "-") ? -1 : 1
                cursor.index += 1
                let offsetHour = try cursor.digits(2, "offset hour")
                guard offsetHour <= 23 else { throw Problem(text: "offset hour \(offsetHour) is out of range") }
                try cursor.expect(UInt8(ascii: ":"), after: "offset hour")
                let offsetMinute = try cursor.digits(2, "offset minute")
                guard offsetMinute <= 59 else {
                    throw Problem(text: "offset minute \(offsetMinute) is out of range")
                }
                offsetSeconds = sign * (offsetHour * 3600 + offsetMinute * 60)
            default:
                throw Problem(text: "expected 'Z', '+hh:mm' or '-hh:mm' after the time, found \(cursor.found())")
            }
        }
        guard cursor.isAtEnd else {
            throw Problem(text: "unexpected \(cursor.found()) after the timestamp")
        }
        // Years are at most 9999, so the seconds cannot overflow; only the nanoseconds can.
        let seconds = days * 86_400 + secondOfDay - offsetSeconds
        guard let nanoseconds = Timestamp.nanoseconds(seconds: seconds, nanoseconds: fraction) else {
            throw Problem(text: "out of range (supported: \(Timestamp.min.iso8601) to \(Timestamp.max.iso8601))")
        }
        return nanoseconds
    }
}

// MARK: - Civil calendar

/// The proleptic Gregorian calendar, as day counts from 1970-01-01 (Howard Hinnant's algorithms,
/// https://howardhinnant.github.io/date_algorithms.html).
///
/// Shifting each year to start in March puts the leap day last, so the day of the year is a linear formula of the
/// month; 400-year eras (146,097 days) make the arithmetic exact for negative years too.
enum CivilCalendar {
    /// Days since 1970-01-01 of a date (`days_from_civil`).
    static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let year = month <= 2 ? year - 1 : year
        let era = (year >= 0 ? year : year - 399) / 400
        let yearOfEra = year - era * 400  // 0...399
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1  // 0...365
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear  // 0...146096
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The date of a day count since 1970-01-01 (`civil_from_days`).
    static func civilFromDays(_ days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097  // 0...146096
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365  // 0...399
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)  // 0...365
        let monthIndex = (5 * dayOfYear + 2) / 153  // 0...11, March first
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }

    /// Whether a year has a February 29.
    static func isLeapYear(_ year: Int64) -> Bool {
        year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    }

    /// The number of days in a month (1-12) of a year.
    static func daysInMonth(year: Int64, month: Int64) -> Int64 {
        switch month {
        case 2: self.isLeapYear(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}

// MARK: - Integer helpers

/// Division rounding toward negative infinity, with a remainder in `0..<divisor`.
private func floorDivide(_ value: Int64, _ divisor: Int64) -> (quotient: Int64, remainder: Int64) {
    let (quotient, remainder) = value.quotientAndRemainder(dividingBy: divisor)
    return remainder < 0 ? (quotient - 1, remainder + divisor) : (quotient, remainder)
}

/// Appends a non-negative number as at least `count` digits, zero-padded.
private func appendDigits(_ out: inout [UInt8], _ value: Int64, count: Int) {
    var digits: [UInt8] = []
    var rest = value.magnitude
    repeat {
        digits.append(UInt8(ascii: "0") + UInt8(rest % 10))
        rest /= 10
    } while rest > 0
    if value < 0 {
        out.append(UInt8(ascii: "-"))
    }
    for _ in digits.count..<max(count, digits.count) {
        out.append(UInt8(ascii: "0"))
    }
    out.append(contentsOf: digits.reversed())
}

/// A non-negative number as at least `count` zero-padded digits.
private func pad(_ value: Int64, _ count: Int) -> String {
    var out: [UInt8] = []
    appendDigits(&out, value, count: count)
    return String(decoding: out, as: UTF8.self)
}
