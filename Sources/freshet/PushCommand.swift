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
                    "fill a view a region subscribed to late (see freshet registry show): feeds only the servers whose view needs it, as source backfill/VIEW@ID/RUN (the view's backfill id there, and this run), then marks it done; --source is not used. A CSV needs --event-time or --event-time-column, so that the backfill cannot overwrite newer values"
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
            throw UsageError("--backfill names its own source (backfill/VIEW@ID/RUN); leave --source out")
        }
        let source = backfill ? "" : try flags.required("source")
        if !backfill, let problem = UpdateValidator.sourceProblem(source) {
            throw UsageError("--source \(problem)")
        }
        if source.hasPrefix("backfill/") {
            throw UsageError("--source: names starting with backfill/ are kept for freshet push --backfill")
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

        if backfill && flags.isSet("csv") && !flags.isSet("event-time") && !flags.isSet("event-time-column") {
            throw UsageError(
                "--backfill with --csv needs --event-time ISO8601 or --event-time-column NAME: without them every row would carry the push time, and the backfill would overwrite newer live values"
            )
        }
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
        var backfillIDs: [UInt64] = []
        var unreachable = 0
        if backfill {
            let found = Self.pendingBackfills(view: view.name, servers: servers)
            unreachable = found.unreachable
            servers = found.pending.map(\.server)
            // One source per run: two backfills of one view at the same time must not take each other's updates
            // for duplicates.
            let run = String(UInt64.random(in: 1...UInt64.max), radix: 36)
            sources = found.pending.map { "backfill/\(view.name)@\($0.backfillID)/\(run)" }
            backfillIDs = found.pending.map(\.backfillID)
            if servers.isEmpty {
                if unreachable > 0 {
                    Console.error("push: \(unreachable) server(s) could not be asked; nothing was sent\n")
                    return 1
                }
                Console.out("push: no server needs a backfill of view \(view.name)\n")
                return 0
            }
        }
        let sourceNames =
            Set(sources).count == 1 ? "'\(sources[0])'" : sources.map { "'\($0)'" }.joined(separator: ", ")
        Console.out(
            "push: \(updates.count) updates of view \(view.name) from \(path), source \(sourceNames), to \(servers.count) server(s)\n"
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
                            view: view.name, backfillID: backfillIDs[index], source: sources[index], server: endpoint)
                        Console.out("push: \(endpoint): backfill of view \(view.name) finished\n")
                    } catch {
                        failed += 1
                        Console.error(
                            "push: \(endpoint): FAILED: the backfill's updates are applied, but its mark is not cleared: \(error)\n"
                        )
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
        if failed > 0 || unreachable > 0 {
            Console.error(
                "push: \(failed + unreachable) of \(servers.count + unreachable) server(s) did not \(backfill ? "finish the backfill" : "ack every update")\n"
            )
            return 1
        }
        return 0
    }

    /// The servers whose `view` waits for a backfill, with the mark's id there; the others are reported and left
    /// out, and servers that cannot be asked are reported and counted.
    static func pendingBackfills(
        view: String, servers: [Endpoint]
    ) -> (pending: [(server: Endpoint, backfillID: UInt64)], unreachable: Int) {
        var pending: [(Endpoint, UInt64)] = []
        var unreachable = 0
        for server in servers {
            let state: RegistryStateMessage
            do {
                state = try RegistryCommand.state(of: try connect(server, "nothing was sent to it"), server)
            } catch {
                Console.error("push: \(server): FAILED: \(error)\n")
                unreachable += 1
                continue
            }
            guard let stored = state.storedViews.first(where: { $0.name == view }) else {
                Console.out("push: \(server): skipped: it does not store view \(view)\n")
                continue
            }
            guard stored.backfillID != 0 else {
                Console.out("push: \(server): skipped: view \(view) needs no backfill there\n")
                continue
            }
            pending.append((server, stored.backfillID))
        }
        return (pending, unreachable)
    }

    /// Clears a server's backfill mark once every update of the backfill is acked.
    static func finishBackfill(view: String, backfillID: UInt64, source: String, server: Endpoint) throws {
        var request: [UInt8] = []
        AdminCodec.appendFinishBackfillRequest(
            FinishBackfillRequestMessage(view: view, backfillID: backfillID, source: source), to: &request)
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
