// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// `freshet push`: a CSV or JSONL file as one source's update stream, into one or many servers.

import FreshetCore
import FreshetGRPC
import FreshetPosix
import FreshetProto
import FreshetReplication
import Synchronization

enum PushCommand {
    static let specs: [FlagSpec] =
        [
            FlagSpec(
                name: "server", kind: .value(placeholder: "HOST:PORT[,HOST:PORT...]"),
                help: "the servers (regions) to feed, each once; each is fed on its own"),
            FlagSpec(
                name: "source", kind: .value(placeholder: "NAME"),
                help: "the producer's source name; positions are kept per source"),
            FlagSpec(
                name: "backfill", kind: .toggle,
                help:
                    "fill a view a region subscribed to late (see freshet registry show): feeds only the servers whose view needs it, as source backfill/VIEW@vN, then marks it done; --source is not used"
            ),
        ] + RowFileFlags.specs + [
            FlagSpec(
                name: "batch-rows", kind: .value(placeholder: "N"),
                help: "updates per batch, 1 to 100000 (default 500)"),
            FlagSpec(
                name: "max-batch-bytes", kind: .value(placeholder: "SIZE"),
                help:
                    "bytes per batch at most, 1KiB to 64MiB (default 1MiB; keep it under the server's --max-message-bytes)"
            ),
            FlagSpec(
                name: "window", kind: .value(placeholder: "N"),
                help: "batches in flight (unacked) per server, 1 to 1024 (default 8)"),
            FlagSpec(
                name: "give-up-after", kind: .value(placeholder: "DURATION"),
                help: "stop feeding a server whose position has not risen for this long (default 2m)"),
        ]

    static func run(_ arguments: [String]) throws -> Int32 {
        if arguments.contains("--help") {
            Console.out(
                usage(
                    "freshet push --server HOST:PORT[,...] (--source NAME | --backfill) --registry FILE --view VIEW (--jsonl FILE | --csv FILE) [options]",
                    """
                    Streams the file's rows as updates of one source to every server (freshet.v1.Replication). Update i
                    of the file (1-based, blank lines not counted) has sequence i, so a rerun sends only what a server
                    lacks: each server is asked for its position first, and resumes after it. Servers are fed
                    independently; one that drops is reconnected with backoff. Prints progress per server; exits 0
                    only when every server has acked every update.
                    """,
                    Self.specs))
            return 0
        }
        let flags = try Flags(arguments, specs: Self.specs)
        var servers = try serverList(flags)
        let backfill = flags.isSet("backfill")
        if backfill && flags.isSet("source") {
            throw UsageError("--backfill names its own source (backfill/VIEW@vN); leave --source out")
        }
        let source = backfill ? "" : try flags.required("source")
        if !backfill, let problem = UpdateValidator.sourceProblem(source) {
            throw UsageError("--source \(problem)")
        }
        var options = FeedOptions(source: source)
        options.batchRows = try flags.integer("batch-rows", default: 500, range: 1...100_000)
        options.window = try flags.integer("window", default: 8, range: 1...1024)
        options.maxBatchBytes = try flags.byteSize("max-batch-bytes", default: 1 << 20)
        guard (1024...(64 << 20)).contains(options.maxBatchBytes) else {
            throw UsageError("--max-batch-bytes must be from 1KiB to 64MiB")
        }
        options.giveUpAfter = try flags.duration("give-up-after", default: .seconds(120)) ?? .seconds(120)
        guard options.giveUpAfter > .zero else { throw UsageError("--give-up-after must be more than 0") }

        let file = try RowFileFlags(flags)
        let (path, view, entity) = (file.path, file.view, file.entity)
        // Every line is parsed and checked before anything is sent: a bad line sends nothing.
        let rows: [ParsedRow]
        if file.isCSV {
            rows = try RowFile.readCSV(file.bytes, file: path, view: view, entity: entity, eventTime: file.eventTime)
        } else {
            rows = try RowFile.readJSONL(file.bytes, file: path, view: view, entity: entity, eventTime: file.eventTime)
        }
        let updates = EncodedUpdates(
            rows.lazy.map { row in Self.update(row, view: view, entity: entity) })
        // A backfill feeds each server that needs it under the source of its subscription.
        var sources = [String](repeating: source, count: servers.count)
        var backfillVersions: [UInt64] = []
        if backfill {
            let pending = try Self.pendingBackfills(view: view.name, servers: servers)
            servers = pending.map(\.server)
            sources = pending.map { "backfill/\(view.name)@v\($0.subscribedVersion)" }
            backfillVersions = pending.map(\.subscribedVersion)
            if servers.isEmpty {
                Console.out("push: no server needs a backfill of view \(view.name)\n")
                return 0
            }
        }
        Console.out(
            "push: \(updates.count) updates of view \(view.name) from \(path), source '\(backfill ? "backfill/\(view.name)@vN" : source)', to \(servers.count) server(s)\n"
        )

        let results = Mutex<[Int: FeedResult]>([:])
        var threads: [OSThread] = []
        for (index, endpoint) in servers.enumerated() {
            var serverOptions = options
            serverOptions.source = sources[index]
            let feeder = ServerFeeder(
                endpoint: endpoint, updates: updates, options: serverOptions,
                report: { Console.out("push: \($0)\n") })
            threads.append(
                try OSThread(name: "push-\(index)") { [feeder] in
                    let result = feeder.run()
                    results.withLock { $0[index] = result }
                })
        }
        threads.forEach { $0.join() }
        var failed = 0
        for (index, endpoint) in servers.enumerated() {
            switch results.withLock({ $0[index] }) {
            case .done(let position, let took, let reconnects):
                let again = reconnects == 0 ? "" : ", \(reconnects) reconnect\(reconnects == 1 ? "" : "s")"
                Console.out(
                    "push: \(endpoint): done: position \(position.appliedSequence) of \(updates.count) (source totals: written \(position.written), superseded \(position.superseded), duplicates skipped \(position.duplicates)\(position.unsubscribed > 0 ? ", not stored there \(position.unsubscribed)" : "")) in \(took.formatted)\(again)\n"
                )
                if backfill {
                    do {
                        try Self.finishBackfill(
                            view: view.name, subscribedVersion: backfillVersions[index], server: endpoint)
                        Console.out("push: \(endpoint): backfill of view \(view.name) finished\n")
                    } catch {
                        failed += 1
                        Console.error("push: \(endpoint): FAILED: \(error)\n")
                    }
                }
            case .failed(let reason):
                failed += 1
                Console.error("push: \(endpoint): FAILED: \(reason)\n")
            case nil:
                failed += 1
                Console.error("push: \(endpoint): FAILED: the feeder did not report\n")
            }
        }
        if failed > 0 {
            Console.error("push: \(failed) of \(servers.count) server(s) did not ack every update\n")
            return 1
        }
        return 0
    }

    /// The servers whose `view` waits for a backfill, with the registry version that subscribed it; the others are
    /// reported and left out.
    static func pendingBackfills(
        view: String, servers: [Endpoint]
    ) throws -> [(server: Endpoint, subscribedVersion: UInt64)] {
        var pending: [(Endpoint, UInt64)] = []
        for server in servers {
            let state = try RegistryCommand.state(of: try connect(server, "nothing was sent"), server)
            guard let stored = state.storedViews.first(where: { $0.name == view }) else {
                Console.out("push: \(server): skipped: it does not store view \(view)\n")
                continue
            }
            guard stored.backfillFromVersion != 0 else {
                Console.out("push: \(server): skipped: view \(view) needs no backfill there\n")
                continue
            }
            pending.append((server, stored.backfillFromVersion))
        }
        return pending
    }

    /// Clears a server's backfill mark once every update of the backfill is acked.
    static func finishBackfill(view: String, subscribedVersion: UInt64, server: Endpoint) throws {
        var request: [UInt8] = []
        AdminCodec.appendFinishBackfillRequest(
            FinishBackfillRequestMessage(view: view, subscribedVersion: subscribedVersion), to: &request)
        let client = try GRPCClient(endpoint: server)
        let response = try client.unary(
            path: "/freshet.v1.Admin/FinishBackfill", request: request, timeout: .seconds(30))
        guard response.status.code == .ok else {
            throw CommandError("FinishBackfill: \(response.status.code): \(response.status.message)")
        }
    }

    /// A parsed row as an update message (join keys and features by name).
    static func update(_ row: ParsedRow, view: FeatureView, entity: Entity) -> UpdateMessage {
        let key = zip(entity.joinKeys, row.key).map { joinKey, value -> NamedValue in
            switch value {
            case .string(let text): NamedValue(joinKey.name, .string(text))
            case .int64(let number): NamedValue(joinKey.name, .int64(number))
            }
        }
        if row.isDelete {
            return UpdateMessage(view: view.name, key: key, eventTime: row.eventTime, change: .delete)
        }
        let values = zip(view.features, row.values).map { NamedValue($0.name, $1) }
        return UpdateMessage(view: view.name, key: key, eventTime: row.eventTime, change: .upsert(values))
    }
}
