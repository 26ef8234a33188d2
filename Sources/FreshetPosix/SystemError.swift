// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// The error of a failed system call, and the one funnel every system call goes through.

internal import CFreshetLinux
internal import Glibc

/// A system call failed: the call's name and its `errno`.
public struct SystemError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The `errno` value.
    public var errno: Int32
    /// The name of the call that failed, with context (`"bind 127.0.0.1:50051"`).
    public var call: String

    /// Creates an error from an `errno` value.
    public init(errno: Int32, call: String) {
        self.errno = errno
        self.call = call
    }

    /// `"bind 127.0.0.1:50051: Address already in use (errno 98)"`.
    public var description: String {
        let text = strerror(self.errno).map { String(cString: $0) } ?? "unknown error"
        return "\(self.call): \(text) (errno \(self.errno))"
    }
}

/// The outcome of a non-blocking operation.
public enum IOResult<Value> {
    /// The operation completed with this value.
    case processed(Value)
    /// The operation would block (EAGAIN/EWOULDBLOCK); wait for readiness and try again.
    case wouldBlock
}

extension IOResult: Sendable where Value: Sendable {}

/// The one funnel for system calls.
///
/// Retries on EINTR, reports EAGAIN/EWOULDBLOCK as ``IOResult/wouldBlock``, traps on EBADF and EFAULT (those are
/// programmer errors: a closed or wild descriptor), and throws ``SystemError`` for anything else.
/// The functions are `@inline(never)` so that no ARC traffic or other call between the system call and the read of
/// `errno` can clobber it.
package enum Syscall {
    /// Runs a call that returns -1 and sets `errno` on failure.
    @inline(never)
    package static func run(
        _ call: @autoclosure () -> String, blocking: Bool = true, _ body: () -> Int
    ) throws(SystemError) -> IOResult<Int> {
        while true {
            let result = body()
            if result >= 0 {
                return .processed(result)
            }
            let code = CFreshetLinux_errno()
            switch code {
            case EINTR:
                continue
            case EAGAIN where !blocking:  // EWOULDBLOCK == EAGAIN on Linux
                return .wouldBlock
            case EBADF, EFAULT:
                preconditionFailure("\(call()): \(SystemError(errno: code, call: "programmer error"))")
            default:
                throw SystemError(errno: code, call: call())
            }
        }
    }

    /// Runs a blocking call that must complete; EAGAIN is an error here.
    @inline(never)
    @discardableResult
    package static func must(_ call: @autoclosure () -> String, _ body: () -> Int) throws(SystemError) -> Int {
        switch try Syscall.run(call(), blocking: true, body) {
        case .processed(let value): return value
        case .wouldBlock: throw SystemError(errno: EAGAIN, call: call())
        }
    }
}
