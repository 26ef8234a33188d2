// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Synthetic stores for benchmarks: N keys × F features of mixed types, as a registry, a CSV for `freshet load` and
// the same rows as Redis commands.

internal import FreshetCore
internal import FreshetPosix

/// Writes a synthetic data set into a directory:
/// - `registry.json`: entity `item` (join key `id`, string), view `items` with features `f0…` of mixed types, and a
///   feature service `bench_model` that returns them all;
/// - `items.csv`: one row per key `item-0000000…`, loaded through the normal `freshet load` path;
/// - `redis.txt`: the same rows as `SET key value` commands for `redis-cli --pipe` (RESP), the value being the row's
///   CSV fields, so each store holds one record per key of similar size.
public enum StoreGenerator {
    /// The feature types, in turn.
    static let types: [FeatureType] = [
        .int64, .double, .float, .bool, .string, .int64, .double, .string, .floatList, .int64List,
    ]
    public static let keyName = "id"
    public static let keyPrefix = "item-"
    public static let view = "items"
    public static let service = "bench_model"

    /// Writes the data set; returns the paths written.
    /// - Throws: ``SystemError`` when a file cannot be written.
    @discardableResult
    public static func write(keys: Int, features: Int, directory: String, seed: UInt64 = 1) throws -> [String] {
        var random = SplitMix64(seed: seed)
        let featureTypes = (0..<features).map { Self.types[$0 % Self.types.count] }
        var csv = Array((["id"] + (0..<features).map { "f\($0)" }).joined(separator: ",").utf8)
        csv.append(10)
        var redis: [UInt8] = []
        csv.reserveCapacity(keys * (features * 12 + 16))
        redis.reserveCapacity(keys * (features * 12 + 40))
        var fields: [String] = []
        for index in 0..<keys {
            let key = KeySource.generatedKey(prefix: Self.keyPrefix, index: index)
            fields.removeAll(keepingCapacity: true)
            for type in featureTypes {
                fields.append(Self.field(type, &random))
            }
            let line = fields.joined(separator: ",")
            csv += Array(key.utf8)
            csv.append(UInt8(ascii: ","))
            csv += Array(line.utf8)
            csv.append(10)
            for word in ["SET", key, line] as [String] {
                if word == "SET" { redis += Array("*3\r\n".utf8) }
                redis += Array("$\(word.utf8.count)\r\n".utf8)
                redis += Array(word.utf8)
                redis += [13, 10]
            }
        }
        try FileIO.writeAll(directory + "/items.csv", csv)
        try FileIO.writeAll(directory + "/redis.txt", redis)
        try FileIO.writeAll(directory + "/registry.json", Array(Self.registry(featureTypes).utf8))
        return [directory + "/registry.json", directory + "/items.csv", directory + "/redis.txt"]
    }

    static func registry(_ types: [FeatureType]) -> String {
        let features = types.enumerated().map { "{\"name\": \"f\($0.offset)\", \"type\": \"\($0.element)\"}" }
        let names = types.indices.map { "\"f\($0)\"" }
        return """
            {"entities": [{"name": "item", "join_keys": [{"name": "\(Self.keyName)", "type": "string"}]}],
             "feature_views": [{"name": "\(Self.view)", "entity": "item", "max_age": "0",
                                "features": [\(features.joined(separator: ", "))]}],
             "feature_services": [{"name": "\(Self.service)", "views": [{"view": "\(Self.view)", "features": [\(names.joined(separator: ", "))]}]}]}

            """
    }

    /// One CSV field of `type` (2% nulls). Lists are quoted JSON arrays.
    static func field(_ type: FeatureType, _ random: inout SplitMix64) -> String {
        if random.next() % 50 == 0 { return "" }
        switch type {
        case .int64:
            return String(Int64(bitPattern: random.next()) >> 20)
        case .double:
            return String(random.unit() * 1000 - 500)
        case .float:
            return String(Float(random.unit() * 100))
        case .bool:
            return random.next() % 2 == 0 ? "true" : "false"
        case .string:
            let letters = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789".utf8)
            let length = 8 + Int(random.next() % 9)
            return String(
                decoding: (0..<length).map { _ in letters[Int(random.next() % UInt64(letters.count))] }, as: UTF8.self)
        case .floatList:
            return "\"[" + (0..<4).map { _ in String(Float(random.unit())) }.joined(separator: ",") + "]\""
        case .int64List:
            return "\"[" + (0..<2).map { _ in String(random.next() % 100_000) }.joined(separator: ",") + "]\""
        default:
            return ""
        }
    }
}
