// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Tests for JSONParser: valid documents, exact error positions, numbers, strings, depth limits and real data lines.

import Testing

@testable import FreshetCore

/// Parses and returns the error, or `nil` when the text parses.
func jsonError(_ text: String, maxDepth: Int = JSONParser.defaultMaxDepth) -> JSONError? {
    jsonError(bytes: Array(text.utf8), maxDepth: maxDepth)
}

/// Parses bytes and returns the error, or `nil` when they parse.
func jsonError(bytes: [UInt8], maxDepth: Int = JSONParser.defaultMaxDepth) -> JSONError? {
    let result = Result { () throws(JSONError) -> JSONValue in try JSONParser.parse(bytes, maxDepth: maxDepth) }
    if case .failure(let error) = result { return error }
    return nil
}

@Suite("JSONParser")
struct JSONParserTests {
    // MARK: Valid documents

    static let validDocuments: [(String, JSONValue)] = [
        ("null", .null),
        ("true", true),
        ("false", false),
        (" \t\r\n 0 \n", 0),
        ("-0", .number(JSONNumber(text: "-0")!)),
        ("1.5e3", .number(JSONNumber(text: "1.5e3")!)),
        ("2E-2", .number(JSONNumber(text: "2E-2")!)),
        ("1e+2", .number(JSONNumber(text: "1e+2")!)),
        (#""a""#, "a"),
        (#""""#, ""),
        ("[]", []),
        ("{}", .object(JSONObject())),
        ("[ ]", []),
        ("{ }", .object(JSONObject())),
        ("[1,[2,[]],{}]", [1, [2, []], .object(JSONObject())]),
        (#"{"a":1,"b":[true,null]}"#, ["a": 1, "b": [true, .null]]),
        (#"{ "b" : 1 , "a" : 2 }"#, ["b": 1, "a": 2]),
        (#"{"":""}"#, ["": ""]),
        ("[\n  1,\n  2\r\n]", [1, 2]),
        (#"{"a":{"b":{"c":[]}}}"#, ["a": ["b": ["c": []]]]),
    ]

    @Test("parses valid documents", arguments: JSONParserTests.validDocuments)
    func parsesValidDocuments(text: String, expected: JSONValue) throws {
        #expect(try JSONParser.parse(text) == expected)
    }

    // MARK: Errors with positions

    struct InvalidCase: CustomTestStringConvertible, Sendable {
        var text: String
        var line: Int
        var column: Int
        var message: String
        var testDescription: String { "\(self.text.debugDescription) -> \(self.message)" }
    }

    static let invalidDocuments: [InvalidCase] = [
        .init(text: "", line: 1, column: 1, message: "expected a value, found end of input"),
        .init(text: "   ", line: 1, column: 4, message: "expected a value, found end of input"),
        .init(text: "\n\n", line: 3, column: 1, message: "expected a value, found end of input"),
        .init(text: "[1,2,]", line: 1, column: 6, message: "trailing comma before ']'"),
        .init(text: #"{"a":1,}"#, line: 1, column: 8, message: "trailing comma before '}'"),
        .init(text: #"{"a" 1}"#, line: 1, column: 6, message: "expected ':' after object key"),
        .init(text: #"{"a":1 "b":2}"#, line: 1, column: 8, message: "expected ',' or '}' after object member"),
        .init(text: "[1 2]", line: 1, column: 4, message: "expected ',' or ']' after array element"),
        .init(text: "[1", line: 1, column: 3, message: "expected ',' or ']' after array element"),
        .init(text: "[", line: 1, column: 2, message: "expected a value, found end of input"),
        .init(text: "[1,,2]", line: 1, column: 4, message: "expected a value, found ','"),
        .init(text: "{", line: 1, column: 2, message: "expected a string key, found end of input"),
        .init(text: "{1:2}", line: 1, column: 2, message: "expected a string key, found '1'"),
        .init(text: "{'a':2}", line: 1, column: 2, message: "expected a string key, found '''"),
        .init(text: #"{"a""#, line: 1, column: 5, message: "expected ':' after object key"),
        .init(text: #"{"a":}"#, line: 1, column: 6, message: "expected a value, found '}'"),
        .init(text: #"{"a":1,"a":2}"#, line: 1, column: 8, message: "duplicate key 'a'"),
        .init(text: "01", line: 1, column: 1, message: "leading zeros are not allowed in numbers"),
        .init(text: "-01", line: 1, column: 1, message: "leading zeros are not allowed in numbers"),
        .init(text: "-", line: 1, column: 2, message: "expected a digit after '-', found end of input"),
        .init(text: "-a", line: 1, column: 2, message: "expected a digit after '-', found 'a'"),
        .init(text: "1.", line: 1, column: 3, message: "expected a digit after the decimal point, found end of input"),
        .init(text: "1.e5", line: 1, column: 3, message: "expected a digit after the decimal point, found 'e'"),
        .init(text: "1e", line: 1, column: 3, message: "expected a digit in the exponent, found end of input"),
        .init(text: "1e+", line: 1, column: 4, message: "expected a digit in the exponent, found end of input"),
        .init(text: ".5", line: 1, column: 1, message: "expected a value, found '.'"),
        .init(text: "+1", line: 1, column: 1, message: "expected a value, found '+'"),
        .init(text: "0x10", line: 1, column: 2, message: "unexpected 'x' after the JSON value"),
        .init(text: "NaN", line: 1, column: 1, message: "expected a value, found 'N'"),
        .init(text: "-Infinity", line: 1, column: 2, message: "expected a digit after '-', found 'I'"),
        .init(text: "tru", line: 1, column: 1, message: "invalid literal, expected 'true'"),
        .init(text: "[nul]", line: 1, column: 2, message: "invalid literal, expected 'null'"),
        .init(text: "fals", line: 1, column: 1, message: "invalid literal, expected 'false'"),
        .init(text: "True", line: 1, column: 1, message: "expected a value, found 'T'"),
        .init(text: "nulll", line: 1, column: 5, message: "unexpected 'l' after the JSON value"),
        .init(text: "1 2", line: 1, column: 3, message: "unexpected '2' after the JSON value"),
        .init(text: "[1] x", line: 1, column: 5, message: "unexpected 'x' after the JSON value"),
        .init(text: "{}{}", line: 1, column: 3, message: "unexpected '{' after the JSON value"),
        .init(text: "// comment\n1", line: 1, column: 1, message: "expected a value, found '/'"),
        .init(text: "[1 /* c */]", line: 1, column: 4, message: "expected ',' or ']' after array element"),
        .init(text: #""abc"#, line: 1, column: 1, message: "unterminated string"),
        .init(text: #"["abc\"#, line: 1, column: 2, message: "unterminated string"),
        .init(text: #""a\"#, line: 1, column: 1, message: "unterminated string"),
        .init(
            text: "\"a\u{01}b\"", line: 1, column: 3, message: "control character byte 0x01 must be escaped in a string"
        ),
        .init(text: "\"a\nb\"", line: 1, column: 3, message: "control character byte 0x0A must be escaped in a string"),
        .init(text: "\"\t\"", line: 1, column: 2, message: "control character byte 0x09 must be escaped in a string"),
        .init(text: #""a\x""#, line: 1, column: 3, message: #"invalid escape '\x'"#),
        .init(text: #""\'""#, line: 1, column: 2, message: #"invalid escape '\''"#),
        .init(text: #""\u12""#, line: 1, column: 2, message: #"expected 4 hex digits after '\u'"#),
        .init(text: #""\u00G0""#, line: 1, column: 2, message: #"expected 4 hex digits after '\u'"#),
        .init(text: #""\uD800""#, line: 1, column: 2, message: #"unpaired high surrogate \uD800"#),
        .init(text: #""x\uDBFFy""#, line: 1, column: 3, message: #"unpaired high surrogate \uDBFF"#),
        .init(text: #""\uD800\u0041""#, line: 1, column: 2, message: #"unpaired high surrogate \uD800"#),
        .init(text: #""\uD800\uD800""#, line: 1, column: 2, message: #"unpaired high surrogate \uD800"#),
        .init(text: #""\uDC00""#, line: 1, column: 2, message: #"unpaired low surrogate \uDC00"#),
        .init(text: #""\udfff\ud800""#, line: 1, column: 2, message: #"unpaired low surrogate \uDFFF"#),
        .init(text: "\u{FEFF}1", line: 1, column: 1, message: "expected a value, found byte 0xEF"),
        .init(text: "\u{E9}", line: 1, column: 1, message: "expected a value, found byte 0xC3"),
        // Columns count bytes: "é" is two.
        .init(text: "\"\u{E9}\" x", line: 1, column: 6, message: "unexpected 'x' after the JSON value"),
        // Line numbers follow the line feeds between tokens.
        .init(
            text: "{\n  \"a\": 1,\n  \"b\": 2\n  \"c\": 3\n}", line: 4, column: 3,
            message: "expected ',' or '}' after object member"),
        .init(text: "[\n1,\n\n 2 3]", line: 4, column: 4, message: "expected ',' or ']' after array element"),
        .init(text: "[1,\r\n2,\r\n]", line: 3, column: 1, message: "trailing comma before ']'"),
        .init(text: "{\"k\": 1,\n \"k\": 2}", line: 2, column: 2, message: "duplicate key 'k'"),
    ]

    @Test("rejects invalid documents at the right position", arguments: JSONParserTests.invalidDocuments)
    func rejectsInvalidDocuments(_ testCase: InvalidCase) throws {
        let error = try #require(jsonError(testCase.text))
        #expect(error.message == testCase.message)
        #expect(error.line == testCase.line)
        #expect(error.column == testCase.column)
    }

    @Test("describes errors as 'line L, column C: message'")
    func errorDescription() throws {
        let error = try #require(jsonError("{\n\n  \"a\": 1\n  \"b\"}"))
        #expect(error.description == "line 4, column 3: expected ',' or '}' after object member")
    }

    // MARK: UTF-8

    static let invalidUTF8: [([UInt8], Int, String)] = [
        ([0x22, 0xFF, 0x22], 2, "invalid UTF-8 (byte 0xFF)"),
        ([0x22, 0x80, 0x22], 2, "invalid UTF-8 (byte 0x80)"),
        // Overlong encodings of '/' and NUL.
        ([0x22, 0xC0, 0xAF, 0x22], 2, "invalid UTF-8 (byte 0xC0)"),
        ([0x22, 0xE0, 0x80, 0xAF, 0x22], 3, "invalid UTF-8 (byte 0x80)"),
        // U+D800 encoded directly.
        ([0x22, 0xED, 0xA0, 0x80, 0x22], 3, "invalid UTF-8 (byte 0xA0)"),
        // U+110000.
        ([0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], 3, "invalid UTF-8 (byte 0x90)"),
        ([0x22, 0xF5, 0x80, 0x80, 0x80, 0x22], 2, "invalid UTF-8 (byte 0xF5)"),
        // A sequence cut short by the closing quote, and by the end of the input.
        ([0x22, 0xE2, 0x82, 0x22], 4, "invalid UTF-8 ('\"')"),
        ([0x22, 0xE2, 0x82], 4, "invalid UTF-8 (truncated sequence at end of input)"),
        // After an escape (slow path).
        ([0x22, 0x5C, 0x6E, 0xFE, 0x22], 4, "invalid UTF-8 (byte 0xFE)"),
    ]

    @Test("rejects invalid UTF-8 in strings", arguments: JSONParserTests.invalidUTF8)
    func rejectsInvalidUTF8(bytes: [UInt8], column: Int, message: String) throws {
        let error = try #require(jsonError(bytes: bytes))
        #expect(error.message == message)
        #expect(error.line == 1)
        #expect(error.column == column)
    }

    @Test("accepts every valid UTF-8 length, including the extremes")
    func acceptsValidUTF8() throws {
        let text = "\"\u{7F}\u{80}\u{7FF}\u{800}\u{D7FF}\u{E000}\u{FFFD}\u{FFFF}\u{10000}\u{10FFFF}é😀\""
        #expect(try JSONParser.parse(text) == .string(String(text.dropFirst().dropLast())))
    }

    // MARK: Strings and escapes

    static let escapes: [(String, String)] = [
        (#""\u00e9""#, "é"),
        (#""\u00E9""#, "é"),
        (#""\uD83D\uDE00""#, "😀"),
        (#""\ud83d\ude00""#, "😀"),
        (#""\uDBFF\uDFFF""#, "\u{10FFFF}"),
        (#""\u0000""#, "\u{0}"),
        (#""\u001f""#, "\u{1F}"),
        (#""\u20AC""#, "€"),
        (#""\"\\\/\b\f\n\r\t""#, "\"\\/\u{8}\u{C}\n\r\t"),
        (#""a\nb é😀 c""#, "a\nb é😀 c"),
        (#""é😀\n""#, "é😀\n"),
        (#""\\u0041""#, #"\u0041"#),
        ("\"\u{7F}\"", "\u{7F}"),
        ("\"\u{2028}\u{2029}\"", "\u{2028}\u{2029}"),
    ]

    @Test("decodes escapes and keeps raw UTF-8", arguments: JSONParserTests.escapes)
    func decodesEscapes(text: String, expected: String) throws {
        #expect(try JSONParser.parse(text) == .string(expected))
    }

    @Test("a NUL escape keeps the rest of the string")
    func nulEscape() throws {
        let value = try JSONParser.parse(#""a\u0000b""#)
        #expect(value.stringValue?.utf8.count == 3)
        #expect(value.stringValue == "a\u{0}b")
    }

    // MARK: Numbers

    @Test("keeps number text and converts exactly")
    func numberExactness() throws {
        let text = "10.357019999999999"
        let number = try #require(try JSONParser.parse(text).numberValue)
        #expect(number.text == text)
        let expected = try #require(Double("10.357019999999999"))
        #expect(number.doubleValue?.bitPattern == expected.bitPattern)
        // The nearby shorter text is a different double: nothing was rounded through a shorter form.
        #expect(number.doubleValue != Double("10.35702"))
        #expect(number.int64Value == nil)
    }

    static let numbers: [(String, Int64?, Double?)] = [
        ("0", 0, 0),
        ("-0", 0, -0.0),
        ("42", 42, 42),
        ("-42", -42, -42),
        ("9223372036854775807", .max, 9.223372036854775807e18),
        ("-9223372036854775808", .min, -9.223372036854775808e18),
        ("9223372036854775808", nil, 9.223372036854775808e18),
        ("-9223372036854775809", nil, -9.223372036854775809e18),
        ("123456789012345678901234567890", nil, 1.2345678901234568e29),
        ("1.0", nil, 1.0),
        ("1e2", nil, 100),
        ("1E2", nil, 100),
        ("0.1", nil, 0.1),
        ("2.5e-7", nil, 2.5e-7),
        ("1.7976931348623157e308", nil, .greatestFiniteMagnitude),
        ("1e400", nil, nil),
        ("-1e400", nil, nil),
        ("1e-400", nil, 0),
        ("4.9406564584124654e-324", nil, .leastNonzeroMagnitude),
        ("2.2250738585072011e-308", nil, Double(bitPattern: 0x000F_FFFF_FFFF_FFFF)),
        ("1048.36058", nil, 1048.36058),
        ("9007199254740993", 9_007_199_254_740_993, 9_007_199_254_740_992),
    ]

    @Test("number conversions", arguments: JSONParserTests.numbers)
    func numberConversions(text: String, int64: Int64?, double: Double?) throws {
        let number = try #require(try JSONParser.parse(text).numberValue)
        #expect(number.text == text)
        #expect(number.int64Value == int64)
        #expect(number.doubleValue?.bitPattern == double?.bitPattern)
    }

    @Test("a very long number literal is kept and converted")
    func longNumber() throws {
        let text = "0." + String(repeating: "3", count: 5000)
        let number = try #require(try JSONParser.parse(text).numberValue)
        #expect(number.text.utf8.count == 5002)
        #expect(number.doubleValue == Double(text))
    }

    static let numberTexts: [(String, Bool)] = [
        ("0", true), ("-0", true), ("1.5", true), ("1e5", true), ("-1.5E+3", true),
        ("", false), ("-", false), ("01", false), ("1.", false), (".1", false), ("+1", false), ("1e", false),
        (" 1", false), ("1 ", false), ("NaN", false), ("Infinity", false), ("0x1", false), ("1_000", false),
    ]

    @Test("JSONNumber(text:) checks the grammar", arguments: JSONParserTests.numberTexts)
    func numberTextValidation(text: String, valid: Bool) {
        #expect((JSONNumber(text: text) != nil) == valid)
    }

    // MARK: Depth

    @Test("nesting up to maxDepth is accepted, one more is rejected", arguments: [0, 1, 2, 64])
    func depthLimitArrays(depth: Int) throws {
        func nested(_ depth: Int) -> String {
            String(repeating: "[", count: depth) + "1" + String(repeating: "]", count: depth)
        }
        #expect(jsonError(nested(depth), maxDepth: depth) == nil)
        let tooDeep = nested(depth + 1)
        let error = try #require(jsonError(tooDeep, maxDepth: depth))
        #expect(error.message == "nesting is deeper than the limit of \(depth)")
        #expect(error.column == depth + 1)
    }

    @Test("objects count toward the depth limit too")
    func depthLimitObjects() throws {
        let nested = { (depth: Int) in
            String(repeating: #"{"a":"#, count: depth) + "1" + String(repeating: "}", count: depth)
        }
        #expect(jsonError(nested(64)) == nil)
        let error = try #require(jsonError(nested(65)))
        #expect(error.message == "nesting is deeper than the limit of 64")
        #expect(error.column == 64 * 5 + 1)
    }

    @Test("maxDepth is clamped, so a huge limit cannot exhaust the stack")
    func depthClamp() throws {
        let limit = JSONParser.maxDepthLimit
        let ok = String(repeating: "[", count: limit) + String(repeating: "]", count: limit)
        #expect(jsonError(ok, maxDepth: .max) == nil)
        let error = try #require(jsonError("[" + ok + "]", maxDepth: .max))
        #expect(error.message == "nesting is deeper than the limit of \(limit)")
        #expect(jsonError("[]", maxDepth: -5)?.message == "nesting is deeper than the limit of 0")
    }

    @Test("hostile nesting fails fast without recursion")
    func hostileNesting() {
        #expect(jsonError(String(repeating: "[", count: 200_000)) != nil)
        #expect(jsonError(String(repeating: #"{"a":"#, count: 100_000)) != nil)
        #expect(jsonError(String(repeating: "[1,", count: 100_000), maxDepth: 1) != nil)
    }

    // MARK: Objects

    @Test("objects keep document order and look up by key")
    func objectOrder() throws {
        let object = try #require(try JSONParser.parse(#"{"z":1,"a":2,"m":3}"#).objectValue)
        #expect(object.keys == ["z", "a", "m"])
        #expect(object["a"] == 2)
        #expect(object["missing"] == nil)
        #expect(object.count == 3)
        // Order matters for equality.
        #expect(try JSONParser.parse(#"{"a":1,"b":2}"#) != JSONParser.parse(#"{"b":2,"a":1}"#))
    }

    @Test("large objects index their keys and still reject duplicates")
    func largeObjects() throws {
        let members = (0..<1000).map { #""k\#($0)":\#($0)"# }
        let object = try #require(try JSONParser.parse("{" + members.joined(separator: ",") + "}").objectValue)
        #expect(object.count == 1000)
        #expect(object["k999"] == 999)
        #expect(object["k0"] == 0)
        #expect(object.keys.first == "k0")
        let duplicate = "{" + members.joined(separator: ",") + #","k500":1}"#
        #expect(jsonError(duplicate)?.message == "duplicate key 'k500'")
    }

    @Test("duplicate-key messages cut long keys")
    func longDuplicateKey() throws {
        let key = String(repeating: "x", count: 1000)
        let error = try #require(jsonError(#"{"\#(key)":1,"\#(key)":2}"#))
        #expect(error.message == "duplicate key '\(String(repeating: "x", count: 64))…'")
    }

    @Test("JSONObject editing keeps order and the index consistent")
    func objectEditing() {
        var object = JSONObject()
        for index in 0..<40 {
            object["k\(index)"] = .number(JSONNumber(Int64(index)))
        }
        object["k3"] = "three"
        object["k5"] = nil
        #expect(object.count == 39)
        #expect(object["k3"] == "three")
        #expect(object["k5"] == nil)
        #expect(object["k39"] == 39)
        #expect(object.keys[5] == "k6")
        let insertedDuplicate = object.insertIfAbsent(key: "k6", value: .null)
        #expect(!insertedDuplicate)
        let insertedNew = object.insertIfAbsent(key: "k5", value: .null)
        #expect(insertedNew)
        #expect(object.keys.last == "k5")
        #expect(object.contains(key: "k5"))
    }

    // MARK: Accessors and overloads

    @Test("value accessors and type names")
    func accessors() throws {
        let value = try JSONParser.parse(#"{"s":"x","b":true,"n":1,"a":[],"o":{},"z":null}"#)
        let object = try #require(value.objectValue)
        #expect(object["s"]?.stringValue == "x")
        #expect(object["b"]?.boolValue == true)
        #expect(object["n"]?.numberValue?.int64Value == 1)
        #expect(object["a"]?.arrayValue == [])
        #expect(object["o"]?.objectValue == JSONObject())
        #expect(object["z"]?.isNull == true)
        #expect(object["s"]?.boolValue == nil)
        #expect(object["z"]?.stringValue == nil)
        #expect(object.members.map(\.value.typeName) == ["string", "boolean", "number", "array", "object", "null"])
    }

    @Test("every input overload gives the same result")
    func overloads() throws {
        let text = #"{"a":[1,"é",null]}"#
        let expected = try JSONParser.parse(text)
        let bytes = Array(text.utf8)
        #expect(try JSONParser.parse(bytes) == expected)
        #expect(try JSONParser.parse(([0x20] + bytes + [0x20])[1...]) == expected)
        #expect(try JSONParser.parse(text.utf8) == expected)
        #expect(try JSONParser.parse(text.utf8.lazy.map { $0 }) == expected)
        #expect(try bytes.withUnsafeBytes { buffer throws(JSONError) in try JSONParser.parse(buffer) } == expected)
        #expect(try JSONParser.parse(Substring(text).utf8) == expected)
    }

    // MARK: Real data

    static let weatherLines = [
        #"{"entity": {"origin": "EWR"}, "event_time": "2013-01-01T06:00:00Z", "features": {"temp": 39.02, "dewp": 26.06, "humid": 59.37, "wind_dir": 270.0, "wind_speed": 10.357019999999999, "wind_gust": null, "precip": 0.0, "pressure": 1012.0, "visib": 10.0}}"#,
        #"{"entity": {"origin": "JFK"}, "event_time": "2013-01-01T06:00:00Z", "features": {"temp": 39.02, "dewp": 26.06, "humid": 59.37, "wind_dir": 260.0, "wind_speed": 12.658579999999999, "wind_gust": null, "precip": 0.0, "pressure": 1012.6, "visib": 10.0}}"#,
        #"{"entity": {"origin": "EWR"}, "event_time": "2013-02-12T08:00:00Z", "features": {"temp": 39.02, "dewp": 26.96, "humid": 61.63, "wind_dir": 260.0, "wind_speed": 1048.36058, "wind_gust": null, "precip": 0.0, "pressure": 1008.3, "visib": 10.0}}"#,
    ]

    @Test("reads real weather_updates.jsonl lines")
    func readsWeatherLines() throws {
        let line = try #require(Self.weatherLines.first)
        let object = try #require(try JSONParser.parse(line).objectValue)
        #expect(object.keys == ["entity", "event_time", "features"])
        #expect(object["entity"]?.objectValue?["origin"] == "EWR")
        #expect(object["event_time"]?.stringValue == "2013-01-01T06:00:00Z")
        let features = try #require(object["features"]?.objectValue)
        #expect(
            features.keys == [
                "temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip", "pressure", "visib",
            ])
        #expect(features["wind_speed"]?.numberValue?.doubleValue == 10.357019999999999)
        #expect(features["wind_dir"]?.numberValue?.doubleValue == 270)
        #expect(features["wind_dir"]?.numberValue?.int64Value == nil)
        #expect(features["wind_gust"]?.isNull == true)
        for line in Self.weatherLines {
            #expect(jsonError(line) == nil)
        }
    }

    @Test("reads real requests.jsonl lines, including a null tailnum")
    func requestLines() throws {
        let lines = [
            #"{"time": "2013-01-01T10:15:00Z", "entities": {"tailnum": "N14228", "origin": "EWR", "dest": "IAH", "carrier": "UA"}}"#,
            #"{"time": "2013-01-02T20:45:00Z", "entities": {"tailnum": null, "origin": "JFK", "dest": "LAX", "carrier": "AA"}}"#,
        ]
        let first = try #require(try JSONParser.parse(lines[0]).objectValue)
        #expect(first["entities"]?.objectValue?["tailnum"] == "N14228")
        let second = try #require(try JSONParser.parse(lines[1]).objectValue)
        #expect(second["entities"]?.objectValue?["tailnum"]?.isNull == true)
        #expect(second["entities"]?.objectValue?.keys == ["tailnum", "origin", "dest", "carrier"])
    }
}
