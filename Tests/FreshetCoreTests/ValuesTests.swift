// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Typed values from CSV and JSON, entity key bytes, and base64.

import FreshetCore
import Testing

@Suite("Feature values")
struct FeatureValueParsingTests {
    @Test(arguments: [
        ("42", false, FeatureType.int64, FeatureValue.int64(42)),
        ("-9223372036854775808", false, .int64, .int64(.min)),
        ("", false, .int64, .null),
        ("", false, .string, .null),
        ("", true, .string, .string("")),
        ("10.357019999999999", false, .double, .double(10.357019999999999)),
        ("1e3", false, .double, .double(1000)),
        ("0.1", false, .float, .float(0.1)),
        ("TRUE", false, .bool, .bool(true)),
        ("0", false, .bool, .bool(false)),
        ("aGk=", false, .bytes, .bytes([104, 105])),
        ("[1,2,3]", true, .int64List, .int64List([1, 2, 3])),
        ("[]", false, .doubleList, .doubleList([])),
        ("[0.5,1]", true, .floatList, .floatList([0.5, 1])),
        ("[\"a\",\"b,c\"]", true, .stringList, .stringList(["a", "b,c"])),
        ("[true,false]", true, .boolList, .boolList([true, false])),
        ("[\"AA==\"]", true, .bytesList, .bytesList([[0]])),
    ])
    func csvFields(text: String, quoted: Bool, type: FeatureType, expected: FeatureValue) throws {
        #expect(try FeatureValue(csvField: CSVField(text: text, wasQuoted: quoted), type: type) == expected)
    }

    @Test(arguments: [
        ("4.5", FeatureType.int64, "'4.5' is not an int64"),
        ("9223372036854775808", .int64, "not an int64"),
        ("nan", .double, "not a finite decimal number"),
        ("inf", .double, "not a finite decimal number"),
        ("0x1p3", .double, "not a finite decimal number"),
        ("1e39", .float, "out of range for float"),
        ("1e-50", .float, "out of range for float"),
        ("yes", .bool, "not a bool"),
        ("a?==", .bytes, "not base64"),
        ("[1,null]", .int64List, "element 1 of the int64_list is null"),
        ("[1.5]", .int64List, "element 0 of the int64_list: 1.5 is not an int64"),
        ("1,2", .int64List, "not a JSON array"),
    ])
    func badCSVFieldsSayWhy(text: String, type: FeatureType, expected: String) {
        #expect {
            _ = try FeatureValue(csvField: CSVField(text: text, wasQuoted: false), type: type)
        } throws: { error in
            (error as? ValueParseError)?.message.contains(expected) == true
        }
    }

    @Test func jsonValues() throws {
        #expect(try FeatureValue(json: .null, type: .double) == .null)
        #expect(try FeatureValue(json: 270.0, type: .double) == .double(270))
        #expect(try FeatureValue(json: 7, type: .double) == .double(7))
        #expect(try FeatureValue(json: 7, type: .int64) == .int64(7))
        #expect(throws: ValueParseError.self) { try FeatureValue(json: 7.5, type: .int64) }
        #expect(throws: ValueParseError.self) { try FeatureValue(json: "7", type: .int64) }
        #expect(throws: ValueParseError.self) { try FeatureValue(json: 1, type: .string) }
        #expect(try FeatureValue(json: ["x", "y"], type: .stringList) == .stringList(["x", "y"]))
    }
}

@Suite("Entity keys")
struct EntityKeyTests {
    @Test func singleStringKeyIsItsBytes() {
        #expect(EntityKey.encode([.string("N14228")]) == Array("N14228".utf8))
    }

    @Test func int64KeysSortNumerically() {
        let numbers: [Int64] = [.min, -1_000_000, -1, 0, 1, 255, 256, 1 << 40, .max]
        let encoded = numbers.map { EntityKey.encode([.int64($0)]) }
        #expect(encoded.allSatisfy { $0.count == 8 })
        for (lower, higher) in zip(encoded, encoded.dropFirst()) {
            #expect(lower.lexicographicallyPrecedes(higher))
        }
    }

    @Test func compositeKeysNeverCollide() {
        let a = EntityKey.encode([.string("ab"), .string("c")])
        let b = EntityKey.encode([.string("a"), .string("bc")])
        #expect(a != b)
        let long = EntityKey.encode([.string(String(repeating: "x", count: 200)), .int64(5)])
        #expect(long.count == 2 + 200 + 8, "a 200-byte string takes a 2-byte varint length")
    }
}

@Suite("Base64")
struct Base64Tests {
    @Test(arguments: [
        ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ])
    func rfc4648Vectors(plain: String, encoded: String) {
        #expect(Base64.encode(Array(plain.utf8)) == encoded)
        #expect(Base64.decode(encoded) == Array(plain.utf8))
    }

    @Test func allBytesRoundTrip() {
        let bytes = (0...255).map { UInt8($0) }
        #expect(Base64.decode(Base64.encode(bytes)) == bytes)
    }

    @Test(arguments: ["Zg=", "Zg===", "Z===", "Zm9v!", "=Zm9", "Zg=a", "Zm 9v"])
    func invalidTextIsRefused(text: String) {
        #expect(Base64.decode(text) == nil)
    }
}

@Suite("Row files")
struct RowFileTests {
    static let entity = Entity(name: "plane", joinKeys: [.init(name: "tailnum", type: .string)])
    static let view = FeatureView(
        name: "planes", entity: "plane",
        features: [Feature(name: "year", type: .int64), Feature(name: "type", type: .string)])

    private func csv(
        _ text: String, eventTime: EventTimeSource = .fixed(Timestamp(seconds: 100))
    ) throws(RowFileError) -> [ParsedRow] {
        try RowFile.readCSV(Array(text.utf8), file: "p.csv", view: Self.view, entity: Self.entity, eventTime: eventTime)
    }

    @Test func columnsInAnyOrderWithAnEventTimeColumn() throws {
        let rows = try self.csv(
            "type,at,tailnum,year\nFixed wing,2013-01-01T00:00:00Z,N1,2004\n\"quoted, with comma\",2013-01-02T00:00:00Z,N2,\n",
            eventTime: .column("at"))
        #expect(rows.count == 2)
        #expect(rows[0].key == [.string("N1")])
        #expect(rows[0].values == [.int64(2004), .string("Fixed wing")])
        #expect(rows[1].values == [.null, .string("quoted, with comma")])
        #expect(rows[1].eventTime == (try Timestamp(iso8601: "2013-01-02T00:00:00Z")))
        #expect(rows[1].line == 3)
    }

    @Test(arguments: [
        ("", "p.csv: the file is empty"),
        ("tailnum,year,type,year\n", "p.csv:1: column 'year' appears twice"),
        ("tailnum,year\n", "p.csv:1: the header lacks column 'type'"),
        ("tailnum,year,type\nN1,1,a\nN2,x,b\n", "p.csv:3: column 'year': 'x' is not an int64"),
        ("tailnum,year,type\nN1,1\n", "p.csv:2: expected 3 fields, found 2"),
        ("tailnum,year,type\n,1,a\n", "p.csv:2: join key 'tailnum' is empty"),
        ("tailnum,year,type\nN1\u{0}x,1,a\n", "p.csv:2: join key 'tailnum' contains a NUL byte"),
        ("tailnum,year,type\n\"N1,1,a\n", "p.csv:2: unterminated"),
    ])
    func badCSVNamesFileAndLine(text: String, expected: String) {
        #expect {
            _ = try self.csv(text)
        } throws: { error in
            (error as? RowFileError)?.description.hasPrefix(expected) == true
        }
    }

    @Test func jsonLines() throws {
        let text = """
            {"entity": {"tailnum": "N1"}, "event_time": "2013-01-01T06:00:00Z", "features": {"year": 2004, "type": null}}

            {"entity": {"tailnum": "N2"}, "event_time": "2013-01-01T07:00:00Z", "features": {"type": "x", "year": null}}
            """
        let rows = try RowFile.readJSONL(
            Array(text.utf8), file: "u.jsonl", view: Self.view, entity: Self.entity, eventTime: .column("event_time"))
        #expect(rows.map(\.line) == [1, 3])
        #expect(rows[0].values == [.int64(2004), .null])
        #expect(rows[1].values == [.null, .string("x")])
    }

    @Test(arguments: [
        (
            "{\"entity\": {\"tailnum\": \"N1\"}, \"event_time\": \"2013-01-01T06:00:00Z\", \"features\": {\"year\": 1}}",
            "u.jsonl:1: feature 'type' is missing"
        ),
        (
            "{\"entity\": {\"tail\": \"N1\"}, \"event_time\": \"2013-01-01T06:00:00Z\", \"features\": {}}",
            "u.jsonl:1: entity lacks join key 'tailnum'"
        ),
        (
            "{\"entity\": {\"tailnum\": 5}, \"event_time\": \"2013-01-01T06:00:00Z\", \"features\": {}}",
            "join key 'tailnum' must be a non-empty string"
        ),
        (
            "{\"entity\": {\"tailnum\": \"N\\u0000x\"}, \"event_time\": \"2013-01-01T06:00:00Z\", \"features\": {}}",
            "without NUL bytes"
        ),
        (
            "{\"entity\": {\"tailnum\": \"N1\"}, \"features\": {\"year\": 1, \"type\": \"a\"}}",
            "missing string 'event_time'"
        ),
        (
            "{\"entity\": {\"tailnum\": \"N1\"}, \"event_time\": \"2013-02-30T00:00:00Z\", \"features\": {\"year\": 1, \"type\": \"a\"}}",
            "event_time: "
        ),
        (
            "{\"entity\": {\"tailnum\": \"N1\"}, \"event_time\": \"2013-01-01T06:00:00Z\", \"features\": {\"year\": 1, \"type\": \"a\", \"wings\": 2}}",
            "feature 'wings' is not a feature"
        ),
        ("{\"entity\": ", "u.jsonl:1: invalid JSON"),
    ])
    func badJSONLinesSayWhy(text: String, expected: String) {
        #expect {
            _ = try RowFile.readJSONL(
                Array(text.utf8), file: "u.jsonl", view: Self.view, entity: Self.entity,
                eventTime: .column("event_time"))
        } throws: { error in
            (error as? RowFileError)?.description.contains(expected) == true
        }
    }
}
