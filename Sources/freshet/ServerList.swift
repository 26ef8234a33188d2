// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// `--server HOST:PORT[,HOST:PORT...]`, shared by the commands that reach many regions.

import FreshetCore
import FreshetGRPC
import FreshetPosix

/// The servers of a `--server` flag, each once.
func serverList(_ flags: Flags) throws -> [Endpoint] {
    let servers = try flags.required("server").split(separator: ",", omittingEmptySubsequences: false).map {
        text in
        do {
            return try Endpoint(parsing: String(text))
        } catch {
            throw UsageError("--server: '\(text)': \(error)")
        }
    }
    var seen: Set<String> = []
    for server in servers where !seen.insert(server.description).inserted {
        throw UsageError("--server lists \(server) twice")
    }
    return servers
}

/// A client connection to `server`; a failure names the server and what it means for the command (`consequence`,
/// such as "nothing was applied").
func connect(_ server: Endpoint, _ consequence: String) throws -> GRPCClient {
    do {
        return try GRPCClient(endpoint: server)
    } catch {
        throw CommandError("\(server): cannot connect (\(error)); \(consequence)")
    }
}
