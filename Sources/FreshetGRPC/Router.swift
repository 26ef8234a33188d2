// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Maps a request's `:path` to the handler that serves it, and the per-call context a handler sees.

public import FreshetCore
internal import Glibc

/// What a handler knows about its call.
public struct ServerCallContext {
    /// When the call must be answered by, from `grpc-timeout`; `nil` when the client set no timeout.
    public var deadline: ContinuousClock.Instant?
    /// Custom metadata the client sent (headers that are not pseudo-headers, `grpc-*`, `content-type`, `te` or
    /// `user-agent`), in order.
    public var metadata: [(name: String, value: String)]

    /// Whether the deadline has passed.
    public var deadlineExceeded: Bool {
        guard let deadline = self.deadline else { return false }
        return ContinuousClock.now >= deadline
    }
}

/// A unary handler: decodes `request`, appends the encoded response message to `response`, or throws the
/// ``GRPCStatus`` to end the call with.
///
/// Runs inline on the connection's event loop thread: it must not block, and must not keep `request` (valid only
/// during the call).
public typealias UnaryHandler = (
    _ request: UnsafeRawBufferPointer, _ context: ServerCallContext, _ response: inout [UInt8]
) throws(GRPCStatus) -> Void

/// A streaming call's server side: receives the request messages one at a time, as they arrive.
///
/// Runs on the connection's event loop thread. Answers go through the call's ``ServerStreamResponder``.
public protocol StreamingCall: AnyObject {
    /// One complete request message, valid only during the call. Return `false` to refuse it for now: the
    /// connection keeps it (and every later one), stops opening the stream's HTTP/2 flow-control window, so the
    /// client slows down, and offers it again after ``ServerStreamResponder/resume()``.
    func received(_ message: UnsafeRawBufferPointer) -> Bool
    /// The client has sent its last message (END_STREAM), and every message was taken.
    func requestEnded()
    /// The stream is gone: answered and closed, reset by the client, or its connection closed. Called once; the
    /// responder does nothing after it.
    func closed()
    /// The server is shutting down gracefully (GOAWAY sent): finish what is in progress and end the call soon,
    /// since the connection closes once its calls are done (or at the drain timeout).
    func draining()
}

extension StreamingCall {
    /// By default a call ignores the drain and ends by itself.
    public func draining() {}
}

/// Starts a streaming call: returns the object that receives its messages, or throws the status to refuse it with.
public typealias StreamingHandler = (_ context: ServerCallContext, _ responder: ServerStreamResponder)
    throws(GRPCStatus) -> any StreamingCall

/// The routes one event loop serves: fully qualified method path → handler.
///
/// Thread affinity: a router is built per loop (handlers own loop-local state such as a reusable LMDB read
/// transaction) and used only on that loop.
public final class Router {
    struct Route {
        let path: [UInt8]
        let handler: UnaryHandler?
        let streaming: StreamingHandler?
    }

    private(set) var routes: [Route] = []

    /// Creates an empty router.
    public init() {}

    /// Serves `path` (`/package.Service/Method`) with a unary handler.
    public func addUnary(_ path: String, _ handler: @escaping UnaryHandler) {
        precondition(path.hasPrefix("/"), "a gRPC path starts with '/'")
        self.routes.append(Route(path: Array(path.utf8), handler: handler, streaming: nil))
    }

    /// Serves `path` with a streaming handler (client, server or bidirectional streaming alike: the handler sees
    /// each request message as it arrives and may answer with any number of messages).
    public func addStreaming(_ path: String, _ handler: @escaping StreamingHandler) {
        precondition(path.hasPrefix("/"), "a gRPC path starts with '/'")
        self.routes.append(Route(path: Array(path.utf8), handler: nil, streaming: handler))
    }

    /// The index of the route for `path`, comparing bytes without building a String.
    func route(for path: UnsafeRawBufferPointer) -> Int? {
        for index in self.routes.indices where self.routes[index].path.count == path.count {
            let matches = self.routes[index].path.withUnsafeBytes { known in
                known.count == 0 || memcmp(known.baseAddress!, path.baseAddress!, known.count) == 0
            }
            if matches { return index }
        }
        return nil
    }
}

/// The longest encoded `grpc-message` a server sends (4 KiB): clients cap their header lists (grpcio: 8 KiB of
/// metadata by default) and would fail the call over a long message instead of showing it.
public let maxEncodedGRPCMessageBytes = 4096

/// Percent-encodes a `grpc-message` value: bytes outside 0x20...0x7E, and `%`, become `%XX`
/// (gRPC PROTOCOL-HTTP2.md, "Status-Message"). A message longer than `limit` encoded bytes is cut at a character
/// boundary and ends with a note of its full length.
public func percentEncodeGRPCMessage(_ message: String, limit: Int = maxEncodedGRPCMessageBytes) -> String {
    func needsEscape(_ byte: UInt8) -> Bool { byte < 0x20 || byte > 0x7E || byte == UInt8(ascii: "%") }
    var encodedLength = 0
    for byte in message.utf8 { encodedLength += needsEscape(byte) ? 3 : 1 }
    if encodedLength == message.utf8.count && encodedLength <= limit { return message }
    let suffix = encodedLength > limit ? " ... (cut; the message is \(message.utf8.count) bytes)" : ""
    let budget = limit - suffix.utf8.count
    let hex = Array("0123456789ABCDEF".utf8)
    var bytes: [UInt8] = []
    bytes.reserveCapacity(min(encodedLength, limit))
    let utf8 = Array(message.utf8)
    var index = 0
    while index < utf8.count {
        // One whole character at a time (a lead byte and its continuation bytes), so the cut never splits one.
        var end = index + 1
        while end < utf8.count && utf8[end] & 0xC0 == 0x80 { end += 1 }
        let cost = utf8[index..<end].reduce(0) { $0 + (needsEscape($1) ? 3 : 1) }
        if bytes.count + cost > budget { break }
        for byte in utf8[index..<end] {
            if needsEscape(byte) {
                bytes.append(UInt8(ascii: "%"))
                bytes.append(hex[Int(byte >> 4)])
                bytes.append(hex[Int(byte & 0xF)])
            } else {
                bytes.append(byte)
            }
        }
        index = end
    }
    return String(decoding: bytes, as: UTF8.self) + suffix
}

/// Decodes a percent-encoded `grpc-message`; malformed escapes are kept as they are.
public func percentDecodeGRPCMessage(_ message: String) -> String {
    guard message.utf8.contains(UInt8(ascii: "%")) else { return message }
    let input = Array(message.utf8)
    var output: [UInt8] = []
    var index = 0
    func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        default: nil
        }
    }
    while index < input.count {
        if input[index] == UInt8(ascii: "%"), index + 2 < input.count,
            let high = hexValue(input[index + 1]), let low = hexValue(input[index + 2])
        {
            output.append(high << 4 | low)
            index += 3
        } else {
            output.append(input[index])
            index += 1
        }
    }
    return String(decoding: output, as: UTF8.self)
}
