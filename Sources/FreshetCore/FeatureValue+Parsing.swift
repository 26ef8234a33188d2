// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Typed feature values from CSV fields and JSON values, with errors that say what was expected.

/// Why a text or JSON value is not a value of a feature's type.
public struct ValueParseError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { self.message }
}

extension FeatureValue {
    /// Parses a CSV field as a value of `type`.
    ///
    /// An unquoted empty field is null. Otherwise: int64 as a decimal integer; double/float as a decimal number
    /// (`nan` and `inf` are refused); bool as `true`/`false`/`1`/`0`; string as is (a quoted `""` is the empty
    /// string); bytes as padded base64; lists as a JSON array (`"[1,2,3]"`, quoted in the CSV).
    /// - Throws: ``ValueParseError`` naming the text and the type.
    public init(csvField field: CSVField, type: FeatureType) throws(ValueParseError) {
        if field.isEmptyUnquoted {
            self = .null
            return
        }
        let text = field.text
        switch type {
        case .string:
            self = .string(text)
        case .int64:
            guard let number = Int64(text) else { throw ValueParseError("'\(clip(text))' is not an int64") }
            self = .int64(number)
        case .double:
            self = .double(try parseDouble(text))
        case .float:
            self = .float(try parseFloat(text))
        case .bool:
            switch text.lowercased() {
            case "true", "1": self = .bool(true)
            case "false", "0": self = .bool(false)
            default: throw ValueParseError("'\(clip(text))' is not a bool (true, false, 1 or 0)")
            }
        case .bytes:
            guard let bytes = Base64.decode(text) else { throw ValueParseError("'\(clip(text))' is not base64") }
            self = .bytes(bytes)
        case .int64List, .doubleList, .floatList, .boolList, .stringList, .bytesList:
            let json: JSONValue
            do {
                json = try JSONParser.parse(text)
            } catch {
                throw ValueParseError("'\(clip(text))' is not a JSON array for \(type): \(error)")
            }
            try self.init(json: json, type: type)
        }
    }

    /// Converts a JSON value to a value of `type`: `null` is null, numbers must fit the type (an int64 needs an
    /// integer literal), bytes are base64 strings, lists are arrays without nulls.
    /// - Throws: ``ValueParseError`` naming what was found and what was expected.
    public init(json: JSONValue, type: FeatureType) throws(ValueParseError) {
        if json.isNull {
            self = .null
            return
        }
        switch type {
        case .int64: self = .int64(try jsonInt64(json))
        case .double: self = .double(try jsonDouble(json))
        case .float: self = .float(try jsonFloat(json))
        case .bool: self = .bool(try jsonBool(json))
        case .string: self = .string(try jsonString(json))
        case .bytes: self = .bytes(try jsonBytes(json))
        case .int64List: self = .int64List(try jsonList(json, type, jsonInt64))
        case .doubleList: self = .doubleList(try jsonList(json, type, jsonDouble))
        case .floatList: self = .floatList(try jsonList(json, type, jsonFloat))
        case .boolList: self = .boolList(try jsonList(json, type, jsonBool))
        case .stringList: self = .stringList(try jsonList(json, type, jsonString))
        case .bytesList: self = .bytesList(try jsonList(json, type, jsonBytes))
        }
    }
}

private func clip(_ text: String) -> String {
    text.count > 60 ? String(text.prefix(60)) + "…" : text
}

private func parseDouble(_ text: String) throws(ValueParseError) -> Double {
    guard let number = Double(text), number.isFinite, !text.contains(where: { $0 == "x" || $0 == "X" }) else {
        throw ValueParseError("'\(clip(text))' is not a finite decimal number")
    }
    return number
}

private func parseFloat(_ text: String) throws(ValueParseError) -> Float {
    let number = try parseDouble(text)
    let narrow = Float(number)
    // Too large becomes infinity and too small becomes 0: both would silently change the value.
    guard narrow.isFinite, narrow != 0 || number == 0 else {
        throw ValueParseError("'\(clip(text))' is out of range for float")
    }
    return narrow
}

private func jsonInt64(_ json: JSONValue) throws(ValueParseError) -> Int64 {
    guard let number = json.numberValue else { throw ValueParseError("expected an int64, found \(json.typeName)") }
    guard let integer = number.int64Value else {
        throw ValueParseError("\(number.text) is not an int64 (an integer from -2^63 to 2^63-1)")
    }
    return integer
}

private func jsonDouble(_ json: JSONValue) throws(ValueParseError) -> Double {
    guard let number = json.numberValue, let value = number.doubleValue, value.isFinite else {
        throw ValueParseError("expected a finite number, found \(json.typeName)")
    }
    return value
}

private func jsonFloat(_ json: JSONValue) throws(ValueParseError) -> Float {
    let number = try jsonDouble(json)
    let value = Float(number)
    guard value.isFinite, value != 0 || number == 0 else { throw ValueParseError("\(json) is out of range for float") }
    return value
}

private func jsonBool(_ json: JSONValue) throws(ValueParseError) -> Bool {
    guard let flag = json.boolValue else { throw ValueParseError("expected a bool, found \(json.typeName)") }
    return flag
}

private func jsonString(_ json: JSONValue) throws(ValueParseError) -> String {
    guard let text = json.stringValue else { throw ValueParseError("expected a string, found \(json.typeName)") }
    return text
}

private func jsonBytes(_ json: JSONValue) throws(ValueParseError) -> [UInt8] {
    guard let text = json.stringValue else { throw ValueParseError("expected a base64 string, found \(json.typeName)") }
    guard let bytes = Base64.decode(text) else { throw ValueParseError("'\(clip(text))' is not base64") }
    return bytes
}

private func jsonList<Element>(
    _ json: JSONValue, _ type: FeatureType, _ element: (JSONValue) throws(ValueParseError) -> Element
) throws(ValueParseError) -> [Element] {
    guard let items = json.arrayValue else {
        throw ValueParseError("expected an array for \(type), found \(json.typeName)")
    }
    var result: [Element] = []
    result.reserveCapacity(items.count)
    for (index, item) in items.enumerated() {
        if item.isNull {
            throw ValueParseError("element \(index) of the \(type) is null; list elements cannot be null")
        }
        do {
            result.append(try element(item))
        } catch {
            throw ValueParseError("element \(index) of the \(type): \(error.message)")
        }
    }
    return result
}
