// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// The real `freshet-bench` binary: bad command lines get a usage error naming the problem, and runs that measure
// nothing useful (wrong service, not a gRPC server) fail with the server's reason instead of reporting throughput.

import FreshetPosix
import Glibc
import Synchronization
import Testing

/// Runs `freshet-bench` (next to the `freshet` binary under test) with arguments.
@discardableResult
private func bench(_ arguments: [String]) -> CommandResult {
    let binary = Paths.binary
    let directory = binary.lastIndex(of: "/").map { String(binary[..<$0]) } ?? "."
    return run([directory + "/freshet-bench"] + arguments)
}

@Suite("freshet-bench end to end", .serialized)
struct BenchEndToEndTests {
    static let load = ["grpc", "--server", "127.0.0.1:1", "--service", "s", "--keys", "generated:10"]

    @Test func helpNamesThePoolLimit() {
        // Regression: the option table read the limit before main.swift had initialised it, and said "at most 0".
        let result = bench(["grpc", "--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("at most 1000000 rows in all"), "\(result.stdout)")
    }

    @Test(
        "bad command lines are refused with a message naming the flag",
        arguments: [
            (load + ["--duration", "0s"], "--duration must be longer than 0, not '0s'"),
            (load + ["--duration", "0"], "--duration must be longer than 0, not '0'"),
            (load + ["--batch", "--duration", "1s"], "--batch needs a value"),
            (load + ["--rate", "--batch", "5"], "--rate needs a value"),
            (
                load + ["--rate", "1e12"],
                "--rate must be a number of requests per second above 0 and at most 10000000, not '1e12'"
            ),
            (load + ["--rate", "abc"], "not 'abc'"),
            (load + ["--requests", "/nonexistent.jsonl"], "give one of --keys and --requests, not both"),
            (load + ["--batch", "1000", "--pool", "4096"], "prepared requests may hold at most 1000000"),
            (["grpc", "--server", "127.0.0.1:1", "--service", "", "--keys", "generated:10"], "--service is empty"),
            (
                ["grpc", "--server", "127.0.0.1:1", "--features", "garbage", "--keys", "generated:10"],
                "'garbage' is not VIEW:FEATURE"
            ),
            (
                ["request", "--service", "s", "--keys", "generated:10", "--out", "/tmp/x", "--pool", "2"],
                "unknown option --pool"
            ),
            (["request", "--service", "s", "--keys", "generated:10", "--out", ""], "--out is empty"),
            (["generate", "--keys", "10", "--out", ""], "--out is empty"),
        ])
    func usageErrors(arguments: [String], message: String) {
        let result = bench(arguments)
        #expect(result.status == 2, "\(arguments): \(result.stderr)")
        #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
        #expect(!result.stderr.contains("Fatal error") && !result.stderr.contains("Stack dump"))
    }

    @Test func requestWritesOneFramedMessageAndSaysSo() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let out = scratch.file("request.bin")
        let result = bench(["request", "--service", "s", "--keys", "generated:100", "--batch", "3", "--out", out])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("wrote \(out): one GetFeatures request of 3 rows"))
        let bytes = try FileIO.readAll(out)
        try #require(bytes.count > 5)
        #expect(bytes[0] == 0, "not compressed")
        let length = bytes[1...4].reduce(0) { $0 << 8 | Int($1) }
        #expect(length == bytes.count - 5)
        unlink(out)
    }

    @Test func generateCreatesItsOutputDirectory() throws {
        let scratch = TemporaryDirectory()
        let nested = scratch.file("a/b")
        defer {
            for name in ["registry.json", "items.csv", "redis.txt"] { unlink(nested + "/" + name) }
            rmdir(nested)
            rmdir(scratch.file("a"))
            scratch.remove()
        }
        let result = bench(["generate", "--keys", "20", "--features", "3", "--out", nested])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try FileIO.readAll(nested + "/items.csv").count > 20)
    }

    @Test func aRunWhereEveryRequestFailsExitsWithTheServersReason() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let server = try ServerProcess(data: scratch.file("data"), scratch: scratch)
        let result = bench([
            "grpc", "--server", "\(server.endpoint)", "--service", "no_such_service", "--keys", "generated:10",
            "--duration", "300ms", "--warmup", "0s", "--connections", "1", "--streams", "2",
        ])
        #expect(result.status == 1, "\(result.stdout)\n\(result.stderr)")
        #expect(result.stderr.contains("no request succeeded"), "\(result.stderr)")
        #expect(result.stderr.contains("no_such_service"), "the server's message is shown: \(result.stderr)")
        #expect(result.stdout.contains("throughput: 0 req/s, 0 rows/s"), "\(result.stdout)")
    }

    @Test func aPeerThatIsNotAGRPCServerFailsTheRun() throws {
        // A listener that answers every connection with junk and hangs up, like a misdirected port.
        let listener = try Socket.listen(on: Endpoint(host: "127.0.0.1", port: 0), sharing: .exclusive)
        let endpoint = try listener.localEndpoint()
        let done = Atomic(false)
        let peer = try OSThread(name: "junk-peer") {
            while !done.load(ordering: .relaxed) {
                guard (try? listener.waitReadable(timeout: .milliseconds(50))) == true,
                    case .processed(let socket)? = try? listener.accept()
                else { continue }
                _ = Array("HTTP/1.1 400 Bad Request\r\n\r\n".utf8).withUnsafeBytes { try? socket.write($0) }
                socket.close()
            }
        }
        defer {
            done.store(true, ordering: .relaxed)
            peer.join()
            listener.close()
        }
        let result = bench([
            "grpc", "--server", "\(endpoint)", "--service", "s", "--keys", "generated:10", "--duration", "1s",
            "--warmup", "0s", "--connections", "2", "--streams", "2",
        ])
        #expect(result.status == 1, "\(result.stdout)\n\(result.stderr)")
        #expect(result.stderr.contains("every connection broke") || result.stderr.contains("no request succeeded"))
        #expect(!result.stdout.contains("Fatal error"))
    }
}
