// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// The `grpc-timeout` header: parsing and formatting (gRPC PROTOCOL-HTTP2.md, "Timeout").

/// The value of a `grpc-timeout` header: 1 to 8 ASCII digits and a unit (`H`, `M`, `S`, `m`, `u`, `n`).
public enum GRPCTimeout {
    /// Parses a header value; `nil` when it is malformed (no digits, more than 8 digits, unknown unit).
    public static func parse(_ value: UnsafeRawBufferPointer) -> Duration? {
        guard value.count >= 2, value.count <= 9 else { return nil }
        var amount: Int64 = 0
        for byte in value.dropLast() {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            amount = amount * 10 + Int64(byte - UInt8(ascii: "0"))
        }
        switch value[value.count - 1] {
        case UInt8(ascii: "H"): return .seconds(amount * 3600)
        case UInt8(ascii: "M"): return .seconds(amount * 60)
        case UInt8(ascii: "S"): return .seconds(amount)
        case UInt8(ascii: "m"): return .milliseconds(amount)
        case UInt8(ascii: "u"): return .microseconds(amount)
        case UInt8(ascii: "n"): return .nanoseconds(amount)
        default: return nil
        }
    }

    /// Parses a header value given as a string.
    public static func parse(_ value: String) -> Duration? {
        var copy = value
        return copy.withUTF8 { Self.parse(UnsafeRawBufferPointer($0)) }
    }

    /// Formats a timeout with the finest unit that keeps it within 8 digits (rounding up, so the server never
    /// sees a shorter deadline than the client meant).
    public static func format(_ timeout: Duration) -> String {
        let (seconds, attoseconds) = timeout.components
        let nanoseconds = max(0, seconds) * 1_000_000_000 + max(0, attoseconds) / 1_000_000_000
        let units: [(divisor: Int64, unit: Character)] = [
            (1, "n"), (1_000, "u"), (1_000_000, "m"), (1_000_000_000, "S"), (60_000_000_000, "M"),
            (3_600_000_000_000, "H"),
        ]
        for (divisor, unit) in units {
            let amount = (nanoseconds + divisor - 1) / divisor
            if amount <= 99_999_999 {
                return "\(amount)\(unit)"
            }
        }
        return "99999999H"
    }
}
