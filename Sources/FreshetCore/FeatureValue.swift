// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Feature types and typed feature values, with null kept apart from a missing value.

/// The type of a feature, as named in the registry (`"int64"`, `"float_list"`, …).
public enum FeatureType: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    case int64
    case double
    case float
    case bool
    case string
    case bytes
    case int64List = "int64_list"
    case doubleList = "double_list"
    case floatList = "float_list"
    case boolList = "bool_list"
    case stringList = "string_list"
    case bytesList = "bytes_list"

    public var description: String { self.rawValue }

    /// Whether values of this type are lists.
    public var isList: Bool {
        switch self {
        case .int64List, .doubleList, .floatList, .boolList, .stringList, .bytesList: true
        default: false
        }
    }
}

/// One feature value of a row. `.null` is a stored null ("no value"), which is not the same as a missing row or a
/// feature the row predates; those are represented by the absence of a value.
public enum FeatureValue: Hashable, Sendable {
    case null
    case int64(Int64)
    case double(Double)
    case float(Float)
    case bool(Bool)
    case string(String)
    case bytes([UInt8])
    case int64List([Int64])
    case doubleList([Double])
    case floatList([Float])
    case boolList([Bool])
    case stringList([String])
    case bytesList([[UInt8]])

    /// The type of a non-null value; `nil` for `.null`.
    public var type: FeatureType? {
        switch self {
        case .null: nil
        case .int64: .int64
        case .double: .double
        case .float: .float
        case .bool: .bool
        case .string: .string
        case .bytes: .bytes
        case .int64List: .int64List
        case .doubleList: .doubleList
        case .floatList: .floatList
        case .boolList: .boolList
        case .stringList: .stringList
        case .bytesList: .bytesList
        }
    }
}

/// The type of an entity join key.
public enum JoinKeyType: String, Hashable, Sendable, CustomStringConvertible {
    case string
    case int64

    public var description: String { self.rawValue }
}

/// The value of one join key.
public enum JoinKeyValue: Hashable, Sendable, CustomStringConvertible {
    case string(String)
    case int64(Int64)

    public var type: JoinKeyType {
        switch self {
        case .string: .string
        case .int64: .int64
        }
    }

    public var description: String {
        switch self {
        case .string(let text): text
        case .int64(let number): String(number)
        }
    }
}
