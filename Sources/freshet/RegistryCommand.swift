// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// `freshet registry apply|show`: the registry as versioned data in every region (freshet.v1.Admin).

import FreshetCore
import FreshetGRPC
import FreshetPosix
import FreshetProto

enum RegistryCommand {
    static let applySpecs: [FlagSpec] = [
        FlagSpec(
            name: "server", kind: .value(placeholder: "HOST:PORT[,HOST:PORT...]"),
            help: "the servers (regions) to change; every one must be reachable"),
        FlagSpec(
            name: "version", kind: .value(placeholder: "N"),
            help:
                "the version to apply as (default: the highest version of the servers + 1, or that version when the file is its registry)"
        ),
    ]
    static let showSpecs: [FlagSpec] = [
        FlagSpec(name: "server", kind: .value(placeholder: "HOST:PORT"), help: "the server (region) to ask"),
        FlagSpec(
            name: "json", kind: .toggle, help: "print only the registry's JSON, as applied (to edit and apply again)"),
    ]

    static let summary = """
        The registry (entities, feature views, feature services) is versioned data in each region's store.
          apply FILE   checks the file, then every server's change (a dry run), and only when all of them accept it
                       applies it everywhere as one version, live (no restart): the highest version of the servers
                       + 1, or that version where a server is behind and the file is its registry.
          show         prints a server's registry version, views and services, and its subscription: the services it
                       serves and the views it stores, with their entries and any backfill they need.
        """

    static func run(_ arguments: [String]) throws -> Int32 {
        guard let action = arguments.first, action != "--help" else {
            Console.out(
                "usage: freshet registry apply FILE --server HOST:PORT[,...] [--version N]\n"
                    + "       freshet registry show --server HOST:PORT [--json]\n\n" + Self.summary + "\n"
                    + "Run 'freshet registry apply --help' or 'freshet registry show --help' for options.\n")
            return arguments.isEmpty ? 2 : 0
        }
        let rest = Array(arguments.dropFirst())
        switch action {
        case "apply": return try Self.apply(rest)
        case "show": return try Self.show(rest)
        default: throw UsageError("unknown registry action '\(action)' (apply or show)")
        }
    }

    // MARK: - apply

    private static func apply(_ arguments: [String]) throws -> Int32 {
        if arguments.contains("--help") {
            Console.out(
                usage(
                    "freshet registry apply FILE --server HOST:PORT[,...] [--version N]", Self.summary,
                    Self.applySpecs))
            return 0
        }
        guard let path = arguments.first, !path.hasPrefix("--") else {
            throw UsageError("give the registry file first: freshet registry apply FILE --server HOST:PORT")
        }
        let flags = try Flags(Array(arguments.dropFirst()), specs: Self.applySpecs)
        // A fixed order (by address): two overlapping runs meet at the same first server, and the one that finds it
        // moved on stops there, before it changes any other.
        let servers = try serverList(flags).sorted { $0.description < $1.description }
        let (json, registry) = try readRegistryFile(path)
        let forced = try flags.value("version").map { _ in
            UInt64(try flags.integer("version", default: 1, range: 1...Int(Int64.max)))
        }

        // Every region's version first: the change takes one version number everywhere.
        var clients: [GRPCClient] = []
        var states: [RegistryStateMessage] = []
        for server in servers {
            let client = try connect(server, "nothing was applied")
            clients.append(client)
            states.append(try Self.state(of: client, server))
        }
        let highest = states.map(\.version).max() ?? 0
        let highestRegistries = states.filter { $0.version == highest }.map { state in
            try? Registry.parse(json: state.registryJSON, source: "")
        }
        let same = highest > 0 && highestRegistries.allSatisfy { $0 == registry }
        if forced == nil && !same && highest >= UInt64(Int64.max) {
            throw CommandError("registry version \(highest) is the largest there is; no new version can follow it")
        }
        let version = forced ?? (same ? highest : highest + 1)

        // A dry run everywhere, so that a change one region refuses reaches none. Each call carries the version the
        // server had when it was read: a registry apply that runs at the same time makes one of the two conflict,
        // instead of both landing under one version number.
        var refused = 0
        for (index, (server, client)) in zip(servers, clients).enumerated() {
            let response = try Self.applyCall(
                client, server, json: json, version: version, expected: states[index].version, dryRun: true)
            if let status = response.failure {
                refused += 1
                Console.error("registry: \(server): REFUSED: \(status.message)\n")
            }
        }
        if refused > 0 {
            Console.error(
                "registry: \(refused) of \(servers.count) server(s) refused version \(version) of \(path); nothing was applied\n"
            )
            return 1
        }
        for (index, (server, client)) in zip(servers, clients).enumerated() {
            let response = try Self.applyCall(
                client, server, json: json, version: version, expected: states[index].version, dryRun: false)
            guard let state = response.state else {
                // Stop: going on could give the servers after this one a registry that another run gives this one
                // under the same version.
                Console.error("registry: \(server): FAILED: \(response.failure?.message ?? "")\n")
                let rest = servers.dropFirst(index + 1).map(\.description)
                Console.error(
                    "registry: stopped at \(server): \(index) of \(servers.count) server(s) applied version \(version)"
                        + (rest.isEmpty ? "" : "; not tried: \(rest.joined(separator: ", "))")
                        + ". Read the registry again (freshet registry show) and rerun the apply\n")
                return 1
            }
            var parts = [state.changed ? "applied version \(state.version)" : "version \(state.version) already"]
            if !state.subscribedViews.isEmpty {
                parts.append("now stores \(Self.names(state.subscribedViews))")
            }
            if !state.unsubscribedViews.isEmpty {
                parts.append("freed \(Self.names(state.unsubscribedViews))")
            }
            for view in state.storedViews where view.backfillID != 0 {
                parts.append(
                    "view \(view.name) needs a backfill (freshet push --backfill --view \(view.name) --server \(server) ...)"
                )
            }
            Console.out("registry: \(server): \(parts.joined(separator: "; "))\n")
        }
        return 0
    }

    /// View names for a line of output: the first 20, then how many more.
    static func names(_ views: [String]) -> String {
        let shown = views.prefix(20).joined(separator: ", ")
        return views.count > 20 ? shown + " and \(views.count - 20) more" : shown
    }

    private static func applyCall(
        _ client: GRPCClient, _ server: Endpoint, json: [UInt8], version: UInt64, expected: UInt64, dryRun: Bool
    ) throws -> (state: RegistryStateMessage?, failure: GRPCStatus?) {
        var request: [UInt8] = []
        AdminCodec.appendApplyRequest(
            ApplyRegistryRequestMessage(
                registryJSON: json, version: version, dryRun: dryRun, expectedVersion: expected),
            to: &request)
        let response: GRPCResponse
        do {
            response = try client.unary(
                path: "/freshet.v1.Admin/ApplyRegistry", request: request, timeout: .seconds(60))
        } catch {
            throw CommandError("\(server): ApplyRegistry failed (\(error))")
        }
        guard response.status.code == .ok else { return (nil, response.status) }
        guard let message = response.messages.first,
            let state = message.withUnsafeBytes({ AdminCodec.decodeState($0) })
        else {
            throw CommandError(
                "\(server): ApplyRegistry answered with a message that is not a freshet.v1.RegistryState")
        }
        return (state, nil)
    }

    /// A server's `GetRegistry` answer.
    static func state(of client: GRPCClient, _ server: Endpoint) throws -> RegistryStateMessage {
        let response: GRPCResponse
        do {
            response = try client.unary(path: "/freshet.v1.Admin/GetRegistry", request: [], timeout: .seconds(10))
        } catch {
            throw CommandError("\(server): GetRegistry failed (\(error))")
        }
        guard response.status.code == .ok else {
            throw CommandError("\(server): GetRegistry failed: \(response.status.code): \(response.status.message)")
        }
        guard let message = response.messages.first,
            let state = message.withUnsafeBytes({ AdminCodec.decodeState($0) })
        else {
            throw CommandError("\(server): GetRegistry answered with a message that is not a freshet.v1.RegistryState")
        }
        return state
    }

    // MARK: - show

    private static func show(_ arguments: [String]) throws -> Int32 {
        if arguments.contains("--help") {
            Console.out(usage("freshet registry show --server HOST:PORT [--json]", Self.summary, Self.showSpecs))
            return 0
        }
        let flags = try Flags(arguments, specs: Self.showSpecs)
        let servers = try serverList(flags)
        guard servers.count == 1 else { throw UsageError("--server: show asks one server") }
        let state = try Self.state(of: try connect(servers[0], "nothing to show"), servers[0])
        if flags.isSet("json") {
            Console.out(String(decoding: state.registryJSON, as: UTF8.self))
            if state.registryJSON.last != UInt8(ascii: "\n") { Console.out("\n") }
            return 0
        }
        let registry = try Registry.parse(json: state.registryJSON, source: "the registry of \(servers[0])")
        var lines = ["server \(servers[0]): registry version \(state.version)"]
        lines.append("entities:")
        for entity in registry.entities {
            lines.append(
                "  \(entity.name) (\(entity.joinKeys.map { "\($0.name) \($0.type)" }.joined(separator: ", ")))")
        }
        lines.append("views:")
        for view in registry.views {
            let age = view.maxAge.map { ", max_age \($0.freshetDescription)" } ?? ""
            lines.append(
                "  \(view.name) (entity \(view.entity)\(age)): \(view.features.map { "\($0.name) \($0.type)" }.joined(separator: ", "))"
            )
        }
        lines.append("services:")
        for service in registry.services {
            let parts = service.projections.map { projection in
                let name = projection.alias.map { "\($0)=" } ?? ""
                let keys = projection.joinKeys.sorted { $0.key < $1.key }.map { "\($0.key)->\($0.value)" }
                let by = keys.isEmpty ? "" : " (\(keys.joined(separator: ",")))"
                return "\(name)\(projection.view)[\(projection.features.joined(separator: ","))]\(by)"
            }
            lines.append("  \(service.name): \(parts.joined(separator: " "))")
        }
        lines.append(
            "subscription: serves \(state.servedServices.isEmpty ? "no service" : state.servedServices.joined(separator: ", "))"
                + (state.servesAll ? " (all; no --serve)" : ""))
        for view in state.storedViews {
            var line = "  stores \(view.name): \(view.entries) entries"
            if view.backfillID != 0 {
                line +=
                    "; needs backfill (subscribed at version \(view.backfillFromVersion); backfill id \(view.backfillID))"
            }
            lines.append(line)
        }
        Console.out(lines.joined(separator: "\n") + "\n")
        return 0
    }
}
