// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// `freshet serve`: flags to ServeOptions, then the server.

import FreshetCore
import FreshetGRPC
import FreshetPosix
import FreshetReplication
import FreshetServer

/// Reads and checks a registry file: its bytes (as stored and sent) and the registry. Reads at most the registry
/// size limit, so an endless or huge file is refused without filling memory.
func readRegistryFile(_ path: String) throws -> (json: [UInt8], registry: Registry) {
    let bytes: [UInt8]
    do {
        bytes = try FileIO.readAll(path, maxBytes: Registry.maxJSONBytes)
    } catch {
        throw CommandError("cannot read the registry: \(error)")
    }
    guard bytes.count <= Registry.maxJSONBytes else {
        throw CommandError(
            "registry \(path): the file is larger than \(Registry.maxJSONBytes) bytes (2 MiB), the limit of a registry")
    }
    return (bytes, try Registry.parse(json: bytes, source: path))
}

/// Reads and checks a registry file.
func loadRegistry(_ path: String) throws -> Registry {
    try readRegistryFile(path).registry
}

enum ServeCommand {
    static let specs: [FlagSpec] = [
        FlagSpec(
            name: "data", kind: .value(placeholder: "DIR"),
            help: "data directory (an LMDB environment; created if missing)"),
        FlagSpec(
            name: "registry", kind: .value(placeholder: "FILE"),
            help:
                "registry JSON: entities, feature views, feature services; applied as the next version when it differs from the stored one (default: the registry the data directory holds)"
        ),
        FlagSpec(
            name: "serve", kind: .value(placeholder: "SERVICE[,SERVICE...]"),
            help:
                "the feature services this region serves (default: all); it stores only the views they read, and skips updates of others"
        ),
        FlagSpec(
            name: "bootstrap", kind: .value(placeholder: "FILE"),
            help:
                "start a new region from a snapshot (freshet snapshot): its rows, registry and replication positions; the data directory must hold no store"
        ),
        FlagSpec(
            name: "listen", kind: .value(placeholder: "HOST:PORT"),
            help: "address to serve gRPC on (default 127.0.0.1:50051; port 0 = any free port)"),
        FlagSpec(name: "threads", kind: .value(placeholder: "N"), help: "event loop threads (default: one per CPU)"),
        FlagSpec(
            name: "max-rows", kind: .value(placeholder: "N"),
            help: "most entity rows per GetFeatures request (default 10000)"),
        FlagSpec(
            name: "max-message-bytes", kind: .value(placeholder: "SIZE"),
            help: "largest request or response message (default 4MiB)"),
        FlagSpec(
            name: "max-concurrent-streams", kind: .value(placeholder: "N"),
            help: "HTTP/2 streams per connection (default 100)"),
        FlagSpec(
            name: "map-size", kind: .value(placeholder: "SIZE"),
            help: "LMDB map size, the most the store may grow to (default 4GiB)"),
        FlagSpec(
            name: "sync", kind: .value(placeholder: "MODE"),
            help:
                "full (default): a replication ack waits for fsync; none: no fsync, UNSAFE (a crash can lose acked updates; tests and benchmarks only)"
        ),
        FlagSpec(
            name: "replication-priority", kind: .value(placeholder: "MODE"),
            help:
                "idle (default): replication uses only CPU the lookups leave; low: nice 10; normal: as the lookups"),
        FlagSpec(
            name: "drain-timeout", kind: .value(placeholder: "DURATION"),
            help: "how long SIGTERM waits for open calls (default 10s)"),
        FlagSpec(
            name: "log-level", kind: .value(placeholder: "LEVEL"),
            help: "debug, info, warning or error (default info); logs are JSON lines on stderr"),
    ]

    static func run(_ arguments: [String]) throws -> Int32 {
        if arguments.contains("--help") {
            Console.out(
                usage(
                    "freshet serve --data DIR [--registry FILE] [--bootstrap FILE] [--listen HOST:PORT] [options]",
                    "Serves freshet.v1.FeatureServing/GetFeatures, freshet.v1.Replication (Replicate, GetPosition),\nfreshet.v1.Admin (ApplyRegistry, GetRegistry, FinishBackfill, CreateSnapshot, ReadSnapshot, DeleteSnapshot) and grpc.health.v1.Health/Check over gRPC (HTTP/2 cleartext). Prints 'listening HOST:PORT' once it accepts connections. SIGTERM drains and exits 0.",
                    Self.specs))
            return 0
        }
        let flags = try Flags(arguments, specs: Self.specs)
        let data = try flags.required("data")
        let registryPath = flags.value("registry")
        let endpoint: Endpoint
        do {
            endpoint = try Endpoint(parsing: flags.value("listen") ?? "127.0.0.1:50051")
        } catch {
            throw UsageError("--listen: \(error)")
        }
        var logLevel = Logger.Level.info
        if let text = flags.value("log-level") {
            guard let level = Logger.Level(name: text) else {
                throw UsageError("--log-level must be debug, info, warning or error, not '\(text)'")
            }
            logLevel = level
        }
        var grpc = GRPCServerConfiguration(
            endpoint: endpoint, threads: try flags.integer("threads", default: OSThread.availableCPUs, range: 1...256))
        grpc.maxMessageBytes = try flags.byteSize("max-message-bytes", default: 4 << 20)
        guard (1024...(1 << 30)).contains(grpc.maxMessageBytes) else {
            throw UsageError("--max-message-bytes must be from 1KiB to 1GiB")
        }
        grpc.http2.maxConcurrentStreams = UInt32(
            try flags.integer("max-concurrent-streams", default: 100, range: 1...10_000))
        grpc.drainTimeout = try flags.duration("drain-timeout", default: .seconds(10)) ?? .seconds(10)

        var registry: Registry?
        var registryJSON: [UInt8]?
        if let registryPath {
            (registryJSON, registry) = try readRegistryFile(registryPath)
        }
        var options = ServeOptions(dataDirectory: data, registry: registry, grpc: grpc)
        options.registryJSON = registryJSON
        options.bootstrap = flags.value("bootstrap")
        options.limits.maxRows = try flags.integer("max-rows", default: 10_000, range: 1...1_000_000)
        if let text = flags.value("serve") {
            let names = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard !names.contains(where: \.isEmpty) else { throw UsageError("--serve: a service name is empty") }
            if let repeated = names.enumerated().first(where: { names[..<$0.offset].contains($0.element) }) {
                throw UsageError("--serve: service '\(repeated.element)' is named twice")
            }
            for name in names where registry != nil && registry?.service(named: name) == nil {
                throw UsageError(
                    "--serve: the registry has no feature service '\(name)' (it has: \(registry?.services.map(\.name).joined(separator: ", ") ?? ""))"
                )
            }
            options.serve = names
        }
        options.store.mapSize = try flags.byteSize("map-size", default: 4 << 30)
        switch flags.value("sync") ?? "full" {
        case "full": options.store.durable = true
        case "none": options.store.durable = false
        case let other: throw UsageError("--sync must be full or none, not '\(other)'")
        }
        if let text = flags.value("replication-priority") {
            guard let priority = ReplicationWriter.Priority(rawValue: text) else {
                throw UsageError("--replication-priority must be idle, low or normal, not '\(text)'")
            }
            options.replication.priority = priority
        }
        let logger = Logger(level: logLevel)
        logger.info(
            "starting", ["version": freshetVersion, "registry": registryPath ?? "(stored)", "data": data])
        return try FreshetServer.serve(options, logger: logger)
    }
}
