// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Structured logs: one JSON object per line on stderr, with a level threshold.

internal import Glibc

/// A structured logger that writes one JSON object per line to standard error.
///
/// `{"ts":"2026-12-03T17:28:40.123Z","level":"info","msg":"listening","endpoint":"127.0.0.1:50051"}`
///
/// Messages and fields are autoclosures, so a disabled level costs a comparison. Each line is written with one
/// `write(2)` call, so lines from several threads never interleave. Never log per request at `info`; never log keys,
/// values or tokens.
public struct Logger: Sendable {
    /// Severity, lowest first.
    public enum Level: Int, Sendable, Comparable, CaseIterable, CustomStringConvertible {
        case debug, info, warning, error

        public static func < (lhs: Level, rhs: Level) -> Bool { lhs.rawValue < rhs.rawValue }

        public var description: String {
            switch self {
            case .debug: "debug"
            case .info: "info"
            case .warning: "warning"
            case .error: "error"
            }
        }

        /// Parses `debug`, `info`, `warning` (or `warn`) and `error`.
        public init?(name: String) {
            switch name.lowercased() {
            case "debug": self = .debug
            case "info": self = .info
            case "warning", "warn": self = .warning
            case "error": self = .error
            default: return nil
            }
        }
    }

    /// The lowest level written.
    public var level: Level
    /// Fields added to every line (for example the region).
    public var fields: [(String, String)]
    private let descriptor: Int32

    /// Creates a logger writing to standard error.
    public init(level: Level = .info, fields: [(String, String)] = []) {
        self.level = level
        self.fields = fields
        self.descriptor = 2
    }

    /// Writes a line at `level` when it is enabled.
    public func log(
        _ level: Level, _ message: @autoclosure () -> String,
        _ fields: @autoclosure () -> KeyValuePairs<String, String> = [:]
    ) {
        guard level >= self.level else { return }
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("ts")
        writer.writeString(Timestamp.now().iso8601)
        writer.key("level")
        writer.writeString(level.description)
        writer.key("msg")
        writer.writeString(message())
        for (name, value) in self.fields {
            writer.key(name)
            writer.writeString(value)
        }
        for (name, value) in fields() {
            writer.key(name)
            writer.writeString(value)
        }
        writer.endObject()
        var line = writer.string
        line.append("\n")
        line.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.write(self.descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if written <= 0 { return }
                offset += written
            }
        }
    }

    public func debug(
        _ message: @autoclosure () -> String, _ fields: @autoclosure () -> KeyValuePairs<String, String> = [:]
    ) {
        self.log(.debug, message(), fields())
    }

    public func info(
        _ message: @autoclosure () -> String, _ fields: @autoclosure () -> KeyValuePairs<String, String> = [:]
    ) {
        self.log(.info, message(), fields())
    }

    public func warning(
        _ message: @autoclosure () -> String, _ fields: @autoclosure () -> KeyValuePairs<String, String> = [:]
    ) {
        self.log(.warning, message(), fields())
    }

    public func error(
        _ message: @autoclosure () -> String, _ fields: @autoclosure () -> KeyValuePairs<String, String> = [:]
    ) {
        self.log(.error, message(), fields())
    }
}

/// Lets a repeated log line through at most once per interval, counting the ones held back, so that a condition
/// hit on every request (or every accept) cannot flood the log.
public struct LogThrottle: Sendable {
    public let interval: Duration
    private var last: ContinuousClock.Instant?
    private var held = 0

    public init(interval: Duration = .seconds(10)) {
        self.interval = interval
    }

    /// Whether to log now; if so, also how many occurrences were held back since the last line.
    public mutating func admit() -> (log: Bool, held: Int) {
        let now = ContinuousClock.now
        guard self.last.map({ now - $0 >= self.interval }) ?? true else {
            self.held += 1
            return (false, 0)
        }
        defer { self.held = 0 }
        self.last = now
        return (true, self.held)
    }
}
