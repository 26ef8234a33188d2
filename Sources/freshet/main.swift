// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// The `freshet` command: dispatches to serve, load, get, push, registry, stats, snapshot and version.

import FreshetCore
import FreshetPosix

#if canImport(Glibc)
    import Glibc
#endif

/// The version reported by `freshet version` and in logs.
let freshetVersion = "0.1.0"

/// The subcommands, in help order.
let commands: [(name: String, summary: String, run: @Sendable ([String]) throws -> Int32)] = [
    ("serve", "serve GetFeatures over gRPC from a data directory", ServeCommand.run),
    ("load", "bulk-load a CSV or JSONL file into a feature view", LoadCommand.run),
    ("get", "look up features on a running server", GetCommand.run),
    ("push", "stream a file's updates into one or many servers (replication)", PushCommand.run),
    ("registry", "apply a registry to every region as one version, or show a region's", RegistryCommand.run),
    ("stats", "show the views and row counts of a data directory", StatsCommand.run),
    ("snapshot", "write a consistent, compacted copy of a data directory (to bootstrap a region)", SnapshotCommand.run),
    (
        "version", "print the version",
        { arguments in
            if arguments.contains("--help") {
                Console.out("usage: freshet version\n\nPrints the version of this freshet binary.\n")
                return 0
            }
            guard arguments.isEmpty else { throw UsageError("unexpected argument '\(arguments[0])'") }
            print("freshet \(freshetVersion)")
            return 0
        }
    ),
]

@MainActor
func topLevelUsage() -> String {
    var lines = ["usage: freshet <command> [options]", "", "commands:"]
    for command in commands {
        lines.append(
            "  " + command.name + String(repeating: " ", count: max(1, 10 - command.name.count)) + command.summary)
    }
    lines.append("")
    lines.append("Run 'freshet <command> --help' for a command's options.")
    return lines.joined(separator: "\n") + "\n"
}

@MainActor
func main() -> Int32 {
    TerminationSignals.ignoreBrokenPipe()
    let arguments = Array(CommandLine.arguments.dropFirst())
    guard let name = arguments.first else {
        Console.error(topLevelUsage())
        return 2
    }
    if name == "--help" || name == "-h" || name == "help" {
        Console.out(topLevelUsage())
        return 0
    }
    if name == "--version" {
        print("freshet \(freshetVersion)")
        return 0
    }
    guard let command = commands.first(where: { $0.name == name }) else {
        Console.error("freshet: unknown command '\(name)'\n\n" + topLevelUsage())
        return 2
    }
    do {
        return try command.run(Array(arguments.dropFirst()))
    } catch let error as UsageError {
        Console.error("freshet \(name): \(error.message)\nRun 'freshet \(name) --help' for usage.\n")
        return 2
    } catch {
        Console.error("freshet \(name): \(error)\n")
        return 1
    }
}

exit(main())
