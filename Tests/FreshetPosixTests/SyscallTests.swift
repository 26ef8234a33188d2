// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Tests for the system-call funnel (EINTR retry, EAGAIN, thrown errors, programmer-error traps) and SystemError.

import Glibc
import Testing

@testable import FreshetPosix

@Suite("Syscall funnel")
struct SyscallTests {
    /// What a fake call does: fail with `errno` on the first attempts, then succeed.
    enum Outcome: Equatable {
        case processed(Int)
        case wouldBlock
        case thrown(SystemError)
    }

    static func outcome(blocking: Bool, _ body: () -> Int) -> Outcome {
        do {
            switch try Syscall.run("fake call", blocking: blocking, body) {
            case .processed(let value): return .processed(value)
            case .wouldBlock: return .wouldBlock
            }
        } catch {
            return .thrown(error)
        }
    }

    static let failures: [(errno: Int32, blocking: Bool, expected: Outcome)] = [
        (EAGAIN, false, .wouldBlock),
        (EAGAIN, true, .thrown(SystemError(errno: EAGAIN, call: "fake call"))),
        (ENOENT, false, .thrown(SystemError(errno: ENOENT, call: "fake call"))),
        (ENOENT, true, .thrown(SystemError(errno: ENOENT, call: "fake call"))),
        (ECONNRESET, false, .thrown(SystemError(errno: ECONNRESET, call: "fake call"))),
        (EPIPE, false, .thrown(SystemError(errno: EPIPE, call: "fake call"))),
        (EMFILE, true, .thrown(SystemError(errno: EMFILE, call: "fake call"))),
    ]

    @Test("maps a failing call's errno", arguments: SyscallTests.failures)
    func mapsErrno(code: Int32, blocking: Bool, expected: Outcome) {
        let outcome = Self.outcome(blocking: blocking) {
            errno = code
            return -1
        }
        #expect(outcome == expected)
    }

    @Test("returns the result of a successful call", arguments: [0, 1, 4096])
    func returnsResult(value: Int) {
        #expect(Self.outcome(blocking: false) { value } == .processed(value))
    }

    @Test("retries on EINTR until the call completes", arguments: [true, false])
    func retriesOnEINTR(blocking: Bool) {
        var attempts = 0
        let outcome = Self.outcome(blocking: blocking) {
            attempts += 1
            if attempts < 4 {
                errno = EINTR
                return -1
            }
            return 7
        }
        #expect(outcome == .processed(7))
        #expect(attempts == 4)
    }

    @Test("an EINTR retry that then fails throws the later errno")
    func retryThenFailure() {
        var attempts = 0
        let outcome = Self.outcome(blocking: true) {
            attempts += 1
            errno = attempts == 1 ? EINTR : ENOSPC
            return -1
        }
        #expect(outcome == .thrown(SystemError(errno: ENOSPC, call: "fake call")))
        #expect(attempts == 2)
    }

    @Test("builds the call name only when the call fails")
    func callNameIsLazy() throws {
        var built = 0
        func name() -> String {
            built += 1
            return "named call"
        }
        _ = try Syscall.run(name()) { 3 }
        _ = try Syscall.must(name()) { 3 }
        #expect(built == 0)
        #expect(throws: SystemError(errno: ENOENT, call: "named call")) {
            try Syscall.must(name()) {
                errno = ENOENT
                return -1
            }
        }
        #expect(built == 1)
    }

    @Test("must treats EAGAIN as an error")
    func mustRejectsEAGAIN() {
        #expect(throws: SystemError(errno: EAGAIN, call: "must call")) {
            try Syscall.must("must call") {
                errno = EAGAIN
                return -1
            }
        }
    }

    @Test("a real failing call throws its errno and name")
    func realFailure() {
        let path = "/nonexistent/freshet/\(getpid())"
        #expect(throws: SystemError(errno: ENOENT, call: "open \(path)")) {
            try Syscall.must("open \(path)") { Int(open(path, O_RDONLY)) }
        }
    }

    @Test("a read that would block on an empty non-blocking pipe reports wouldBlock")
    func realWouldBlock() throws {
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        defer {
            close(fds[0])
            close(fds[1])
        }
        try #require(fcntl(fds[0], F_SETFL, O_NONBLOCK) == 0)
        var byte: UInt8 = 0
        let result = try Syscall.run("read pipe", blocking: false) { read(fds[0], &byte, 1) }
        #expect(result.isWouldBlock)
    }

    @Test("EBADF traps: a closed or wild descriptor is a programmer error")
    func badDescriptorTraps() async {
        await #expect(processExitsWith: .failure) {
            _ = try? Syscall.run("close -1") { Int(close(-1)) }
        }
    }

    @Test("EFAULT traps: a wild pointer is a programmer error")
    func badAddressTraps() async {
        await #expect(processExitsWith: .failure) {
            var fds: [Int32] = [0, 0]
            guard pipe(&fds) == 0 else { return }
            var byte: UInt8 = 1
            _ = write(fds[1], &byte, 1)
            _ = try? Syscall.run("read into a wild pointer") {
                read(fds[0], UnsafeMutableRawPointer(bitPattern: 16), 1)
            }
        }
    }
}

@Suite("SystemError")
struct SystemErrorTests {
    static let descriptions: [(SystemError, String)] = [
        (
            SystemError(errno: 98, call: "bind 127.0.0.1:50051"),
            "bind 127.0.0.1:50051: Address already in use (errno 98)"
        ),
        (SystemError(errno: 2, call: "open x.csv"), "open x.csv: No such file or directory (errno 2)"),
        (SystemError(errno: 111, call: "connect [::1]:1"), "connect [::1]:1: Connection refused (errno 111)"),
        (SystemError(errno: 21, call: "read /tmp"), "read /tmp: Is a directory (errno 21)"),
        (SystemError(errno: 9999, call: "x"), "x: Unknown error 9999 (errno 9999)"),
    ]

    @Test("describes the call, strerror's text and the errno", arguments: SystemErrorTests.descriptions)
    func description(error: SystemError, expected: String) {
        #expect(error.description == expected)
    }

    @Test("equality covers both the errno and the call")
    func equality() {
        #expect(SystemError(errno: 2, call: "open a") == SystemError(errno: 2, call: "open a"))
        #expect(SystemError(errno: 2, call: "open a") != SystemError(errno: 2, call: "open b"))
        #expect(SystemError(errno: 2, call: "open a") != SystemError(errno: 13, call: "open a"))
    }
}
