// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Tests for JSONWriter: exact compact and pretty output, escaping, doubles, and parse/serialize round trips.

import Testing

@testable import FreshetCore

@Suite("JSONWriter")
struct JSONWriterTests {
    // MARK: Layout

    static let document: JSONValue = [
        "origin": "EWR",
        "features": ["temp": 39.02, "wind_gust": .null, "flags": [true, false]],
        "empty_array": [],
        "empty_object": .object(JSONObject()),
        "count": 3,
    ]

    @Test("compact output has no whitespace")
    func compact() {
        #expect(
            JSONWriter.serialize(Self.document)
                == #"{"origin":"EWR","features":{"temp":39.02,"wind_gust":null,"flags":[true,false]},"#
                + #""empty_array":[],"empty_object":{},"count":3}"#)
    }

    @Test("pretty output indents by two spaces and keeps empty containers on one line")
    func pretty() {
        let expected = """
            {
              "origin": "EWR",
              "features": {
                "temp": 39.02,
                "wind_gust": null,
                "flags": [
                  true,
                  false
                ]
              },
              "empty_array": [],
              "empty_object": {},
              "count": 3
            }
            """
        #expect(JSONWriter.serialize(Self.document, pretty: true) == expected)
    }

    static let scalarCases: [(JSONValue, String)] = [
        (.null, "null"),
        (true, "true"),
        (false, "false"),
        (0, "0"),
        (.number(JSONNumber(Int64.min)), "-9223372036854775808"),
        (.number(JSONNumber(text: "1.50e+3")!), "1.50e+3"),
        ("", #""""#),
        ([], "[]"),
        (.object(JSONObject()), "{}"),
    ]

    @Test("top-level scalars and empty containers", arguments: JSONWriterTests.scalarCases)
    func scalars(value: JSONValue, expected: String) {
        #expect(JSONWriter.serialize(value) == expected)
        #expect(JSONWriter.serialize(value, pretty: true) == expected)
    }

    @Test("nested empty containers")
    func nestedEmpty() {
        #expect(JSONWriter.serialize([[], ["a": []]]) == #"[[],{"a":[]}]"#)
        #expect(JSONWriter.serialize([[], ["a": []]], pretty: true) == "[\n  [],\n  {\n    \"a\": []\n  }\n]")
    }

    @Test("the streaming API places commas and matches serialize")
    func streaming() {
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("a")
        writer.writeInt64(1)
        writer.key("b")
        writer.beginArray()
        writer.writeDouble(1.5)
        writer.writeString("x")
        writer.writeNull()
        writer.writeBool(true)
        writer.beginObject()
        writer.endObject()
        writer.writeNumber(JSONNumber(text: "2e3")!)
        writer.endArray()
        #expect(!writer.isComplete)
        writer.endObject()
        #expect(writer.isComplete)
        #expect(writer.string == #"{"a":1,"b":[1.5,"x",null,true,{},2e3]}"#)
        #expect(writer.bytes == Array(writer.string.utf8))

        writer.reset()
        #expect(writer.bytes.isEmpty)
        writer.writeValue(["k": [1, 2]])
        #expect(writer.string == #"{"k":[1,2]}"#)
    }

    // MARK: Strings

    static let stringCases: [(String, String)] = [
        ("plain", #""plain""#),
        ("a\"b", #""a\"b""#),
        ("back\\slash", #""back\\slash""#),
        ("/", #""/""#),
        ("line\nfeed", #""line\nfeed""#),
        ("\r\t\u{8}\u{C}", #""\r\t\b\f""#),
        ("\u{0}", #""\u0000""#),
        ("\u{1F}", #""\u001f""#),
        ("\u{1}\u{1A}", #""\u0001\u001a""#),
        ("\u{7F}", "\"\u{7F}\""),
        ("é😀€", "\"é😀€\""),
        ("\u{2028}", "\"\u{2028}\""),
    ]

    @Test("escapes only quotes, backslashes and control characters", arguments: JSONWriterTests.stringCases)
    func escaping(string: String, expected: String) throws {
        #expect(JSONWriter.serialize(.string(string)) == expected)
        #expect(try JSONParser.parse(expected) == .string(string))
    }

    @Test("keys are escaped like strings")
    func keyEscaping() throws {
        let value: JSONValue = ["a\"\n": 1]
        #expect(JSONWriter.serialize(value) == #"{"a\"\n":1}"#)
        #expect(try JSONParser.parse(JSONWriter.serialize(value)) == value)
    }

    // MARK: Doubles

    static let doubleCases: [(Double, String)] = [
        (1.0, "1.0"),
        (0.1, "0.1"),
        (-0.0, "-0.0"),
        (0.0, "0.0"),
        (100.0, "100.0"),
        (1e300, "1e+300"),
        (1e16, "1e+16"),
        (1e-5, "1e-05"),
        (.leastNonzeroMagnitude, "5e-324"),
        (.greatestFiniteMagnitude, "1.7976931348623157e+308"),
        (-.greatestFiniteMagnitude, "-1.7976931348623157e+308"),
        (10.357019999999999, "10.357019999999999"),
        (1048.36058, "1048.36058"),
        (39.02, "39.02"),
        (.nan, "null"),
        (.infinity, "null"),
        (-.infinity, "null"),
    ]

    @Test("doubles are the shortest round-tripping text, never bare integers", arguments: JSONWriterTests.doubleCases)
    func doubles(value: Double, expected: String) throws {
        var writer = JSONWriter()
        writer.writeDouble(value)
        #expect(writer.string == expected)
        let parsed = try JSONParser.parse(writer.string)
        if value.isFinite {
            let number = try #require(parsed.numberValue)
            #expect(number.doubleValue?.bitPattern == value.bitPattern)
            #expect(number.int64Value == nil)
        } else {
            #expect(parsed == .null)
        }
    }

    @Test("random doubles round-trip bit for bit")
    func randomDoubles() throws {
        var generator = SplitMix64(seed: 0xD0_0B1E)
        for _ in 0..<5000 {
            let value = Double(bitPattern: generator.next())
            guard value.isFinite else { continue }
            let number = try #require(JSONNumber(value))
            let parsed = try JSONParser.parse(JSONWriter.serialize(.number(number)))
            #expect(parsed.numberValue?.doubleValue?.bitPattern == value.bitPattern)
        }
    }

    // MARK: Round trips

    static let roundTripCases: [JSONValue] = [
        .null,
        ["a": ["b": ["c": [1, 2.5, "x", .null, true]]]],
        ["": "", "\u{0}": "\u{0}", "é": "😀", "\"\\": "\n\r\t\u{8}\u{C}\u{1F}\u{7F}"],
        [
            0.1, 1e300, -0.0, .number(JSONNumber(Double.leastNonzeroMagnitude)!), 1.0, .number(JSONNumber(Int64.max)),
            .number(JSONNumber(Int64.min)),
        ],
        [.number(JSONNumber(text: "123456789012345678901234567890")!), .number(JSONNumber(text: "1E-7")!)],
        [[], [[]], .object(JSONObject()), ["x": .object(JSONObject())]],
        .string(String(repeating: "\u{10FFFF}\u{1}", count: 50)),
    ]

    @Test("parse(serialize(v)) == v, compact and pretty", arguments: JSONWriterTests.roundTripCases)
    func roundTrip(value: JSONValue) throws {
        #expect(try JSONParser.parse(JSONWriter.serialize(value)) == value)
        #expect(try JSONParser.parse(JSONWriter.serialize(value, pretty: true)) == value)
    }

    @Test("real lines survive parse, serialize, parse")
    func realLines() throws {
        for line in JSONParserTests.weatherLines {
            let value = try JSONParser.parse(line)
            let compact = JSONWriter.serialize(value)
            #expect(try JSONParser.parse(compact) == value)
            #expect(compact.contains(#""wind_dir":"#))
        }
    }
}
