// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Test harness: runs the real `freshet` binary (CLI commands and servers on free ports with temp data directories).

import FreshetCore
import FreshetGRPC
import FreshetPosix
import FreshetProto
import Glibc
import Testing

/// Paths of the repository and the binary under test.
enum Paths {
    /// The repository root (this file is Tests/EndToEndTests/FreshetProcess.swift).
    static let repository: String = {
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        return parts.joined(separator: "/")
    }()

    /// `FRESHET_BIN`, or the debug build.
    static var binary: String {
        if let value = getenv("FRESHET_BIN"), let path = String(validatingCString: value), !path.isEmpty {
            return path
        }
        return repository + "/.build/debug/freshet"
    }

    static let examples = repository + "/examples/nycflights"
    static let registry = examples + "/registry.json"
}

/// A fresh temporary directory, removed by ``remove()``.
struct TemporaryDirectory {
    let path: String

    init() {
        var template = Array("/tmp/freshet-test-XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(created != nil, "mkdtemp failed")
        self.path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func remove() {
        _ = run(["/bin/rm", "-rf", self.path])
    }

    func file(_ name: String) -> String { self.path + "/" + name }

    func write(_ name: String, _ text: String) -> String {
        let path = self.file(name)
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        precondition(fd >= 0, "cannot create \(path)")
        var copy = text
        copy.withUTF8 { bytes in _ = Glibc.write(fd, bytes.baseAddress, bytes.count) }
        close(fd)
        return path
    }
}

/// The result of a finished command.
struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Starts `arguments` with stdout and stderr sent to files; returns the pid.
func spawn(_ arguments: [String], stdout: String, stderr: String) -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    var pid = pid_t()
    let argv = arguments.map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    let status = posix_spawn(&pid, arguments[0], &actions, nil, argv, environ)
    precondition(status == 0, "posix_spawn \(arguments[0]) failed: \(status)")
    return pid
}

/// Waits for a process; returns its exit status (128 + signal when killed), or nil on timeout.
func waitForExit(_ pid: pid_t, timeout: Duration) -> Int32? {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        if result == pid {
            if status & 0x7f == 0 { return (status >> 8) & 0xff }
            return 128 + (status & 0x7f)
        }
        usleep(10_000)
    }
    return nil
}

func readText(_ path: String) -> String {
    guard let bytes = try? FileIO.readAll(path) else { return "" }
    return String(decoding: bytes, as: UTF8.self)
}

/// Runs a command to completion (60 s at most).
@discardableResult
func run(_ arguments: [String]) -> CommandResult {
    let directory = "/tmp/freshet-run-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
    mkdir(directory, 0o755)
    defer { _ = spawn(["/bin/rm", "-rf", directory], stdout: "/dev/null", stderr: "/dev/null") }
    let pid = spawn(arguments, stdout: directory + "/out", stderr: directory + "/err")
    let status = waitForExit(pid, timeout: .seconds(60)) ?? {
        kill(pid, SIGKILL)
        return -1
    }()
    return CommandResult(status: status, stdout: readText(directory + "/out"), stderr: readText(directory + "/err"))
}

/// Runs `freshet` with arguments.
@discardableResult
func freshet(_ arguments: String...) -> CommandResult {
    run([Paths.binary] + arguments)
}

@discardableResult
func freshet(_ arguments: [String]) -> CommandResult {
    run([Paths.binary] + arguments)
}

/// A `freshet serve` process on a free port.
final class ServerProcess {
    let pid: pid_t
    let endpoint: Endpoint
    let logPath: String
    private var exited = false

    /// Starts `freshet serve --listen 127.0.0.1:0` and waits for its `listening` line and a SERVING health check.
    init(data: String, registry: String = Paths.registry, extra: [String] = [], scratch: TemporaryDirectory) throws {
        let out = scratch.file("serve-\(UInt32.random(in: 0...UInt32.max)).out")
        self.logPath = out + ".log"
        let arguments = [Paths.binary, "serve", "--data", data, "--registry", registry, "--listen", "127.0.0.1:0", "--threads", "2"] + extra
        self.pid = spawn(arguments, stdout: out, stderr: self.logPath)
        let deadline = ContinuousClock.now + .seconds(30)
        var line: String?
        while ContinuousClock.now < deadline {
            let text = readText(out)
            if let found = text.split(separator: "\n").first(where: { $0.hasPrefix("listening ") }) {
                line = String(found)
                break
            }
            var status: Int32 = 0
            if waitpid(self.pid, &status, WNOHANG) == self.pid {
                self.exited = true
                throw HarnessError("freshet serve exited before listening:\n\(readText(self.logPath))")
            }
            usleep(20_000)
        }
        guard let line else {
            kill(self.pid, SIGKILL)
            throw HarnessError("freshet serve printed no listening line in 30 s:\n\(readText(self.logPath))")
        }
        let lines = readText(out).split(separator: "\n")
        guard lines.count == 1 else { throw HarnessError("serve printed more than one stdout line: \(lines)") }
        self.endpoint = try Endpoint(parsing: String(line.dropFirst("listening ".count)))
        let client = try GRPCClient(endpoint: self.endpoint)
        let health = try client.unary(path: "/grpc.health.v1.Health/Check", request: HealthCodec.encodeRequest(service: ""))
        guard health.status.code == .ok, HealthCodec.decodeResponse(health.messages.first ?? []) == .serving else {
            throw HarnessError("health check did not say SERVING: \(health.status)")
        }
    }

    /// Sends SIGTERM and returns the exit status (nil if it did not exit in `timeout`).
    func terminate(timeout: Duration = .seconds(15)) -> Int32? {
        guard !self.exited else { return nil }
        kill(self.pid, SIGTERM)
        let status = waitForExit(self.pid, timeout: timeout)
        if status != nil { self.exited = true }
        return status
    }

    var log: String { readText(self.logPath) }

    deinit {
        if !self.exited {
            kill(self.pid, SIGKILL)
            _ = waitForExit(self.pid, timeout: .seconds(5))
        }
    }

    /// A new client connection to this server.
    func client() throws -> GRPCClient { try GRPCClient(endpoint: self.endpoint) }

    /// Calls GetFeatures and decodes the response; fails the test on a non-OK status.
    func getFeatures(_ request: FeaturesRequest, client: GRPCClient? = nil) throws -> FeaturesResponse {
        let connection = try client ?? self.client()
        let response = try connection.unary(path: "/freshet.v1.FeatureServing/GetFeatures", request: request.encoded())
        guard response.status.code == .ok, let message = response.messages.first else {
            throw HarnessError("GetFeatures failed: \(response.status)")
        }
        return try FeaturesResponse(decoding: message)
    }
}

struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Loads a file into a view with the real CLI and checks it succeeded.
func load(data: String, view: String, csv: String? = nil, jsonl: String? = nil, extra: [String] = []) throws {
    var arguments = ["load", "--data", data, "--registry", Paths.registry, "--view", view]
    if let csv { arguments += ["--csv", csv] }
    if let jsonl { arguments += ["--jsonl", jsonl] }
    let result = freshet(arguments + extra)
    guard result.status == 0 else {
        throw HarnessError("freshet load \(view) failed (\(result.status)): \(result.stderr)")
    }
}
