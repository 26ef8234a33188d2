// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Which entity rows a benchmark asks for: key sets (generated or from a requests file) and their distributions.

public import FreshetCore
public import FreshetProto
internal import Glibc

/// How often each key is asked for.
public enum KeyDistribution: Sendable, Equatable, CustomStringConvertible {
    /// Every key equally often.
    case uniform
    /// Key of rank k (0-based) with probability proportional to 1 / (k + 1)^s.
    case zipf(Double)

    /// Parses `uniform` or `zipf:S` (for example `zipf:0.99`).
    public init(parsing text: String) throws(UsageError) {
        if text == "uniform" {
            self = .uniform
            return
        }
        if text.hasPrefix("zipf:"), let exponent = Double(text.dropFirst(5)), exponent > 0, exponent.isFinite {
            self = .zipf(exponent)
            return
        }
        throw UsageError(
            "--distribution must be 'uniform' or 'zipf:S' with S > 0 (for example zipf:0.99), not '\(text)'")
    }

    public var description: String {
        switch self {
        case .uniform: "uniform"
        case .zipf(let exponent): "zipf:\(exponent)"
        }
    }
}

/// Draws indexes in 0..<count following a ``KeyDistribution``.
public struct IndexSampler: Sendable {
    private let count: Int
    private let cumulative: [Double]  // zipf only: cumulative weights, normalised to end at 1

    public init(count: Int, distribution: KeyDistribution) {
        precondition(count > 0, "no keys to sample")
        self.count = count
        switch distribution {
        case .uniform:
            self.cumulative = []
        case .zipf(let exponent):
            var weights = [Double](repeating: 0, count: count)
            var total = 0.0
            for rank in 0..<count {
                total += 1 / Self.power(Double(rank + 1), exponent)
                weights[rank] = total
            }
            self.cumulative = weights.map { $0 / total }
        }
    }

    private static func power(_ base: Double, _ exponent: Double) -> Double {
        exponent == 1 ? base : exp2(log2(base) * exponent)
    }

    /// The next index.
    public func next(_ random: inout SplitMix64) -> Int {
        if self.cumulative.isEmpty {
            return Int(random.next() % UInt64(self.count))
        }
        let u = random.unit()
        var low = 0
        var high = self.count - 1
        while low < high {
            let middle = (low + high) / 2
            if self.cumulative[middle] < u { low = middle + 1 } else { high = middle }
        }
        return low
    }
}

/// The rows a benchmark can ask for.
public enum KeySource: Sendable {
    /// `count` synthetic keys `prefix + zero-padded index` under one join key (as `freshet-bench generate` makes).
    case generated(count: Int, keyName: String, prefix: String)
    /// The entity rows of a requests file (`{"entities": {"tailnum": ..., ...}}` per line, null keys kept).
    case rows([[(String, FeaturesRequest.Key)]])

    /// The number of distinct rows.
    public var count: Int {
        switch self {
        case .generated(let count, _, _): count
        case .rows(let rows): rows.count
        }
    }

    /// The key of generated row `index` (`item-0000042`).
    public static func generatedKey(prefix: String, index: Int) -> String {
        let digits = String(index)
        return prefix + String(repeating: "0", count: max(0, 7 - digits.count)) + digits
    }

    /// Row `index` as (key name, value) pairs.
    public func row(_ index: Int) -> [(String, FeaturesRequest.Key)] {
        switch self {
        case .generated(_, let keyName, let prefix):
            [(keyName, .string(Self.generatedKey(prefix: prefix, index: index)))]
        case .rows(let rows):
            rows[index]
        }
    }

    /// Reads a requests file: one JSON object per line with an `entities` object of string keys (null allowed).
    /// - Throws: ``RowFileError`` naming the file and line of a malformed request.
    public static func requests(_ bytes: [UInt8], file: String) throws(RowFileError) -> KeySource {
        var rows: [[(String, FeaturesRequest.Key)]] = []
        for (line, text) in LineReader(bytes) where !LineReader.isBlank(text) {
            let document: JSONValue
            do {
                document = try JSONParser.parse(text)
            } catch {
                throw RowFileError(file: file, line: line, message: "invalid JSON: \(error)")
            }
            guard let entities = document.objectValue?["entities"]?.objectValue else {
                throw RowFileError(file: file, line: line, message: "expected {\"entities\": {...}}")
            }
            var row: [(String, FeaturesRequest.Key)] = []
            for member in entities.members {
                switch member.value {
                case .string(let text): row.append((member.key, .string(text)))
                case .number(let number) where number.int64Value != nil:
                    row.append((member.key, .int64(number.int64Value!)))
                case .null: row.append((member.key, .null))
                default:
                    throw RowFileError(
                        file: file, line: line, message: "key '\(member.key)' is not a string, integer or null")
                }
            }
            rows.append(row)
        }
        guard !rows.isEmpty else { throw RowFileError(file: file, line: 0, message: "no requests in the file") }
        return .rows(rows)
    }
}
