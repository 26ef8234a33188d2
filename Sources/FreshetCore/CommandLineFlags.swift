// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Hand-rolled command-line flags, shared by `freshet` and `freshet-bench`: `--name value`, `--name=value`,
// repeated flags and switches.

/// A wrong command line; printed with a pointer to `--help`, exit status 2.
public struct UsageError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { self.message }
}

/// A failure that ends a command with a message (exit status 1).
public struct CommandError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { self.message }
}

/// One flag a command accepts.
public struct FlagSpec: Sendable {
    public enum Kind: Sendable {
        case value(placeholder: String)
        case repeated(placeholder: String)
        case toggle
    }

    public var name: String
    public var kind: Kind
    public var help: String

    public init(name: String, kind: Kind, help: String) {
        self.name = name
        self.kind = kind
        self.help = help
    }
}

/// The parsed flags of one command.
public struct Flags {
    private var values: [String: [String]] = [:]
    private var toggles: Set<String> = []

    public init(_ arguments: [String], specs: [FlagSpec]) throws(UsageError) {
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            guard argument.hasPrefix("--"), argument.count > 2 else {
                throw UsageError("unexpected argument '\(argument)'")
            }
            var name = String(argument.dropFirst(2))
            var inline: String?
            if let equals = name.firstIndex(of: "=") {
                inline = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            }
            guard let spec = specs.first(where: { $0.name == name }) else {
                throw UsageError("unknown option --\(name)")
            }
            switch spec.kind {
            case .toggle:
                if inline != nil { throw UsageError("--\(name) takes no value") }
                self.toggles.insert(name)
            case .value, .repeated:
                let value: String
                if let inline {
                    value = inline
                } else {
                    guard index < arguments.count, !Flags.isFlag(arguments[index], of: specs) else {
                        throw UsageError("--\(name) needs a value")
                    }
                    value = arguments[index]
                    index += 1
                }
                if case .value = spec.kind, self.values[name] != nil {
                    throw UsageError("--\(name) is given more than once")
                }
                self.values[name, default: []].append(value)
            }
        }
    }

    /// Whether `argument` is one of the command's flags (`--batch`, `--batch=5`, `--help`): after a flag that needs
    /// a value, it means the value was left out (`--batch --duration 1s`), not that the value is `--duration`.
    /// A value that really starts with `--` can still be given as `--name=--value`.
    private static func isFlag(_ argument: String, of specs: [FlagSpec]) -> Bool {
        guard argument.hasPrefix("--") else { return false }
        let name = argument.dropFirst(2).prefix { $0 != "=" }
        return name == "help" || specs.contains { $0.name == name }
    }

    public func value(_ name: String) -> String? { self.values[name]?.last }
    public func values(_ name: String) -> [String] { self.values[name] ?? [] }
    public func isSet(_ name: String) -> Bool { self.toggles.contains(name) || self.values[name] != nil }

    public func required(_ name: String) throws(UsageError) -> String {
        guard let value = self.value(name) else { throw UsageError("--\(name) is required") }
        return value
    }

    public func integer(_ name: String, default fallback: Int, range: ClosedRange<Int>) throws(UsageError) -> Int {
        guard let text = self.value(name) else { return fallback }
        guard let number = Int(text), range.contains(number) else {
            throw UsageError(
                "--\(name) must be an integer from \(range.lowerBound) to \(range.upperBound), not '\(text)'")
        }
        return number
    }

    public func byteSize(_ name: String, default fallback: Int) throws(UsageError) -> Int {
        guard let text = self.value(name) else { return fallback }
        guard let bytes = parseByteSize(text) else {
            throw UsageError("--\(name): '\(text)' is not a size (examples: 4194304, 512KiB, 4MiB, 8GiB)")
        }
        return bytes
    }

    public func duration(_ name: String, default fallback: Duration?) throws(UsageError) -> Duration? {
        guard let text = self.value(name) else { return fallback }
        do {
            return try Duration(parsing: text)
        } catch {
            throw UsageError("--\(name): \(error)")
        }
    }
}

/// Parses `4194304`, `512KiB`, `4MiB`, `8GiB` (also `KB`/`MB`/`GB` as powers of 1000).
public func parseByteSize(_ text: String) -> Int? {
    let units: [(String, Int)] = [
        ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("TiB", 1 << 40),
        ("KB", 1_000), ("MB", 1_000_000), ("GB", 1_000_000_000), ("TB", 1_000_000_000_000), ("B", 1),
    ]
    for (suffix, multiplier) in units where text.hasSuffix(suffix) {
        guard let number = Int(text.dropLast(suffix.count)), number >= 0 else { return nil }
        let (product, overflow) = number.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : product
    }
    guard let number = Int(text), number >= 0 else { return nil }
    return number
}

/// Formats the usage text of a command.
public func usage(_ synopsis: String, _ summary: String, _ specs: [FlagSpec]) -> String {
    var lines = ["usage: \(synopsis)", "", summary, "", "options:"]
    for spec in specs {
        let left: String
        switch spec.kind {
        case .value(let placeholder): left = "--\(spec.name) \(placeholder)"
        case .repeated(let placeholder): left = "--\(spec.name) \(placeholder)"
        case .toggle: left = "--\(spec.name)"
        }
        let padded = left.count < 34 ? left + String(repeating: " ", count: 34 - left.count) : left + "  "
        var help = spec.help
        if case .repeated = spec.kind { help += " (repeatable)" }
        lines.append("  " + padded + help)
    }
    lines.append("  --help                            show this help")
    return lines.joined(separator: "\n") + "\n"
}
