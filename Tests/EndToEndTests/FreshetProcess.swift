// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Test harness: runs the real `freshet` binary (CLI commands and servers on free ports with temp data directories).

import FreshetCore
import FreshetGRPC
import FreshetPosix
import FreshetProto
import Glibc
import Synchronization
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

/// A child process, reaped by a thread of its own the moment it exits.
///
/// Reaping at once matters here: swift-testing's exit-test monitor waits on every child of the test process
/// (`waitid(P_ALL, …, WNOWAIT)`) and spins while any of them is an unreaped zombie.
final class ChildProcess: Sendable {
    let pid: pid_t
    private final class ExitStatus: Sendable {
        let value = Mutex<Int32?>(nil)
    }

    private let exitStatus = ExitStatus()
    private let reaper: OSThread

    /// Starts `arguments` with stdin from /dev/null and stdout and stderr sent to files.
    init(_ arguments: [String], stdout: String, stderr: String) {
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
        self.pid = pid
        let exitStatus = self.exitStatus
        let child = pid
        self.reaper = try! OSThread(name: "reap-\(pid)") {
            let pid = child
            var raw: Int32 = 0
            while waitpid(pid, &raw, 0) == -1 && errno == EINTR {}
            // Exit code, or 128 + signal for a process killed by a signal.
            exitStatus.value.withLock { $0 = raw & 0x7f == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f) }
        }
    }

    /// The exit status once the process has exited.
    var status: Int32? { self.exitStatus.value.withLock { $0 } }

    /// Waits for the process to exit; returns its status, or nil on timeout.
    func wait(timeout: Duration) -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let status = self.status {
                self.reaper.join()
                return status
            }
            usleep(5_000)
        }
        return nil
    }

    func signal(_ number: Int32) {
        if self.status == nil { kill(self.pid, number) }
    }
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
    defer {
        unlink(directory + "/out")
        unlink(directory + "/err")
        rmdir(directory)
    }
    let child = ChildProcess(arguments, stdout: directory + "/out", stderr: directory + "/err")
    let status =
        child.wait(timeout: .seconds(60))
        ?? {
            child.signal(SIGKILL)
            return child.wait(timeout: .seconds(5)) ?? -1
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
    let process: ChildProcess
    let endpoint: Endpoint
    let logPath: String

    /// Starts `freshet serve --listen 127.0.0.1:0` and waits for its `listening` line and a SERVING health check.
    /// - Parameter registry: `nil`: no `--registry` (the data directory's registry).
    init(data: String, registry: String? = Paths.registry, extra: [String] = [], scratch: TemporaryDirectory) throws {
        let out = scratch.file("serve-\(UInt32.random(in: 0...UInt32.max)).out")
        self.logPath = out + ".log"
        let arguments =
            [Paths.binary, "serve", "--data", data] + (registry.map { ["--registry", $0] } ?? [])
            + ["--listen", "127.0.0.1:0", "--threads", "2"] + extra
        self.process = ChildProcess(arguments, stdout: out, stderr: self.logPath)
        let deadline = ContinuousClock.now + .seconds(30)
        var line: String?
        while ContinuousClock.now < deadline {
            let text = readText(out)
            if let found = text.split(separator: "\n").first(where: { $0.hasPrefix("listening ") }) {
                line = String(found)
                break
            }
            if let status = self.process.status {
                throw HarnessError("freshet serve exited (\(status)) before listening:\n\(readText(self.logPath))")
            }
            usleep(20_000)
        }
        guard let line else {
            self.process.signal(SIGKILL)
            throw HarnessError("freshet serve printed no listening line in 30 s:\n\(readText(self.logPath))")
        }
        let lines = readText(out).split(separator: "\n")
        guard lines.count == 1 else { throw HarnessError("serve printed more than one stdout line: \(lines)") }
        self.endpoint = try Endpoint(parsing: String(line.dropFirst("listening ".count)))
        let client = try GRPCClient(endpoint: self.endpoint)
        let health = try client.unary(
            path: "/grpc.health.v1.Health/Check", request: HealthCodec.encodeRequest(service: ""))
        guard health.status.code == .ok, HealthCodec.decodeResponse(health.messages.first ?? []) == .serving else {
            throw HarnessError("health check did not say SERVING: \(health.status)")
        }
    }

    /// Sends SIGTERM and returns the exit status (nil if it did not exit in `timeout`).
    func terminate(timeout: Duration = .seconds(15)) -> Int32? {
        if let status = self.process.status { return status }
        self.process.signal(SIGTERM)
        return self.process.wait(timeout: timeout)
    }

    var log: String { readText(self.logPath) }

    deinit {
        if self.process.status == nil {
            self.process.signal(SIGKILL)
            _ = self.process.wait(timeout: .seconds(5))
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
