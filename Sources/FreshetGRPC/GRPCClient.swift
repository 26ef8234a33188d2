// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// A blocking gRPC client over one HTTP/2 connection, for the CLI and tests.

public import FreshetCore
public import FreshetHTTP2
public import FreshetPosix

/// The outcome of one call, as seen on the wire.
public struct GRPCResponse: Sendable {
    /// The HTTP `:status` (200 for any gRPC answer, including errors).
    public var httpStatus: Int
    /// The response headers (for a trailers-only answer, these carry the status).
    public var headers: [HTTP2Header]
    /// The trailers.
    public var trailers: [HTTP2Header]
    /// The response messages, without their 5-byte prefixes.
    public var messages: [[UInt8]]
    /// The call's status: from `grpc-status`/`grpc-message`, else derived from the HTTP status, a stream reset or a
    /// lost connection.
    public var status: GRPCStatus
    /// Whether the status came from the server's `grpc-status` (rather than being derived locally).
    public var statusFromServer: Bool
    /// The RST_STREAM error code, when the server reset the stream.
    public var resetCode: UInt32?

    /// The first header or trailer named `name`.
    public func header(_ name: String) -> String? {
        (self.headers + self.trailers).first { $0.name == name }?.value
    }
}

/// A client connection that runs one call at a time, blocking the calling thread.
///
/// It speaks HTTP/2 with prior knowledge (no TLS, no upgrade), like gRPC's `insecure` channels. Not for the hot
/// path: the benchmark has its own event-driven client. Thread affinity: use from one thread at a time.
public final class GRPCClient: HTTP2SessionDelegate {
    private let socket: Socket
    private let session: HTTP2Session
    private let readBuffer: UnsafeMutableRawBufferPointer
    private var calls: [Int32: CallState] = [:]
    private var closed = false
    private var goAwayReceived = false
    /// The peer this client talks to.
    public let endpoint: Endpoint

    private final class CallState {
        var httpStatus = 0
        var headers: [HTTP2Header] = []
        var trailers: [HTTP2Header] = []
        var body: [UInt8] = []
        var finished = false
        var resetCode: UInt32?
        var headerProblem: String?
        /// For a streaming call: response messages are deframed as they arrive instead of collected in `body`.
        var deframer: GRPCMessageDeframer?
        var framingProblem: String?
    }

    /// Connects to `endpoint` and sends the connection preface.
    /// - Throws: ``EndpointError``, ``SystemError`` (connection refused, timeout) or ``HTTP2Error``.
    public init(endpoint: Endpoint, connectTimeout: Duration = .seconds(5)) throws {
        self.endpoint = endpoint
        self.socket = try Socket.connect(to: endpoint, timeout: connectTimeout)
        do {
            self.session = try HTTP2Session(role: .client)
        } catch {
            self.socket.close()
            throw error
        }
        self.readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)
        self.session.delegate = self
    }

    deinit {
        self.close()
        self.readBuffer.deallocate()
    }

    /// Closes the connection.
    public func close() {
        guard !self.closed else { return }
        self.closed = true
        self.socket.close()
    }

    /// Calls a unary method: sends `request` as one message with the standard gRPC headers.
    /// - Parameters:
    ///   - path: `/package.Service/Method`.
    ///   - timeout: sent as `grpc-timeout`, and also the local wait limit (plus 250 ms for the server's answer).
    ///   - metadata: extra headers (lower-case names).
    /// - Throws: ``SystemError`` or ``HTTP2Error`` when the connection fails; a gRPC error status is not thrown,
    ///   it is in ``GRPCResponse/status``.
    public func unary(
        path: String, request: [UInt8], timeout: Duration? = nil, metadata: [HTTP2Header] = []
    ) throws -> GRPCResponse {
        var headers = GRPCClient.standardHeaders(path: path, authority: self.endpoint.description)
        if let timeout {
            headers.append(HTTP2Header("grpc-timeout", GRPCTimeout.format(timeout)))
        }
        headers += metadata
        let body = grpcFramed(request)
        // Wait a little past the deadline for the server's own DEADLINE_EXCEEDED, no more.
        return try self.call(
            headers: headers, body: body, wait: timeout.map { $0 + .milliseconds(250) } ?? .seconds(60))
    }

    /// The headers a stock gRPC client sends for `path`.
    public static func standardHeaders(path: String, authority: String) -> [HTTP2Header] {
        [
            HTTP2Header(":method", "POST"), HTTP2Header(":scheme", "http"), HTTP2Header(":path", path),
            HTTP2Header(":authority", authority), HTTP2Header("content-type", "application/grpc"),
            HTTP2Header("te", "trailers"), HTTP2Header("user-agent", "freshet-client/1"),
        ]
    }

    /// Sends a request with exactly these headers and raw body bytes (no framing added), and waits for the answer.
    /// For tests that need malformed requests; ``unary(path:request:timeout:metadata:)`` is the normal entry.
    /// - Parameters:
    ///   - endStream: when false, the request body is left open (the call waits for the server to end it).
    ///   - wait: how long to wait locally for the answer; past it the status is DEADLINE_EXCEEDED (local) and the
    ///     stream is cancelled.
    public func call(
        headers: [HTTP2Header], body: [UInt8], endStream: Bool = true, wait: Duration
    ) throws -> GRPCResponse {
        let stream = try self.start(headers: headers, body: body, endStream: endStream)
        return try self.finish(stream, wait: wait)
    }

    /// Opens a call and queues its headers and body without waiting for the answer, so that several calls can be
    /// open at once on this connection (tests of per-connection limits). Collect each with ``finish(_:wait:)``.
    /// - Returns: the call's stream id.
    public func start(headers: [HTTP2Header], body: [UInt8], endStream: Bool = true) throws -> Int32 {
        let stream = try self.session.submitRequest(headers: HeaderBlock(headers))
        self.calls[stream] = CallState()
        body.withUnsafeBytes { self.session.append($0, to: stream) }
        if endStream {
            self.session.finish(stream: stream, trailers: nil)
        }
        try self.flush()
        return stream
    }

    /// Waits for the answer of a call opened with ``start(headers:body:endStream:)``.
    /// - Parameter wait: how long to wait locally; past it the status is DEADLINE_EXCEEDED (local) and the stream is
    ///   cancelled.
    public func finish(_ stream: Int32, wait: Duration) throws -> GRPCResponse {
        guard let state = self.calls[stream] else {
            return GRPCResponse(
                httpStatus: 0, headers: [], trailers: [], messages: [],
                status: GRPCStatus(.internalError, "no call on stream \(stream)"), statusFromServer: false,
                resetCode: nil)
        }
        defer { self.calls[stream] = nil }
        let deadline = ContinuousClock.now + wait
        var lostConnection: String?
        do {
            try self.drive(until: { state.finished }, deadline: deadline)
        } catch {
            lostConnection = "\(error)"
        }
        if !state.finished && lostConnection == nil {
            self.session.reset(stream: stream, errorCode: HTTP2ErrorCode.cancel)
            try? self.flush()
            return GRPCResponse(
                httpStatus: state.httpStatus, headers: state.headers, trailers: state.trailers, messages: [],
                status: GRPCStatus(.deadlineExceeded, "no answer within \(wait) (client-side limit)"),
                statusFromServer: false, resetCode: nil)
        }
        return Self.makeResponse(state, lostConnection: lostConnection)
    }

    private static func makeResponse(_ state: CallState, lostConnection: String?) -> GRPCResponse {
        var messages: [[UInt8]] = []
        var deframer = GRPCMessageDeframer(limit: Int(Int32.max))
        var framingProblem: String?
        let framing = state.body.withUnsafeBytes { bytes in
            Result { () throws(GRPCMessageDeframer.Failure) in try deframer.append(bytes) }
        }
        switch framing {
        case .success:
            messages = deframer.takeMessages()
            if deframer.partialBytes > 0 { framingProblem = "response ended inside a message" }
        case .failure(let error):
            framingProblem = "malformed response framing: \(error)"
        }
        let all = state.headers + state.trailers
        var status: GRPCStatus
        var fromServer = false
        if let code = all.first(where: { $0.name == "grpc-status" }).flatMap({ Int($0.value) }) {
            let message = all.first { $0.name == "grpc-message" }.map { percentDecodeGRPCMessage($0.value) } ?? ""
            status = GRPCStatus(GRPCStatus.Code(rawValue: code) ?? .unknown, message)
            fromServer = true
        } else if let lostConnection {
            status = GRPCStatus(.unavailable, "connection lost: \(lostConnection)")
        } else if let reset = state.resetCode {
            status = GRPCStatus(
                reset == HTTP2ErrorCode.refusedStream ? .unavailable : .internalError,
                "stream reset by the server with HTTP/2 error code \(reset)")
        } else if state.httpStatus != 200 {
            // gRPC's http-grpc-status-mapping.md.
            let code: GRPCStatus.Code =
                switch state.httpStatus {
                case 400: .internalError
                case 401: .unauthenticated
                case 403: .permissionDenied
                case 404: .unimplemented
                case 429, 502, 503, 504: .unavailable
                default: .unknown
                }
            status = GRPCStatus(code, "HTTP status \(state.httpStatus) without grpc-status")
        } else {
            status = GRPCStatus(.internalError, "the server ended the call without grpc-status")
        }
        if let framingProblem, status.code == .ok {
            status = GRPCStatus(.internalError, framingProblem)
        }
        if let problem = state.headerProblem {
            status = GRPCStatus(.internalError, problem)
        }
        return GRPCResponse(
            httpStatus: state.httpStatus, headers: state.headers, trailers: state.trailers, messages: messages,
            status: status, statusFromServer: fromServer, resetCode: state.resetCode)
    }

    // MARK: - Streaming calls

    /// What a streaming call brought since the last look.
    public struct StreamEvents: Sendable {
        /// Response messages, without their prefixes, in order.
        public var messages: [[UInt8]]
        /// The call's outcome, once it has ended (``GRPCResponse/messages`` is empty: they came in `messages`).
        public var end: GRPCResponse?
    }

    /// Opens a streaming call: sends the headers and keeps the request open for ``send(_:on:)``.
    /// - Returns: the call's stream id.
    /// - Throws: ``SystemError`` or ``HTTP2Error`` when the connection fails.
    public func openStream(path: String, metadata: [HTTP2Header] = []) throws -> Int32 {
        let headers = GRPCClient.standardHeaders(path: path, authority: self.endpoint.description) + metadata
        let stream = try self.session.submitRequest(headers: HeaderBlock(headers))
        let state = CallState()
        state.deframer = GRPCMessageDeframer(limit: Int(Int32.max))
        self.calls[stream] = state
        try self.flush()
        return stream
    }

    /// Queues one request message on a streaming call and writes what flow control allows.
    public func send(_ message: [UInt8], on stream: Int32) throws {
        grpcFramed(message).withUnsafeBytes { self.session.append($0, to: stream) }
        try self.flush()
    }

    /// Ends the request side of a streaming call (END_STREAM).
    public func closeSend(_ stream: Int32) throws {
        self.session.finish(stream: stream, trailers: nil)
        try self.flush()
    }

    /// Request bytes of `stream` that the server's flow-control window has not let out yet.
    public func unsentBytes(on stream: Int32) -> Int {
        self.session.pendingBodyBytes(stream: stream)
    }

    /// Cancels a streaming call (RST_STREAM CANCEL).
    public func cancel(_ stream: Int32) {
        self.session.reset(stream: stream, errorCode: HTTP2ErrorCode.cancel)
        try? self.flush()
        self.calls[stream] = nil
    }

    /// Waits until `stream` brings at least one response message or ends, or `wait` passes, and returns what came.
    /// A lost connection ends the call with UNAVAILABLE.
    public func receive(on stream: Int32, wait: Duration) -> StreamEvents {
        guard let state = self.calls[stream] else {
            return StreamEvents(
                messages: [],
                end: GRPCResponse(
                    httpStatus: 0, headers: [], trailers: [], messages: [],
                    status: GRPCStatus(.internalError, "no call on stream \(stream)"), statusFromServer: false,
                    resetCode: nil))
        }
        var lostConnection: String?
        do {
            try self.drive(
                until: { state.finished || state.deframer!.messageCount > 0 }, deadline: ContinuousClock.now + wait)
        } catch {
            lostConnection = "\(error)"
        }
        let messages = state.deframer!.takeMessages()
        guard state.finished || lostConnection != nil else { return StreamEvents(messages: messages, end: nil) }
        self.calls[stream] = nil
        var response = Self.makeResponse(state, lostConnection: lostConnection)
        if let problem = state.framingProblem, response.status.code == .ok {
            response.status = GRPCStatus(.internalError, problem)
        } else if state.deframer!.partialBytes > 0, response.status.code == .ok {
            response.status = GRPCStatus(.internalError, "response ended inside a message")
        }
        return StreamEvents(messages: messages, end: response)
    }

    // MARK: - Driving the connection

    private func flush() throws {
        var pending: [UInt8] = []
        try self.session.send { chunk in
            pending.append(contentsOf: chunk)
            return true
        }
        var offset = 0
        while offset < pending.count {
            let result = try pending.withUnsafeBytes { bytes in
                try self.socket.write(UnsafeRawBufferPointer(rebasing: bytes[offset...]))
            }
            switch result {
            case .processed(let count): offset += count
            case .wouldBlock: _ = try self.socket.waitWritable(timeout: .seconds(10))
            }
        }
    }

    private func drive(until done: () -> Bool, deadline: ContinuousClock.Instant) throws {
        try self.flush()
        while !done() {
            let remaining = ContinuousClock.now.duration(to: deadline)
            if remaining <= .zero { return }
            guard try self.socket.waitReadable(timeout: remaining) else { continue }
            let result = try self.socket.read(into: self.readBuffer)
            switch result {
            case .wouldBlock:
                continue
            case .processed(0):
                throw SystemError(errno: 104, call: "read: connection closed by the server")
            case .processed(let count):
                try self.session.receive(UnsafeRawBufferPointer(rebasing: self.readBuffer[0..<count]))
                try self.flush()
            }
        }
    }

    // MARK: - HTTP2SessionDelegate

    public func http2BeginHeaders(stream: Int32, kind: HTTP2HeadersKind) {}

    public func http2Header(
        stream: Int32, kind: HTTP2HeadersKind, name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer
    ) {
        guard let state = self.calls[stream] else { return }
        let header = HTTP2Header(String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self))
        switch kind {
        case .response:
            if header.name == ":status" {
                state.httpStatus = Int(header.value) ?? 0
            } else {
                state.headers.append(header)
            }
        case .trailers, .request:
            state.trailers.append(header)
        }
    }

    public func http2HeaderListTooLarge(stream: Int32, kind: HTTP2HeadersKind, limit: Int) {
        self.calls[stream]?.headerProblem = "the server's \(kind) headers are larger than \(limit) bytes"
    }

    public func http2EndHeaders(stream: Int32, kind: HTTP2HeadersKind, endStream: Bool) {
        if endStream { self.calls[stream]?.finished = true }
    }

    public func http2Data(stream: Int32, bytes: UnsafeRawBufferPointer) {
        guard let state = self.calls[stream] else { return }
        if state.deframer != nil {
            guard state.framingProblem == nil else { return }
            do {
                try state.deframer!.append(bytes)
            } catch {
                state.framingProblem = "malformed response framing: \(error)"
            }
        } else {
            state.body.append(contentsOf: bytes)
        }
    }

    public func http2EndStream(stream: Int32) {
        self.calls[stream]?.finished = true
    }

    public func http2SentEndStream(stream: Int32) {}

    public func http2StreamClosed(stream: Int32, errorCode: UInt32) {
        guard let state = self.calls[stream] else { return }
        if !state.finished && errorCode != HTTP2ErrorCode.noError {
            state.resetCode = errorCode
        }
        state.finished = true
    }

    public func http2GoAway(lastStreamID: Int32, errorCode: UInt32) {
        self.goAwayReceived = true
    }
}
