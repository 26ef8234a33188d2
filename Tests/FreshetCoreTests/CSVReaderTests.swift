// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Tests for CSVReader (RFC 4180 records, line numbers, errors, real nycflights rows) and LineReader.

import Testing

@testable import FreshetCore

/// Reads every record, or returns the first error.
func readAllCSV(
    _ bytes: [UInt8], maxRecordBytes: Int = CSVReader.defaultMaxRecordBytes
) -> Result<
    [CSVRecord], CSVError
> {
    Result { () throws(CSVError) -> [CSVRecord] in
        var reader = CSVReader(bytes, maxRecordBytes: maxRecordBytes)
        var records: [CSVRecord] = []
        while let record = try reader.next() {
            records.append(record)
        }
        return records
    }
}

/// Shorthand for an unquoted field.
private func u(_ text: String) -> CSVField { CSVField(text: text, wasQuoted: false) }
/// Shorthand for a quoted field.
private func q(_ text: String) -> CSVField { CSVField(text: text, wasQuoted: true) }

@Suite("CSVReader")
struct CSVReaderTests {
    struct ValidCase: CustomTestStringConvertible, Sendable {
        var input: String
        /// Each record as its start line and fields.
        var records: [(line: Int, fields: [CSVField])]
        var testDescription: String { self.input.debugDescription }
    }

    static let validCases: [ValidCase] = [
        .init(input: "", records: []),
        .init(input: "a,b,c\n1,2,3\n", records: [(1, [u("a"), u("b"), u("c")]), (2, [u("1"), u("2"), u("3")])]),
        .init(input: "a,b\nc,d", records: [(1, [u("a"), u("b")]), (2, [u("c"), u("d")])]),
        .init(input: "a,b\r\nc,d\r\n", records: [(1, [u("a"), u("b")]), (2, [u("c"), u("d")])]),
        .init(input: "a,b\r", records: [(1, [u("a"), u("b")])]),
        // Unquoted empty (null in our data) versus quoted empty string.
        .init(input: "a,,c", records: [(1, [u("a"), u(""), u("c")])]),
        .init(input: "a,\"\",c", records: [(1, [u("a"), q(""), u("c")])]),
        .init(input: ",", records: [(1, [u(""), u("")])]),
        .init(input: "a,b,", records: [(1, [u("a"), u("b"), u("")])]),
        .init(input: "a,b,\n", records: [(1, [u("a"), u("b"), u("")])]),
        .init(input: "\"\"", records: [(1, [q("")])]),
        // Quoted fields with separators, quotes and line breaks.
        .init(input: "\"x,y\",z", records: [(1, [q("x,y"), u("z")])]),
        .init(input: "\"he said \"\"hi\"\"\"", records: [(1, [q("he said \"hi\"")])]),
        .init(input: "\"\"\"\"", records: [(1, [q("\"")])]),
        .init(
            input: "\"multi\nline\",x\nnext,1\n",
            records: [(1, [q("multi\nline"), u("x")]), (3, [u("next"), u("1")])]),
        .init(
            input: "\"a\r\nb\r\nc\",d\r\ne,f\r\n",
            records: [(1, [q("a\r\nb\r\nc"), u("d")]), (4, [u("e"), u("f")])]),
        .init(input: "\"a\"\r\n\"b\"", records: [(1, [q("a")]), (2, [q("b")])]),
        // Blank lines are records with one empty field; a final line ending adds nothing.
        .init(input: "\n", records: [(1, [u("")])]),
        .init(input: "a\n\nb\n", records: [(1, [u("a")]), (2, [u("")]), (3, [u("b")])]),
        .init(input: "a\n\n", records: [(1, [u("a")]), (2, [u("")])]),
        // A bare carriage return inside a field is data.
        .init(input: "a\rb,c", records: [(1, [u("a\rb"), u("c")])]),
        // Spaces are data, not trimmed.
        .init(input: " a , b ", records: [(1, [u(" a "), u(" b ")])]),
        .init(input: "é,😀,\"ü\"", records: [(1, [u("é"), u("😀"), q("ü")])]),
        // A byte-order mark at the start is skipped (and only there).
        .init(input: "\u{FEFF}a,b", records: [(1, [u("a"), u("b")])]),
        .init(input: "a,\u{FEFF}b", records: [(1, [u("a"), u("\u{FEFF}b")])]),
    ]

    @Test("reads records", arguments: CSVReaderTests.validCases)
    func reads(_ testCase: ValidCase) throws {
        let records = try readAllCSV(Array(testCase.input.utf8)).get()
        #expect(records.map(\.line) == testCase.records.map(\.line))
        #expect(records.map(\.fields) == testCase.records.map(\.fields))
    }

    struct InvalidCase: CustomTestStringConvertible, Sendable {
        var input: [UInt8]
        var line: Int
        var message: String
        var maxRecordBytes = CSVReader.defaultMaxRecordBytes
        var testDescription: String { self.message }

        init(_ input: String, line: Int, message: String, maxRecordBytes: Int = CSVReader.defaultMaxRecordBytes) {
            self.init(bytes: Array(input.utf8), line: line, message: message, maxRecordBytes: maxRecordBytes)
        }

        init(bytes: [UInt8], line: Int, message: String, maxRecordBytes: Int = CSVReader.defaultMaxRecordBytes) {
            self.input = bytes
            self.line = line
            self.message = message
            self.maxRecordBytes = maxRecordBytes
        }
    }

    static let tooLong = "record is longer than the limit of 10 bytes"

    static let invalidCases: [InvalidCase] = [
        .init("a,\"bc", line: 1, message: "unterminated quoted field (field 2)"),
        .init("\"", line: 1, message: "unterminated quoted field (field 1)"),
        // The line where the open quote is, even though the input ends lines later.
        .init("x\n\"multi\nline\nmore", line: 2, message: "unterminated quoted field (field 1)"),
        .init("a,b\"c\n", line: 1, message: "quote inside unquoted field 2 at column 4"),
        .init("ok\nab\"", line: 2, message: "quote inside unquoted field 1 at column 3"),
        .init("\"ab\"c,d", line: 1, message: "unexpected 'c' after the closing quote of field 1 at column 5"),
        .init("\"ab\" ,d", line: 1, message: "unexpected byte 0x20 after the closing quote of field 1 at column 5"),
        .init("\"ab\"\rx", line: 1, message: "unexpected byte 0x0D after the closing quote of field 1 at column 5"),
        // Embedded line breaks advance the line count, so a later error names the right physical line.
        .init(
            "\"a\nb\",1\nfoo,\"x\"y\n", line: 3,
            message: "unexpected 'y' after the closing quote of field 2 at column 8"),
        .init("h1,h2\n\"1\n2\n3\",\"4\r\n5\"\nx,y\"z\n", line: 6, message: "quote inside unquoted field 2 at column 4"),
        .init(
            bytes: Array("a,b\nc,".utf8) + [0xFF] + [0x0A], line: 2,
            message: "invalid UTF-8 in field 2 at column 3 (byte 0xFF)"),
        .init(
            bytes: [0x22, 0x61, 0x0A, 0x62, 0xC3, 0x28, 0x22], line: 2,
            message: "invalid UTF-8 in field 1 at column 3 ('(')"),
        .init(
            bytes: [0x61, 0x2C, 0xED, 0xA0, 0x80], line: 1,
            message: "invalid UTF-8 in field 2 at column 4 (byte 0xA0)"),
        .init(
            bytes: [0x61, 0x2C, 0xE2, 0x82], line: 1,
            message: "invalid UTF-8 in field 2 at column 3 (truncated sequence at end)"),
        .init("0123456789abc\n", line: 1, message: CSVReaderTests.tooLong, maxRecordBytes: 10),
        .init("ok\n\"0123456789abc\"", line: 2, message: CSVReaderTests.tooLong, maxRecordBytes: 10),
        .init("ok\n,,,,,,,,,,,,,,,,,", line: 2, message: CSVReaderTests.tooLong, maxRecordBytes: 10),
    ]

    @Test("reports errors with the physical line", arguments: CSVReaderTests.invalidCases)
    func errors(_ testCase: InvalidCase) throws {
        let result = readAllCSV(testCase.input, maxRecordBytes: testCase.maxRecordBytes)
        guard case .failure(let error) = result else {
            Issue.record("expected an error, got \(result)")
            return
        }
        #expect(error.message == testCase.message)
        #expect(error.line == testCase.line)
    }

    @Test("describes errors as 'line N: message'")
    func errorDescription() {
        let error = CSVError(line: 12, message: "unterminated quoted field (field 3)")
        #expect(error.description == "line 12: unterminated quoted field (field 3)")
    }

    @Test("records before an error are returned, and the reader stops after it")
    func stopsAfterError() throws {
        var reader = CSVReader("a,b\nc\"d\ne,f\n")
        #expect(try reader.next()?.fields == [u("a"), u("b")])
        #expect(throws: CSVError.self) { try reader.next() }
        #expect(try reader.next() == nil)
        #expect(try reader.next() == nil)
    }

    @Test("a record exactly at the size limit is accepted")
    func sizeLimitBoundary() throws {
        let records = try readAllCSV(Array("0123456789\n".utf8), maxRecordBytes: 10).get()
        #expect(records.map(\.fields) == [[u("0123456789")]])
    }

    @Test("reads many records one at a time")
    func manyRecords() throws {
        let input = (1...10_000).map { "k\($0),\($0),\"q\($0)\"" }.joined(separator: "\n")
        var reader = CSVReader(input)
        var count = 0
        while let record = try reader.next() {
            count += 1
            #expect(record.line == count)
            #expect(record.fields.count == 3)
        }
        #expect(count == 10_000)
    }

    // MARK: Real data (copied from /work/shared/data/nycflights; tests never read it at run time)

    static let planes = """
        tailnum,year,type,manufacturer,model,engines,seats,speed,engine
        N10156,2004,Fixed wing multi engine,EMBRAER,EMB-145XR,2,55,,Turbo-fan
        N14558,,Fixed wing multi engine,EMBRAER,EMB-145LR,2,55,,Turbo-fan
        N201AA,1959,Fixed wing single engine,CESSNA,150,1,2,90,Reciprocating

        """

    @Test("reads planes.csv rows with empty fields as unquoted empties")
    func planes() throws {
        let records = try readAllCSV(Array(Self.planes.utf8)).get()
        #expect(records.count == 4)
        #expect(records.allSatisfy { $0.fields.count == 9 })
        let header = records[0].fields.map(\.text)
        #expect(header == ["tailnum", "year", "type", "manufacturer", "model", "engines", "seats", "speed", "engine"])
        #expect(records[1].fields[0].text == "N10156")
        #expect(records[1].fields[7].isEmptyUnquoted)
        #expect(records[2].fields[1].isEmptyUnquoted)
        #expect(records[3].fields[7].text == "90")
        #expect(records[3].line == 4)
        #expect(!records.flatMap(\.fields).contains { $0.wasQuoted })
    }

    @Test("reads airports.csv rows, including a missing final column")
    func airports() throws {
        let input = """
            faa,name,lat,lon,alt,tz,dst,tzone
            04G,Lansdowne Airport,41.1304722,-80.6195833,1044,-5,A,America/New_York
            DVT,Deer Valley Municipal Airport,33.4117,112.457,1478,8,A,Asia/Chongqing
            EEN,Dillant Hopkins Airport,72.270833,42.898333,149,-5,A,
            """
        let records = try readAllCSV(Array(input.utf8)).get()
        #expect(records.count == 4)
        #expect(records[3].fields.count == 8)
        #expect(records[3].fields[7].isEmptyUnquoted)
        #expect(records[1].fields[3].text == "-80.6195833")
    }
}

@Suite("LineReader")
struct LineReaderTests {
    static let cases: [(String, [(Int, String)])] = [
        ("", []),
        ("a", [(1, "a")]),
        ("a\n", [(1, "a")]),
        ("\n", [(1, "")]),
        ("a\nb\r\n\nc", [(1, "a"), (2, "b"), (3, ""), (4, "c")]),
        ("a\r\n\r\n", [(1, "a"), (2, "")]),
        ("a\rb\n", [(1, "a\rb")]),
        ("\u{FEFF}{}\n{}\n", [(1, "{}"), (2, "{}")]),
    ]

    @Test("splits lines and strips line endings", arguments: LineReaderTests.cases)
    func splits(input: String, expected: [(Int, String)]) {
        let lines = LineReader(Array(input.utf8)).map { ($0.lineNumber, String(decoding: $0.bytes, as: UTF8.self)) }
        #expect(lines.map(\.0) == expected.map(\.0))
        #expect(lines.map(\.1) == expected.map(\.1))
    }

    @Test("feeds JSON Lines to the parser without copying")
    func jsonLines() throws {
        let input = JSONParserTests.weatherLines.joined(separator: "\n") + "\n"
        var origins: [String] = []
        for (_, line) in LineReader(Array(input.utf8)) where !line.isEmpty {
            let value = try JSONParser.parse(line)
            origins.append(value.objectValue?["entity"]?.objectValue?["origin"]?.stringValue ?? "?")
        }
        #expect(origins == ["EWR", "JFK", "EWR"])
    }
}
