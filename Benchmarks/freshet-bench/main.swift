// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// `freshet-bench`: load tests for Freshet (gRPC) and Redis, open or closed loop, and synthetic data sets.

import FreshetBench
import FreshetCore
import FreshetPosix
import FreshetProto

#if canImport(Glibc)
    import Glibc
#endif

/// Which rows to ask for (shared by the load commands and `request`).
let keySpecs: [FlagSpec] = [
    FlagSpec(
        name: "keys", kind: .value(placeholder: "generated:N"), help: "ask for the N keys of 'generate' (item-0000000…)"
    ),
    FlagSpec(
        name: "requests", kind: .value(placeholder: "FILE"), help: "ask for the entity rows of a requests JSONL file"),
    FlagSpec(name: "key-name", kind: .value(placeholder: "NAME"), help: "join key name of generated keys (default id)"),
    FlagSpec(name: "key-prefix", kind: .value(placeholder: "TEXT"), help: "prefix of generated keys (default item-)"),
    FlagSpec(
        name: "distribution", kind: .value(placeholder: "uniform|zipf:S"), help: "key popularity (default uniform)"),
    FlagSpec(name: "batch", kind: .value(placeholder: "N"), help: "rows per request (default 100)"),
    FlagSpec(name: "seed", kind: .value(placeholder: "N"), help: "random seed (default 1)"),
]

let targetSpecs: [FlagSpec] = [
    FlagSpec(name: "service", kind: .value(placeholder: "NAME"), help: "feature service to ask for"),
    FlagSpec(
        name: "features", kind: .value(placeholder: "VIEW:FEATURE[,...]"), help: "feature refs instead of --service"),
]

// Top-level code in main.swift runs in order: the option table below reads this, so it comes first.
/// The most rows all prepared requests may hold together (4096 requests of 100 rows take about 40 MB).
let maxPoolRows = 1_000_000

let runSpecs: [FlagSpec] =
    [FlagSpec(name: "server", kind: .value(placeholder: "HOST:PORT"), help: "the server to load")] + keySpecs + [
        FlagSpec(name: "connections", kind: .value(placeholder: "N"), help: "connections (default 4)"),
        FlagSpec(
            name: "streams", kind: .value(placeholder: "N"), help: "concurrent requests per connection (default 8)"),
        FlagSpec(
            name: "rate", kind: .value(placeholder: "REQ/S"), help: "open loop at this rate (default: closed loop)"),
        FlagSpec(name: "duration", kind: .value(placeholder: "DURATION"), help: "measured time (default 10s)"),
        FlagSpec(name: "warmup", kind: .value(placeholder: "DURATION"), help: "unmeasured time first (default 2s)"),
        FlagSpec(
            name: "pool", kind: .value(placeholder: "N"),
            help: "distinct prepared requests, sent in turn (default 4096, at most \(maxPoolRows) rows in all)"),
        FlagSpec(name: "json", kind: .toggle, help: "print one JSON object"),
    ]

let grpcSpecs: [FlagSpec] = runSpecs + targetSpecs

let requestSpecs: [FlagSpec] =
    targetSpecs + keySpecs + [
        FlagSpec(name: "out", kind: .value(placeholder: "FILE"), help: "where to write the framed request")
    ]

/// The highest open-loop rate: far above what one client core can send, low enough that the schedule stays exact.
let maxRate = 10_000_000.0

let generateSpecs: [FlagSpec] = [
    FlagSpec(name: "keys", kind: .value(placeholder: "N"), help: "number of keys (default 1000000)"),
    FlagSpec(name: "features", kind: .value(placeholder: "N"), help: "features per key, mixed types (default 10)"),
    FlagSpec(
        name: "out", kind: .value(placeholder: "DIR"), help: "directory to write registry.json, items.csv, redis.txt"),
    FlagSpec(name: "seed", kind: .value(placeholder: "N"), help: "random seed (default 1)"),
]

/// Which rows each prepared request asks for.
func keyBatches(_ flags: Flags, pool defaultPool: Int = 4096) throws -> (source: KeySource, batches: [[Int]]) {
    let source: KeySource
    if flags.isSet("requests") && flags.isSet("keys") {
        throw UsageError("give one of --keys and --requests, not both")
    }
    if let requests = flags.value("requests") {
        source = try KeySource.requests(try FileIO.readAll(requests), file: requests)
    } else if let keys = flags.value("keys") {
        guard keys.hasPrefix("generated:"), let count = Int(keys.dropFirst(10)), count > 0 else {
            throw UsageError("--keys must be generated:N, not '\(keys)'")
        }
        source = .generated(
            count: count, keyName: flags.value("key-name") ?? StoreGenerator.keyName,
            prefix: flags.value("key-prefix") ?? StoreGenerator.keyPrefix)
    } else {
        throw UsageError("give --keys generated:N or --requests FILE")
    }
    let distribution = try KeyDistribution(parsing: flags.value("distribution") ?? "uniform")
    let batch = try flags.integer("batch", default: 100, range: 1...100_000)
    let pool = try flags.integer("pool", default: max(1, min(defaultPool, maxPoolRows / batch)), range: 1...1_000_000)
    guard pool * batch <= maxPoolRows else {
        throw UsageError(
            "--pool \(pool) × --batch \(batch) is \(pool * batch) rows; prepared requests may hold at most "
                + "\(maxPoolRows) (lower --pool)")
    }
    var random = SplitMix64(seed: UInt64(try flags.integer("seed", default: 1, range: 0...Int.max)))
    let sampler = IndexSampler(count: source.count, distribution: distribution)
    let batches = (0..<pool).map { _ in (0..<batch).map { _ in sampler.next(&random) } }
    return (source, batches)
}

func loadOptions(_ flags: Flags) throws -> LoadOptions {
    var options = LoadOptions()
    options.connections = try flags.integer("connections", default: 4, range: 1...10_000)
    options.streams = try flags.integer("streams", default: 8, range: 1...10_000)
    options.duration = try flags.duration("duration", default: .seconds(10)) ?? .seconds(10)
    options.warmup = try flags.duration("warmup", default: .seconds(2)) ?? .seconds(2)
    guard options.duration > .zero else {
        throw UsageError("--duration must be longer than 0, not '\(flags.value("duration") ?? "")'")
    }
    guard options.warmup >= .zero else {
        throw UsageError("--warmup must not be negative, not '\(flags.value("warmup") ?? "")'")
    }
    if let text = flags.value("rate") {
        guard let rate = Double(text), rate > 0, rate <= maxRate else {
            throw UsageError(
                "--rate must be a number of requests per second above 0 and at most 10000000, not '\(text)'")
        }
        options.mode = .open(rate: rate)
    }
    return options
}

func grpcPayloads(_ flags: Flags, endpoint: String, pool: Int = 4096) throws -> GRPCPayloads {
    let target: FeaturesRequest.Target
    switch (flags.value("service"), flags.value("features")) {
    case (let service?, nil): target = .service(service)
    case (nil, let refs?): target = .references(refs.split(separator: ",").map(String.init))
    default: throw UsageError("give exactly one of --service and --features")
    }
    if case .service("") = target { throw UsageError("--service is empty") }
    if case .references(let refs) = target {
        for ref in refs
        where ref.split(separator: ":", omittingEmptySubsequences: false).count != 2
            || ref.hasPrefix(":") || ref.hasSuffix(":")
        {
            throw UsageError("--features: '\(ref)' is not VIEW:FEATURE")
        }
    }
    let (source, batches) = try keyBatches(flags, pool: pool)
    let messages = batches.map { batch in
        (FeaturesRequest(target: target, rows: batch.map(source.row)).encoded(), batch.count)
    }
    return GRPCPayloads(path: "/freshet.v1.FeatureServing/GetFeatures", authority: endpoint, messages: messages)
}

func run(_ arguments: [String]) throws -> Int32 {
    guard let command = arguments.first else {
        throw UsageError("usage: freshet-bench (grpc | redis | request | generate) [options]; see --help")
    }
    let rest = Array(arguments.dropFirst())
    switch command {
    case "grpc", "redis":
        let specs = command == "grpc" ? grpcSpecs.filter { $0.name != "out" } : runSpecs
        if rest.contains("--help") {
            Console.out(
                usage(
                    "freshet-bench \(command) --server HOST:PORT (--keys generated:N | --requests FILE) [options]",
                    command == "grpc"
                        ? "Loads a Freshet server with GetFeatures calls (or any FeatureServing server)."
                        : "Loads a Redis server with GET (batch 1) or MGET (batch > 1) of the same keys, pipelined.",
                    specs))
            return 0
        }
        let flags = try Flags(rest, specs: specs)
        let server = try flags.required("server")
        let endpoint: Endpoint
        do {
            endpoint = try Endpoint(parsing: server)
        } catch {
            throw UsageError("--server: \(error)")
        }
        let options = try loadOptions(flags)
        let result: LoadResult
        let target: String
        if command == "grpc" {
            let payloads = try grpcPayloads(flags, endpoint: server)
            target = "grpc \(server)"
            result = try Benchmark.grpc(endpoint: endpoint, payloads: payloads, options: options)
        } else {
            let (source, batches) = try keyBatches(flags)
            let keys = batches.map { batch in
                batch.map { index -> String in
                    guard case .string(let key) = source.row(index).first?.1 else { return "" }
                    return key
                }
            }
            target = "redis \(server)"
            result = try Benchmark.redis(
                endpoint: endpoint, payloads: RedisPayloads(keyBatches: keys), options: options)
        }
        print(flags.isSet("json") ? result.json(target: target) : result.text(target: target), terminator: "")
        if flags.isSet("json") { print() }
        return verdict(result)
    case "request":
        if rest.contains("--help") {
            Console.out(
                usage(
                    "freshet-bench request (--service S | --features REFS) (--keys generated:N | --requests FILE) --out FILE",
                    "Writes one framed GetFeatures request (5-byte prefix + message), for h2load -d.",
                    requestSpecs))
            return 0
        }
        let flags = try Flags(rest, specs: requestSpecs)
        let out = try flags.required("out")
        guard !out.isEmpty else { throw UsageError("--out is empty") }
        let payloads = try grpcPayloads(flags, endpoint: "bench", pool: 1)
        let body = payloads.body(0)
        try FileIO.writeAll(out, body)
        print(
            "wrote \(out): one GetFeatures request of \(try flags.integer("batch", default: 100, range: 1...100_000)) rows, \(body.count) bytes"
        )
        return 0
    case "generate":
        if rest.contains("--help") {
            Console.out(
                usage(
                    "freshet-bench generate --out DIR [--keys N] [--features N] [--seed N]",
                    "Writes a synthetic data set: registry.json, items.csv (for freshet load) and redis.txt\n(for redis-cli --pipe).",
                    generateSpecs))
            return 0
        }
        let flags = try Flags(rest, specs: generateSpecs)
        let keys = try flags.integer("keys", default: 1_000_000, range: 1...100_000_000)
        let features = try flags.integer("features", default: 10, range: 1...1000)
        let seed = UInt64(try flags.integer("seed", default: 1, range: 0...Int.max))
        let directory = try flags.required("out")
        guard !directory.isEmpty else { throw UsageError("--out is empty") }
        try FileIO.makeDirectories(directory)
        let paths = try StoreGenerator.write(keys: keys, features: features, directory: directory, seed: seed)
        print("wrote " + paths.joined(separator: ", "))
        return 0
    case "--help", "help", "-h":
        Console.out(
            """
            usage: freshet-bench <command> [options]

            commands:
              grpc      load a Freshet (FeatureServing) server: closed loop, or open loop with --rate
              redis     load a Redis server with GET/MGET of the same keys
              request   write one framed GetFeatures request for h2load
              generate  write a synthetic data set (N keys × F features)

            Run 'freshet-bench <command> --help' for a command's options.

            """)
        return 0
    default:
        throw UsageError("unknown command '\(command)'")
    }
}

/// The exit status of a finished run: 1, with the reason on stderr, when it measured nothing useful (it ended early,
/// or no request succeeded); 0 otherwise, with a warning when some requests failed.
func verdict(_ result: LoadResult) -> Int32 {
    let failures = result.errors.sorted { $0.value > $1.value }.map { name, count in
        "\(name) × \(count)" + (result.errorDetails[name].map { ": \($0)" } ?? "")
    }
    if let reason = result.endedEarly {
        Console.error("freshet-bench: the run ended early: \(reason)\n")
        return 1
    }
    if result.succeeded == 0 {
        Console.error(
            "freshet-bench: no request succeeded (\(result.requests) sent)"
                + (failures.isEmpty ? "" : "; " + failures.joined(separator: "; ")) + "\n")
        return 1
    }
    if !failures.isEmpty {
        Console.error(
            "freshet-bench: warning: \(result.errorCount) of \(result.requests) requests failed; "
                + failures.joined(separator: "; ") + "\n")
    }
    return 0
}

do {
    exit(try run(Array(CommandLine.arguments.dropFirst())))
} catch let error as UsageError {
    Console.error("freshet-bench: \(error.message)\n")
    exit(2)
} catch {
    Console.error("freshet-bench: \(error)\n")
    exit(1)
}
