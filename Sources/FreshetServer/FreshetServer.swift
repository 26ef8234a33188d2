// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// `freshet serve`: opens the store, builds the routes of every event loop, serves until SIGTERM, drains, exits.

public import FreshetCore
public import FreshetGRPC
internal import FreshetPosix
internal import FreshetProto
public import FreshetReplication
import Synchronization

/// Everything `freshet serve` needs.
public struct ServeOptions: Sendable {
    public var dataDirectory: String
    /// The registry to apply at start (`nil`: the one the data directory holds).
    public var registry: Registry?
    public var grpc: GRPCServerConfiguration
    public var limits = LookupLimits()
    /// The feature services this region serves (`nil`: all of the registry's); it stores only the views they read.
    public var serve: [String]?
    /// The registry file's bytes, applied to the store as its next version when it differs (see ``FeatureStore``).
    public var registryJSON: [UInt8]?
    public var store = StoreOptions()
    /// The replication pipeline's limits and thread priority.
    public var replication = ReplicationWriter.Options()
    /// A snapshot (`freshet snapshot`) to start this new region from; the data directory must hold no store.
    public var bootstrap: String?

    public init(dataDirectory: String, registry: Registry?, grpc: GRPCServerConfiguration) {
        self.dataDirectory = dataDirectory
        self.registry = registry
        self.grpc = grpc
    }
}

/// The fully qualified gRPC paths Freshet serves.
public enum FreshetMethods {
    public static let getFeatures = "/freshet.v1.FeatureServing/GetFeatures"
    public static let healthCheck = "/grpc.health.v1.Health/Check"
    public static let replicate = "/freshet.v1.Replication/Replicate"
    public static let getPosition = "/freshet.v1.Replication/GetPosition"
    public static let applyRegistry = "/freshet.v1.Admin/ApplyRegistry"
    public static let getRegistry = "/freshet.v1.Admin/GetRegistry"
    public static let finishBackfill = "/freshet.v1.Admin/FinishBackfill"
    public static let createSnapshot = "/freshet.v1.Admin/CreateSnapshot"
    public static let readSnapshot = "/freshet.v1.Admin/ReadSnapshot"
    public static let deleteSnapshot = "/freshet.v1.Admin/DeleteSnapshot"
}

/// The health state shared by every loop: SERVING once the store is open, NOT_SERVING while draining.
final class HealthState: Sendable {
    private let serving = Atomic<Bool>(false)
    static let knownServices: Set<String> = [
        "", "freshet.v1.FeatureServing", "freshet.v1.Replication", "freshet.v1.Admin", "grpc.health.v1.Health",
    ]

    func set(serving: Bool) {
        self.serving.store(serving, ordering: .releasing)
    }

    /// The `grpc.health.v1.Health/Check` handler.
    func check(
        _ bytes: UnsafeRawBufferPointer, _ context: ServerCallContext, _ response: inout [UInt8]
    ) throws(GRPCStatus) {
        guard let service = HealthCodec.decodeRequest(bytes) else {
            throw GRPCStatus(.invalidArgument, "the request is not a valid grpc.health.v1.HealthCheckRequest")
        }
        guard Self.knownServices.contains(service) else {
            throw GRPCStatus(.notFound, "unknown service '\(service)'")
        }
        HealthCodec.appendResponse(self.serving.load(ordering: .acquiring) ? .serving : .notServing, to: &response)
    }
}

/// The Freshet server process.
public enum FreshetServer {
    /// An upper bound of the size of a `GetRegistry` answer for `catalog`: its JSON, and per view its name and
    /// counters (the largest varints).
    public static func registryStateBytes(_ catalog: RegionCatalog) -> Int {
        let perView = catalog.registry.views.reduce(0) { $0 + $1.name.utf8.count + 40 }
        let perService = catalog.servedServices.reduce(0) { $0 + $1.utf8.count + 4 }
        return catalog.registryJSON.count + perView + perService + 32
    }

    /// Runs `freshet serve` until SIGTERM or SIGINT, and returns the process exit code.
    ///
    /// Prints exactly one line to standard output, `listening HOST:PORT`, once every loop accepts connections.
    /// The first SIGTERM/SIGINT drains: health turns NOT_SERVING, listeners close, each connection gets GOAWAY and
    /// its open calls finish (up to the drain timeout); the second closes everything at once.
    /// - Throws: when the store cannot be opened, a plan cannot be built or the address cannot be bound.
    public static func serve(_ options: ServeOptions, logger: Logger) throws -> Int32 {
        // Before any thread starts, so that every thread inherits the blocked mask and signals arrive here.
        let signals = try TerminationSignals.block()
        let openFiles = ProcessLimits.raiseOpenFileLimit()
        let source: RegistrySource =
            if let registry = options.registry, let json = options.registryJSON {
                .apply(registry, json: json)
            } else {
                .stored
            }
        // The address, then one server per data directory, then the store: a start that cannot serve stops before
        // it applies its registry or subscription (which can free views).
        let listeners = try GRPCListeners.bind(options.grpc)
        let store: FeatureStore
        let directoryLock: FileLock
        do {
            try FileIO.makeDirectories(options.dataDirectory)
            let lockPath = options.dataDirectory + "/serve.lock"
            guard let lock = try FileLock(path: lockPath) else {
                throw StoreError(
                    "\(options.dataDirectory) is in use by another freshet serve (it holds \(lockPath)); stop it first, or give this server its own --data"
                )
            }
            directoryLock = lock
            FeatureStore.removeBootstrapLeftovers(directory: options.dataDirectory)
            if let snapshot = options.bootstrap {
                try FeatureStore.bootstrap(directory: options.dataDirectory, from: snapshot)
                do {
                    store = try FeatureStore(
                        directory: options.dataDirectory, registry: source, serve: options.serve,
                        options: options.store)
                } catch {
                    FeatureStore.undoBootstrap(directory: options.dataDirectory)
                    throw StoreError(
                        "--bootstrap: \(snapshot) cannot start a region (the data directory is left empty): \(error)")
                }
                logger.info("bootstrapped", ["snapshot": snapshot, "data": options.dataDirectory])
            } else {
                store = try FeatureStore(
                    directory: options.dataDirectory, registry: source, serve: options.serve, options: options.store)
            }
        } catch {
            listeners.close()
            throw error
        }
        let start = store.catalog
        if let opening = store.openingResult {
            if opening.changed && opening.version > 1 {
                logger.warning(
                    "the --registry file replaced the stored registry; a region whose registry is changed with freshet registry apply should start without --registry, or it returns to its file's registry",
                    ["version": String(opening.version)])
            }
            if !opening.subscribedViews.isEmpty || !opening.unsubscribedViews.isEmpty {
                logger.info(
                    "subscription changed",
                    [
                        "subscribed": opening.subscribedViews.joined(separator: ","),
                        "unsubscribed_and_freed": opening.unsubscribedViews.joined(separator: ","),
                    ])
            }
        }
        if Self.registryStateBytes(start) > options.grpc.maxMessageBytes {
            logger.warning(
                "the registry does not fit in a response of --max-message-bytes: GetRegistry, freshet registry show and apply, and push --backfill will fail against this server; raise --max-message-bytes",
                [
                    "registry_bytes": String(start.registryJSON.count),
                    "max_message_bytes": String(options.grpc.maxMessageBytes),
                ])
        }
        if !start.pendingBackfill.isEmpty {
            logger.warning(
                "views need a backfill: they were subscribed after this region had applied updates it skipped for them; run freshet push --backfill",
                [
                    "views": start.storedViews.filter { start.pendingBackfill[$0] != nil }.joined(separator: ",")
                ])
        }
        let writer = try ReplicationWriter(
            environment: store.environment, meta: store.meta, currentValidator: { store.catalog.validator },
            options: options.replication, logger: logger)
        let replication = ReplicationService(writer: writer, logger: logger)
        let admin = AdminService(store: store, writer: writer, logger: logger)
        let snapshots = try SnapshotService(
            store: store, dataDirectory: options.dataDirectory, maxMessageBytes: options.grpc.maxMessageBytes,
            logger: logger)
        let health = HealthState()
        let limits = options.limits
        let server = GRPCServer(configuration: options.grpc, listeners: listeners, logger: logger) { _ in
            let router = Router()
            let lookups = try FeatureLookupService(store: store, limits: limits, logger: logger)
            router.addUnary(FreshetMethods.getFeatures, lookups.getFeatures)
            router.addUnary(FreshetMethods.healthCheck, health.check)
            router.addStreaming(FreshetMethods.replicate, replication.replicate)
            router.addUnary(FreshetMethods.getPosition, replication.getPosition)
            router.addStreaming(FreshetMethods.applyRegistry, admin.applyRegistry)
            router.addUnary(FreshetMethods.getRegistry, admin.getRegistry)
            router.addStreaming(FreshetMethods.finishBackfill, admin.finishBackfill)
            router.addStreaming(FreshetMethods.createSnapshot, snapshots.createSnapshot)
            router.addStreaming(FreshetMethods.readSnapshot, snapshots.readSnapshot)
            router.addUnary(FreshetMethods.deleteSnapshot, snapshots.deleteSnapshot)
            return router
        }
        do {
            try server.start()
        } catch {
            writer.stop()
            throw error
        }
        health.set(serving: true)
        let counts = (try? store.rowCounts()) ?? []
        logger.info(
            "serving",
            [
                "endpoint": server.endpoint.description, "data": options.dataDirectory,
                "threads": String(options.grpc.threads),
                "views": counts.map { "\($0.view)=\($0.rows)" }.joined(separator: ","),
                "services": store.servedServices.joined(separator: ","),
                "registry_version": String(store.registryVersion),
                "max_rows": String(options.limits.maxRows), "max_message_bytes": String(options.grpc.maxMessageBytes),
                "sync": options.store.durable ? "full" : "none",
                "replication_priority": options.replication.priority.rawValue,
                "open_files_limit": String(openFiles),
            ])
        Console.out("listening \(server.endpoint)\n")

        var signalsSeen = 0
        var readersChecked = ContinuousClock.now
        while !server.hasStopped {
            // A process that died in a read transaction (a killed freshet snapshot --data, stats, load) keeps
            // its reader slot, and writers cannot reuse pages meanwhile: the file grows. Clear such slots often.
            if ContinuousClock.now - readersChecked > .seconds(10) {
                readersChecked = ContinuousClock.now
                if let cleared = try? store.environment.clearStaleReaders(), cleared > 0 {
                    logger.info("cleared stale LMDB readers of dead processes", ["readers": String(cleared)])
                }
            }
            guard let signal = TerminationSignals.wait(signals, timeout: .milliseconds(200)) else { continue }
            signalsSeen += 1
            if signalsSeen == 1 {
                logger.info(
                    "draining",
                    ["signal": String(signal), "drain_timeout": options.grpc.drainTimeout.freshetDescription])
                health.set(serving: false)
                server.shutdown(graceful: true)
            } else {
                logger.warning("second signal; closing connections now", ["signal": String(signal)])
                server.shutdown(graceful: false)
            }
        }
        server.wait()
        // Commits what was handed over before the loops stopped (its acks can no longer be sent; producers resume
        // from GetPosition).
        writer.stop()
        snapshots.removeAll()
        logger.info("stopped")
        withExtendedLifetime(directoryLock) {}
        return 0
    }
}
