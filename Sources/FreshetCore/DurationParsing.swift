// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Go-style duration text (`1h30m`, `500ms`, `7d`) parsed into and formatted from Swift's `Duration`.

// MARK: - DurationParseError

/// Why a duration text was rejected.
public struct DurationParseError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The text that was parsed.
    public var text: String
    /// What is wrong with it, for example `unknown unit 'x'`.
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

    /// The quoted text and the problem, as in `'1x': unknown unit 'x'`. Long texts are cut to 64 characters.
    public var description: String {
        "\(TextScanning.quoted(self.text)): \(self.message)"
    }
}

// MARK: - Parsing

extension Duration {
    /// The largest duration ``init(parsing:)`` accepts: `Int64.max` nanoseconds, about 292 years (as in Go).
    public static let maxParsable = Duration.nanoseconds(Int64.max)

    /// Parses a Go-style duration such as `1h30m`, `2.5s`, `500ms` or `7d`.
    ///
    /// The text is one or more numbers, each followed by a unit, with no spaces: `ns`, `us` (or `µs` with U+00B5
    /// MICRO SIGN, or `μs` with U+03BC GREEK SMALL LETTER MU), `ms`, `s`, `m`, `h`, and `d` for 24-hour days (an
    /// extension to Go, for feature `max_age`). A number is decimal digits with an optional fraction (`1.5h`,
    /// `.5s` and `1.s` are accepted, as in Go). Units may repeat and come in any order; the parts are added up.
    /// The text `0` alone means zero; any other number needs a unit.
    ///
    /// Durations are never negative: a leading `-` (or `+`) is rejected. The result is truncated toward zero to
    /// whole nanoseconds (`1.5ns` is 1 ns) and must not exceed ``maxParsable``.
    ///
    /// - Parameter text: The text.
    /// - Throws: ``DurationParseError`` naming the text and the problem.
    public init(parsing text: String) throws(DurationParseError) {
        var utf8 = text
        let result = utf8.withUTF8 { GoDuration.parse($0) }
        switch result {
        case .success(let nanoseconds):
            self = .nanoseconds(nanoseconds)
        case .failure(let problem):
            throw DurationParseError(text: text, message: problem.text)
        }
    }
}

/// The Go `time.ParseDuration` grammar (plus `d`), over the UTF-8 bytes of the text.
private enum GoDuration {
    struct Problem: Error {
        var text: String
    }

    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> Result<Int64, Problem> {
        Result { () throws(Problem) -> Int64 in try self.parseOrThrow(bytes) }
    }

    private static let tooLarge = Problem(
        text: "duration is longer than the maximum of \(Duration.maxParsable.freshetDescription)")

    private static func parseOrThrow(_ bytes: UnsafeBufferPointer<UInt8>) throws(Problem) -> Int64 {
        guard let first = bytes.first else {
            throw Problem(text: "empty duration")
        }
        if first == UInt8(ascii: "-") {
            throw Problem(text: "negative durations are not allowed")
        }
        if first == UInt8(ascii: "+") {
            throw Problem(text: "a sign is not allowed")
        }
        if bytes.count == 1 && first == UInt8(ascii: "0") {
            return 0
        }
        var index = 0
        var total: UInt64 = 0
        while index < bytes.count {
            // The number: whole digits, then an optional fraction of which the first 18 digits count (later digits
            // are below 10^-4 ns for every unit).
            let numberStart = index
            var whole: UInt64 = 0
            var wholeOverflow = false
            while index < bytes.count, TextScanning.isDigit(bytes[index]) {
                let (times10, overflow1) = whole.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = times10.addingReportingOverflow(UInt64(bytes[index] - UInt8(ascii: "0")))
                wholeOverflow = wholeOverflow || overflow1 || overflow2
                whole = sum
                index += 1
            }
            var hasDigits = index > numberStart
            var fraction: UInt64 = 0
            var scale: UInt64 = 1
            if index < bytes.count && bytes[index] == UInt8(ascii: ".") {
                index += 1
                while index < bytes.count, TextScanning.isDigit(bytes[index]) {
                    if scale < 1_000_000_000_000_000_000 {
                        fraction = fraction * 10 + UInt64(bytes[index] - UInt8(ascii: "0"))
                        scale *= 10
                    }
                    hasDigits = true
                    index += 1
                }
            }
            guard hasDigits else {
                let found = index < bytes.count ? TextScanning.describe(byte: bytes[index]) : "end of text"
                throw Problem(text: "expected a number, found \(found)")
            }

            // The unit: everything up to the next number.
            let unitStart = index
            while index < bytes.count, !TextScanning.isDigit(bytes[index]), bytes[index] != UInt8(ascii: ".") {
                index += 1
            }
            let unitBytes = UnsafeBufferPointer(rebasing: bytes[unitStart..<index])
            guard !unitBytes.isEmpty else {
                let number = String(decoding: UnsafeBufferPointer(rebasing: bytes[numberStart..<index]), as: UTF8.self)
                throw Problem(text: "missing unit after \(TextScanning.quoted(number)) (use ns, us, ms, s, m, h or d)")
            }
            guard let unit = self.nanosecondsPerUnit(unitBytes) else {
                let name = String(decoding: unitBytes, as: UTF8.self)
                throw Problem(text: "unknown unit \(TextScanning.quoted(name)) (use ns, us, ms, s, m, h or d)")
            }

            // whole * unit + fraction * unit / scale, all checked against Int64.max nanoseconds.
            guard !wholeOverflow else { throw self.tooLarge }
            let (wholeNanoseconds, overflow) = whole.multipliedReportingOverflow(by: unit)
            guard !overflow else { throw self.tooLarge }
            // fraction < scale, so the quotient is below `unit` and fits.
            let fractionNanoseconds = scale.dividingFullWidth(fraction.multipliedFullWidth(by: unit)).quotient
            let (part, overflow2) = wholeNanoseconds.addingReportingOverflow(fractionNanoseconds)
            let (sum, overflow3) = total.addingReportingOverflow(part)
            guard !overflow2, !overflow3, sum <= UInt64(Int64.max) else { throw self.tooLarge }
            total = sum
        }
        return Int64(total)
    }

    private static func nanosecondsPerUnit(_ unit: UnsafeBufferPointer<UInt8>) -> UInt64? {
        switch String(decoding: unit, as: UTF8.self) {
        case "ns": 1
        case "us", "\u{B5}s", "\u{3BC}s": 1_000
        case "ms": 1_000_000
        case "s": 1_000_000_000
        case "m": 60_000_000_000
        case "h": 3_600_000_000_000
        case "d": 86_400_000_000_000
        default: nil
        }
    }
}

// MARK: - Formatting

extension Duration {
    /// The duration as compact Go-style text that ``init(parsing:)`` reads back as the same duration.
    ///
    /// Days, hours, minutes and seconds appear only when not zero (`7d`, `1h30m`, `2.5s`,
    /// `1m0.5s`); a duration under one second uses the largest of `ms`, `us` and `ns` that keeps a whole number
    /// before the point (`500ms`, `1.5ms`, `250us`, `100ns`). Zero is `0s`. Fractions carry no trailing zeros.
    ///
    /// Parts below one nanosecond are truncated. A negative duration gets a leading `-`, which
    /// ``init(parsing:)`` rejects; only durations from zero to ``maxParsable`` round-trip.
    public var freshetDescription: String {
        let (seconds, attoseconds) = self.components
        var out = seconds < 0 || attoseconds < 0 ? "-" : ""
        let wholeSeconds = seconds.magnitude
        let nanoseconds = attoseconds.magnitude / 1_000_000_000
        if wholeSeconds == 0 && nanoseconds == 0 {
            return "0s"
        }
        if wholeSeconds == 0 {
            let (scale, unit): (UInt64, String) =
                nanoseconds >= 1_000_000 ? (1_000_000, "ms") : nanoseconds >= 1_000 ? (1_000, "us") : (1, "ns")
            out += Self.decimal(whole: nanoseconds / scale, fraction: nanoseconds % scale, scale: scale) + unit
            return out
        }
        let days = wholeSeconds / 86_400
        let hours = wholeSeconds / 3_600 % 24
        let minutes = wholeSeconds / 60 % 60
        let secondsPart = wholeSeconds % 60
        if days > 0 { out += "\(days)d" }
        if hours > 0 { out += "\(hours)h" }
        if minutes > 0 { out += "\(minutes)m" }
        if secondsPart > 0 || nanoseconds > 0 {
            out += Self.decimal(whole: secondsPart, fraction: nanoseconds, scale: 1_000_000_000) + "s"
        }
        return out
    }

    /// `whole`, then `.` and `fraction / scale` in decimal without trailing zeros when `fraction` is not zero.
    private static func decimal(whole: UInt64, fraction: UInt64, scale: UInt64) -> String {
        guard fraction > 0 else { return String(whole) }
        var digits: [UInt8] = []
        var place = scale / 10
        var rest = fraction
        while place > 0 && rest > 0 {
            digits.append(UInt8(ascii: "0") + UInt8(rest / place))
            rest %= place
            place /= 10
        }
        return String(whole) + "." + String(decoding: digits, as: UTF8.self)
    }
}
