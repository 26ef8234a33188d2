// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Deterministic random and mutated inputs for every parser: none may trap, and what parses must round-trip.

import Testing

@testable import FreshetCore

/// Builds hostile inputs: random bytes, bytes from a grammar-aware alphabet, and mutations of valid seeds.
struct InputGenerator {
    var random: SplitMix64
    let seeds: [[UInt8]]
    let alphabet: [[UInt8]]

    init(seed: UInt64, seeds: [String], alphabet: [String]) {
        self.random = SplitMix64(seed: seed)
        self.seeds = seeds.map { Array($0.utf8) }
        self.alphabet = alphabet.map { Array($0.utf8) }
    }

    mutating func next() -> [UInt8] {
        switch self.random.next() % 4 {
        case 0:
            // Uniformly random bytes.
            let count = Int(self.random.next() % 48)
            return (0..<count).map { _ in UInt8(truncatingIfNeeded: self.random.next()) }
        case 1:
            // Tokens from the format's own alphabet, so inputs get deep into the grammar.
            let count = Int(self.random.next() % 40)
            return (0..<count).flatMap { _ in self.alphabet[Int(self.random.next() % UInt64(self.alphabet.count))] }
        default:
            // A valid input with a few bytes flipped, inserted, deleted or duplicated.
            var bytes = self.seeds[Int(self.random.next() % UInt64(self.seeds.count))]
            for _ in 0..<(1 + self.random.next() % 4) {
                let position = bytes.isEmpty ? 0 : Int(self.random.next() % UInt64(bytes.count))
                switch self.random.next() % 4 {
                case 0 where !bytes.isEmpty:
                    bytes[position] = UInt8(truncatingIfNeeded: self.random.next())
                case 1:
                    bytes.insert(UInt8(truncatingIfNeeded: self.random.next()), at: position)
                case 2 where !bytes.isEmpty:
                    bytes.remove(at: position)
                default:
                    let token = self.alphabet[Int(self.random.next() % UInt64(self.alphabet.count))]
                    bytes.insert(contentsOf: token, at: position)
                }
            }
            return bytes
        }
    }
}

@Suite("Hostile input")
struct HostileInputTests {
    static let iterations = 4000

    @Test("JSONParser never traps, and whatever parses round-trips through JSONWriter")
    func json() throws {
        var inputs = InputGenerator(
            seed: 1,
            seeds: JSONParserTests.weatherLines + [
                #"{"a":[1,-2.5e+3,true,false,null,"x\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00"],"b":{}}"#, "[[[[]]]]", "0",
            ],
            alphabet: [
                "{", "}", "[", "]", ",", ":", "\"", "\\", "\\u", "D83D", "DC00", "0", "1", "-", ".", "e", "E", "+",
                "true", "false", "null", " ", "\n", "\"k\":", "é", "\u{0}", "\u{7F}",
            ])
        var parsed = 0
        for _ in 0..<Self.iterations {
            let bytes = inputs.next()
            let result = Result { () throws(JSONError) -> JSONValue in try JSONParser.parse(bytes, maxDepth: 8) }
            switch result {
            case .success(let value):
                parsed += 1
                #expect(try JSONParser.parse(JSONWriter.serialize(value), maxDepth: 8) == value)
                #expect(try JSONParser.parse(JSONWriter.serialize(value, pretty: true), maxDepth: 8) == value)
            case .failure(let error):
                #expect(error.line >= 1 && error.column >= 1)
                #expect(error.column <= bytes.count + 1)
            }
        }
        // The generator must exercise the success path too, not only errors.
        #expect(parsed > 50)
    }

    @Test("CSVReader never traps; records and errors stay within the input")
    func csv() {
        var inputs = InputGenerator(
            seed: 2,
            seeds: [CSVReaderTests.planes, "a,\"b,\"\"c\"\"\n\",d\r\ne,,f\n", "\u{FEFF}x\n\n\"\"\n"],
            alphabet: ["a", ",", "\"", "\"\"", "\n", "\r\n", "\r", "é", "\u{FEFF}", " "])
        var recordsSeen = 0
        for _ in 0..<Self.iterations {
            let bytes = inputs.next()
            let lineCount = bytes.count(where: { $0 == UInt8(ascii: "\n") }) + 1
            var reader = CSVReader(bytes, maxRecordBytes: 32)
            var rounds = 0
            while rounds <= bytes.count + 1 {
                rounds += 1
                let result = Result { () throws(CSVError) -> CSVRecord? in try reader.next() }
                switch result {
                case .success(let record?):
                    recordsSeen += 1
                    #expect(!record.fields.isEmpty)
                    #expect(record.line >= 1 && record.line <= lineCount)
                    continue
                case .success(nil):
                    break
                case .failure(let error):
                    #expect(error.line >= 1 && error.line <= lineCount)
                }
                break
            }
            #expect(rounds <= bytes.count + 1, "the reader must finish")
            #expect(LineReader(bytes).reduce(0) { count, _ in count + 1 } <= lineCount)
        }
        #expect(recordsSeen > 100)
    }

    @Test("Timestamp parsing never traps, and what parses round-trips")
    func timestamps() throws {
        var inputs = InputGenerator(
            seed: 3,
            seeds: [
                "2013-01-01T06:00:00Z", "2012-02-29T23:59:59.999999999+05:30", "1970-01-01", "2262-04-11T23:47:16Z",
                "1677-09-21T00:12:44-00:01",
            ],
            alphabet: ["0", "1", "2", "9", "-", ":", "T", "t", " ", "Z", "+", ".", "60", "99", "é"])
        var parsed = 0
        for _ in 0..<Self.iterations {
            let text = String(decoding: inputs.next(), as: UTF8.self)
            let result = Result { () throws(TimestampError) -> Timestamp in try Timestamp(iso8601: text) }
            if case .success(let timestamp) = result {
                parsed += 1
                #expect(try Timestamp(iso8601: timestamp.iso8601) == timestamp)
            }
        }
        #expect(parsed > 10)
    }

    @Test("Duration parsing never traps, and what parses round-trips")
    func durations() throws {
        var inputs = InputGenerator(
            seed: 4,
            seeds: ["1h30m", "2.5s", "500ms", "250\u{B5}s", "7d", "106751d23h47m16.854775807s", "0"],
            alphabet: ["0", "1", "9", ".", "h", "m", "s", "ms", "us", "ns", "d", "\u{3BC}", "-", "99999999999"])
        var parsed = 0
        for _ in 0..<Self.iterations {
            let text = String(decoding: inputs.next(), as: UTF8.self)
            let result = Result { () throws(DurationParseError) -> Duration in try Duration(parsing: text) }
            if case .success(let duration) = result {
                parsed += 1
                #expect(duration >= .zero && duration <= Duration.maxParsable)
                #expect(try Duration(parsing: duration.freshetDescription) == duration)
            }
        }
        #expect(parsed > 50)
    }

    @Test("huge inputs stay linear and bounded")
    func hugeInputs() {
        let digits = String(repeating: "9", count: 100_000)
        #expect(jsonError(digits) == nil)
        #expect(jsonError("\"" + String(repeating: "\\u00e9", count: 50_000) + "\"") == nil)
        #expect(jsonError(String(repeating: "[", count: 1_000_000)) != nil)
        let members = (0..<20_000).map { #""\#($0)":0"# }.joined(separator: ",")
        #expect(jsonError("{" + members + "}") == nil)
        #expect((try? Duration(parsing: digits + "s")) == nil)
        #expect((try? Timestamp(iso8601: digits)) == nil)
        var reader = CSVReader(Array(repeating: UInt8(ascii: "a"), count: 2 << 20))
        #expect(throws: CSVError.self) { try reader.next() }
    }
}
