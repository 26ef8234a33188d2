// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// `freshet get`: one GetFeatures call, printed for people or as JSON.

import FreshetCore
import FreshetGRPC
import FreshetPosix
import FreshetProto
import FreshetServer

enum GetCommand {
    static let specs: [FlagSpec] = [
        FlagSpec(name: "server", kind: .value(placeholder: "HOST:PORT"), help: "the server (default 127.0.0.1:50051)"),
        FlagSpec(name: "service", kind: .value(placeholder: "NAME"), help: "a feature service from the registry"),
        FlagSpec(
            name: "features", kind: .repeated(placeholder: "VIEW:FEATURE[,...]"),
            help: "explicit feature refs instead of --service"),
        FlagSpec(
            name: "row", kind: .repeated(placeholder: "KEY=VALUE[,...]"),
            help: "one entity row; KEY:int64=N for int64 keys, KEY:null for a null key"),
        FlagSpec(
            name: "max-staleness", kind: .value(placeholder: "DURATION"),
            help: "rows older than this are STALE (e.g. 90s, 2h)"),
        FlagSpec(
            name: "timeout", kind: .value(placeholder: "DURATION"), help: "deadline sent as grpc-timeout (default 10s)"),
        FlagSpec(name: "json", kind: .toggle, help: "print one JSON document"),
    ]

    static func run(_ arguments: [String]) throws -> Int32 {
        if arguments.contains("--help") {
            Console.out(
                usage(
                    "freshet get [--server HOST:PORT] (--service S | --features view:feature[,...])\n"
                        + "           --row key=value[,key=value] [--row ...] [--max-staleness DURATION] [--timeout DURATION]"
                        + " [--json]",
                    "Calls GetFeatures and prints each row's status, age (now - event_time), event_time, ingest_time and values per view.\nExits 1 with the gRPC status on error.",
                    Self.specs))
            return 0
        }
        let flags = try Flags(arguments, specs: Self.specs)
        let endpoint: Endpoint
        do {
            endpoint = try Endpoint(parsing: flags.value("server") ?? "127.0.0.1:50051")
        } catch {
            throw UsageError("--server: \(error)")
        }
        let target: FeaturesRequest.Target
        let references = flags.values("features").flatMap { $0.split(separator: ",").map(String.init) }
        switch (flags.value("service"), references.isEmpty) {
        case (let service?, true): target = .service(service)
        case (nil, false): target = .references(references)
        default: throw UsageError("give exactly one of --service and --features")
        }
        let rowTexts = flags.values("row")
        guard !rowTexts.isEmpty else { throw UsageError("give at least one --row") }
        let rows = try rowTexts.map(Self.parseRow)
        let request = FeaturesRequest(
            target: target, rows: rows, maxStaleness: try flags.duration("max-staleness", default: nil))
        let timeout = try flags.duration("timeout", default: .seconds(10)) ?? .seconds(10)

        let response: GRPCResponse
        do {
            let client = try GRPCClient(endpoint: endpoint)
            defer { client.close() }
            response = try client.unary(path: FreshetMethods.getFeatures, request: request.encoded(), timeout: timeout)
        } catch {
            throw CommandError("cannot reach \(endpoint): \(error)")
        }
        guard response.status.code == .ok, let message = response.messages.first else {
            throw CommandError("\(response.status.code): \(response.status.message)")
        }
        let decoded = try FeaturesResponse(decoding: message)
        let now = Timestamp.now()
        if flags.isSet("json") {
            print(Self.json(decoded, rows: rows, now: now))
        } else {
            print(Self.text(decoded, rows: rows, now: now), terminator: "")
        }
        return 0
    }

    /// `tailnum=N14228,origin=EWR`, `id:int64=42`, `tailnum:null`.
    static func parseRow(_ text: String) throws(UsageError) -> [(String, FeaturesRequest.Key)] {
        var keys: [(String, FeaturesRequest.Key)] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            if part.hasSuffix(":null") {
                keys.append((String(part.dropLast(5)), .null))
                continue
            }
            guard let equals = part.firstIndex(of: "=") else {
                throw UsageError("--row '\(text)': '\(part)' is not KEY=VALUE, KEY:int64=N or KEY:null")
            }
            var name = String(part[..<equals])
            let value = String(part[part.index(after: equals)...])
            if name.hasSuffix(":int64") {
                name = String(name.dropLast(6))
                guard let number = Int64(value) else { throw UsageError("--row '\(text)': '\(value)' is not an int64") }
                keys.append((name, .int64(number)))
            } else if name.hasSuffix(":string") {
                keys.append((String(name.dropLast(7)), .string(value)))
            } else {
                keys.append((name, .string(value)))
            }
            if name.isEmpty { throw UsageError("--row '\(text)': a key name is empty") }
        }
        return keys
    }

    // MARK: - Output

    /// `tailnum=N14228`, `id:int64=42`, `tailnum:null`: the --row syntax, so a printed row can be pasted back.
    static func keyText(_ name: String, _ key: FeaturesRequest.Key) -> String {
        switch key {
        case .string(let text): "\(name)=\(text)"
        case .int64(let number): "\(name):int64=\(number)"
        case .null: "\(name):null"
        case .other(let value): "\(name)=\(value)"
        }
    }

    /// A row's age (now - event_time) for people: `850ms`, `42s`, `5m 3s`, `2h 10m`, `412d 3h`; negative ages (an
    /// event time ahead of this clock) get a leading `-`.
    static func ageText(_ age: Duration) -> String {
        if age < .zero { return "-" + Self.ageText(.zero - age) }
        let (seconds, attoseconds) = age.components
        if seconds < 1 { return "\(attoseconds / 1_000_000_000_000_000)ms" }
        if seconds < 60 { return "\(seconds)s" }
        if seconds < 3600 { return "\(seconds / 60)m \(seconds % 60)s" }
        if seconds < 86_400 { return "\(seconds / 3600)h \(seconds % 3600 / 60)m" }
        return "\(seconds / 86_400)d \(seconds % 86_400 / 3600)h"
    }

    static func text(_ response: FeaturesResponse, rows: [[(String, FeaturesRequest.Key)]], now: Timestamp) -> String {
        var output = ""
        let width = response.views.map(\.name.count).max() ?? 0
        for (index, results) in response.rows.enumerated() {
            let keys = index < rows.count ? rows[index].map(keyText).joined(separator: " ") : ""
            output += "row \(index): \(keys)\n"
            for (view, result) in zip(response.views, results) {
                let name = view.name + String(repeating: " ", count: width - view.name.count)
                var line = "  \(name)  \(result.status.rawValue)"
                if let eventTime = result.eventTime {
                    line += "  age=\(Self.ageText(now - eventTime))  event_time=\(eventTime.iso8601)"
                }
                if let ingestTime = result.ingestTime { line += "  ingest_time=\(ingestTime.iso8601)" }
                output += line + "\n"
                if result.status != .notFound {
                    let values = zip(view.features, result.values).map { feature, value in
                        "\(feature)=\(value.map(displayText) ?? "(missing)")"
                    }
                    output += "    " + values.joined(separator: "  ") + "\n"
                }
            }
        }
        return output
    }

    static func json(_ response: FeaturesResponse, rows: [[(String, FeaturesRequest.Key)]], now: Timestamp) -> String {
        var writer = JSONWriter(pretty: true)
        writer.beginObject()
        writer.key("views")
        writer.beginArray()
        for view in response.views {
            writer.beginObject()
            writer.key("name")
            writer.writeString(view.name)
            writer.key("view")
            writer.writeString(view.view)
            writer.key("join_keys")
            writer.beginArray()
            view.joinKeys.forEach { writer.writeString($0) }
            writer.endArray()
            writer.key("features")
            writer.beginArray()
            view.features.forEach { writer.writeString($0) }
            writer.endArray()
            writer.endObject()
        }
        writer.endArray()
        writer.key("rows")
        writer.beginArray()
        for (index, results) in response.rows.enumerated() {
            writer.beginObject()
            writer.key("keys")
            writer.beginObject()
            for (name, key) in index < rows.count ? rows[index] : [] {
                writer.key(name)
                switch key {
                case .string(let text): writer.writeString(text)
                case .int64(let number): writer.writeInt64(number)
                case .null, .other: writer.writeNull()
                }
            }
            writer.endObject()
            writer.key("views")
            writer.beginObject()
            for (view, result) in zip(response.views, results) {
                writer.key(view.name)
                writer.beginObject()
                writer.key("status")
                writer.writeString(result.status.rawValue)
                writer.key("event_time")
                if let time = result.eventTime { writer.writeString(time.iso8601) } else { writer.writeNull() }
                writer.key("ingest_time")
                if let time = result.ingestTime { writer.writeString(time.iso8601) } else { writer.writeNull() }
                writer.key("age_seconds")
                if let time = result.eventTime {
                    let (seconds, attoseconds) = (now - time).components
                    writer.writeDouble(Double(seconds) + Double(attoseconds) / 1e18)
                } else {
                    writer.writeNull()
                }
                writer.key("values")
                writer.beginObject()
                for (feature, value) in zip(view.features, result.values) {
                    // A missing value is left out; a null value is written as null.
                    guard let value else { continue }
                    writer.key(feature)
                    writeJSON(value, to: &writer)
                }
                writer.endObject()
                writer.endObject()
            }
            writer.endObject()
            writer.endObject()
        }
        writer.endArray()
        writer.endObject()
        return writer.string
    }
}

/// A value for people: strings quoted, bytes in base64, lists in brackets.
func displayText(_ value: FeatureValue) -> String {
    switch value {
    case .null: "null"
    case .int64(let number): String(number)
    case .double(let number): String(number)
    case .float(let number): String(number)
    case .bool(let flag): String(flag)
    case .string(let text): quoted(text)
    case .bytes(let bytes): "base64:" + Base64.encode(bytes)
    case .int64List(let items): "[" + items.map(String.init).joined(separator: ", ") + "]"
    case .doubleList(let items): "[" + items.map { String($0) }.joined(separator: ", ") + "]"
    case .floatList(let items): "[" + items.map { String($0) }.joined(separator: ", ") + "]"
    case .boolList(let items): "[" + items.map { String($0) }.joined(separator: ", ") + "]"
    case .stringList(let items): "[" + items.map(quoted).joined(separator: ", ") + "]"
    case .bytesList(let items): "[" + items.map { "base64:" + Base64.encode($0) }.joined(separator: ", ") + "]"
    }
}

/// A string in double quotes with JSON escapes, so quotes, commas and newlines in values stay readable.
func quoted(_ text: String) -> String {
    var writer = JSONWriter()
    writer.writeString(text)
    return writer.string
}

/// Writes a value as JSON: numbers as numbers (a float with its shortest float text), bytes as base64 strings.
func writeJSON(_ value: FeatureValue, to writer: inout JSONWriter) {
    switch value {
    case .null: writer.writeNull()
    case .int64(let number): writer.writeInt64(number)
    case .double(let number): writer.writeDouble(number)
    case .float(let number): writeFloat(number, to: &writer)
    case .bool(let flag): writer.writeBool(flag)
    case .string(let text): writer.writeString(text)
    case .bytes(let bytes): writer.writeString(Base64.encode(bytes))
    case .int64List(let items):
        writer.beginArray()
        items.forEach { writer.writeInt64($0) }
        writer.endArray()
    case .doubleList(let items):
        writer.beginArray()
        items.forEach { writer.writeDouble($0) }
        writer.endArray()
    case .floatList(let items):
        writer.beginArray()
        items.forEach { writeFloat($0, to: &writer) }
        writer.endArray()
    case .boolList(let items):
        writer.beginArray()
        items.forEach { writer.writeBool($0) }
        writer.endArray()
    case .stringList(let items):
        writer.beginArray()
        items.forEach { writer.writeString($0) }
        writer.endArray()
    case .bytesList(let items):
        writer.beginArray()
        items.forEach { writer.writeString(Base64.encode($0)) }
        writer.endArray()
    }
}

private func writeFloat(_ number: Float, to writer: inout JSONWriter) {
    if number.isFinite,
        let literal = JSONNumber(
            text: number.description.contains(".") || number.description.contains("e")
                ? number.description : number.description + ".0")
    {
        writer.writeNumber(literal)
    } else {
        writer.writeDouble(Double(number))
    }
}
