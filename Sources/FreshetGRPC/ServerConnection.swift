// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// One accepted HTTP/2 connection on a server event loop: socket I/O, gRPC request validation and dispatch.

internal import FreshetCore
internal import FreshetHTTP2
internal import FreshetPosix

/// The state of one gRPC call (one HTTP/2 stream) on a server connection.
final class ServerStream {
    let id: Int32
    var routeIndex: Int?
    /// The first problem found in the request headers or body; the call ends with it.
    var failure: GRPCStatus?
    /// An HTTP status other than 200 for the failure (405 wrong method, 415 wrong content-type).
    var httpStatus = 200
    var sawPath = false
    var sawContentType = false
    var sawTrailersTE = false
    var unknownPath: String?
    var deadline: ContinuousClock.Instant?
    var timerID: UInt64?
    var deframer: GRPCMessageDeframer
    var metadata: [(name: String, value: String)] = []
    /// The client sent END_STREAM.
    var requestComplete = false
    /// The response (or error) has been submitted.
    var responded = false
    /// The request bytes this stream holds, as counted in its connection's and loop's totals.
    var accountedBytes = 0
    /// A streaming call's receiver and answering side (`nil` for a unary call).
    var call: (any StreamingCall)?
    var responder: ServerStreamResponder?
    /// The streaming call refused a message: hold the rest and stop opening the flow-control window.
    var paused = false
    /// DATA bytes received while paused, not yet handed back to flow control.
    var unconsumed = 0
    /// ``StreamingCall/requestEnded()`` was called.
    var endReported = false

    init(id: Int32, messageLimit: Int) {
        self.id = id
        self.deframer = GRPCMessageDeframer(limit: messageLimit)
    }

    func fail(_ status: GRPCStatus, httpStatus: Int = 200) {
        if self.failure == nil {
            self.failure = status
            self.httpStatus = httpStatus
        }
    }
}

/// One accepted connection: a socket, its ``HTTP2Session`` and its calls.
///
/// Reading: on readiness the connection reads until the socket is empty (bounded per turn), feeding nghttp2; calls
/// complete inline and their handlers run right there. Writing: the connection marks itself dirty and its loop calls
/// ``flush()`` once per turn, so a burst of responses costs one `send`. Output is bounded: once
/// ``ServerLoop/maxBufferedOutput`` bytes wait for the socket, the connection stops pulling frames from nghttp2
/// (and so stops reading new work) until the socket drains.
///
/// Thread affinity: loop-confined.
final class ServerConnection: Selectable, HTTP2SessionDelegate {
    /// How much input nghttp2 gets at a time before the loop may flush answers (see ``ServerLoop/flushIfDue()``).
    static let receiveSlice = 16 << 10
    let socket: Socket
    /// The loop that owns this connection (and outlives it): unowned(unsafe), since a checked reference costs an
    /// atomic operation on every access.
    unowned(unsafe) let loop: ServerLoop
    let session: HTTP2Session
    private var streams: [Int32: ServerStream] = [:]
    private var output = OutputBuffer()
    private var watchingWritable = false
    private(set) var isClosed = false
    var isDirty = false
    private var streamsAwaitingDeadline: [Int32] = []
    private var goingAway = false
    /// Request bytes held in this connection's unfinished messages (see ``ServerLoop/bufferedRequestBytes``).
    private var bufferedRequestBytes = 0
    /// The stream the last callback was about: nghttp2 reports a request's headers, data and end one after another,
    /// so most lookups are answered here without hashing.
    private var recentStream: ServerStream?

    init(socket: Socket, loop: ServerLoop) throws(HTTP2Error) {
        self.socket = socket
        self.loop = loop
        self.session = try HTTP2Session(role: .server, settings: loop.http2)
        self.session.delegate = self
    }

    // MARK: - Socket events

    func handle(_ readiness: Readiness) {
        if readiness.contains(.writable) {
            self.writeOutput()
        }
        if readiness.contains(.readable) || !readiness.isDisjoint(with: .hangup) {
            self.readInput()
        }
        self.loop.markDirty(self)
    }

    private func readInput() {
        let buffer = self.loop.readBuffer
        // Bounded, so one busy connection cannot starve the others on this loop.
        for _ in 0..<16 {
            guard !self.isClosed else { return }
            // Stop reading while the peer is not reading our output (bounded output per connection).
            if self.output.pending >= self.loop.maxBufferedOutput { return }
            let result: IOResult<Int>
            do {
                result = try self.socket.read(into: buffer)
            } catch {
                self.loop.logger.debug("connection read failed", ["peer": self.peerDescription, "error": "\(error)"])
                self.close()
                return
            }
            switch result {
            case .wouldBlock:
                return
            case .processed(0):
                self.close()
                return
            case .processed(let count):
                // Feed nghttp2 in slices and let the loop flush between them when answers have waited long enough:
                // a 64 KiB read can hold many requests, and the first answer should not wait for the last one.
                var start = 0
                while start < count && !self.isClosed {
                    let end = min(count, start + Self.receiveSlice)
                    do {
                        try self.session.receive(UnsafeRawBufferPointer(rebasing: buffer[start..<end]))
                    } catch {
                        // nghttp2 queued a GOAWAY naming the problem; send it, then close.
                        self.loop.logger.info(
                            "closing connection after an HTTP/2 protocol error",
                            ["peer": self.peerDescription, "error": error.message])
                        self.goingAway = true
                        self.flush()
                        self.close()
                        return
                    }
                    start = end
                    self.loop.markDirty(self)
                    self.loop.flushIfDue()
                }
                self.armDeadlineTimers()
                if count < buffer.count { return }
            }
        }
    }

    /// Pulls queued frames from nghttp2 into the output buffer and writes as much as the socket takes.
    /// Called by the loop once per turn for each dirty connection.
    func flush() {
        guard !self.isClosed else { return }
        do {
            try self.session.send { chunk in
                self.output.append(chunk)
                return self.output.pending < self.loop.maxBufferedOutput
            }
        } catch {
            self.loop.logger.info(
                "closing connection: HTTP/2 send failed", ["peer": self.peerDescription, "error": error.message])
            self.close()
            return
        }
        self.writeOutput()
        if !self.isClosed && self.output.isEmpty && !self.session.wantsRead
            && !self.session.wantsWrite
        {
            self.close()
        }
    }

    private func writeOutput() {
        guard !self.isClosed else { return }
        let drained: Bool
        do {
            drained = try self.output.write(to: self.socket)
        } catch {
            self.loop.logger.debug("connection write failed", ["peer": self.peerDescription, "error": "\(error)"])
            self.close()
            return
        }
        self.watchWritable(!drained)
        // More frames may be waiting in nghttp2 behind the output limit.
        if drained && self.session.wantsWrite { self.loop.markDirty(self) }
    }

    private func watchWritable(_ watch: Bool) {
        guard watch != self.watchingWritable, !self.isClosed else { return }
        self.watchingWritable = watch
        do {
            try self.loop.eventLoop.reregister(
                self.socket.descriptor, interest: watch ? [.readable, .writable] : [.readable])
        } catch {
            self.close()
        }
    }

    /// Starts a graceful close: GOAWAY now, close once the open calls are answered (nghttp2 then wants neither
    /// read nor write).
    func goAway() {
        guard !self.goingAway, !self.isClosed else { return }
        self.goingAway = true
        self.session.goAway()
        self.loop.markDirty(self)
        for stream in Array(self.streams.values) {
            stream.call?.draining()
        }
    }

    /// Closes the socket at once. Pending calls are dropped (their clients see the connection close).
    func close() {
        guard !self.isClosed else { return }
        self.isClosed = true
        for stream in self.streams.values {
            if let timer = stream.timerID { self.loop.eventLoop.cancelTimer(timer) }
            stream.deframer.discard()
            self.account(stream)
            self.closeCall(stream)
        }
        self.streams.removeAll()
        self.recentStream = nil
        self.loop.eventLoop.deregister(self.socket.descriptor)
        self.socket.close()
        self.loop.connectionClosed(self)
    }

    var peerDescription: String {
        self.socket.peerEndpoint()?.description ?? "unknown"
    }

    // MARK: - Deadlines

    private func armDeadlineTimers() {
        guard !self.streamsAwaitingDeadline.isEmpty else { return }
        for id in self.streamsAwaitingDeadline {
            guard let stream = self.streams[id], !stream.responded, stream.timerID == nil,
                let deadline = stream.deadline
            else { continue }
            stream.timerID = self.loop.eventLoop.schedule(at: deadline) { [weak self] in
                guard let self, let stream = self.streams[id], !stream.responded else { return }
                stream.timerID = nil
                let status = GRPCStatus(.deadlineExceeded, "deadline exceeded before the request was complete")
                if let responder = stream.responder {
                    responder.finish(status)
                } else {
                    self.respond(stream, status: status)
                }
                self.loop.markDirty(self)
            }
        }
        self.streamsAwaitingDeadline.removeAll(keepingCapacity: true)
    }

    // MARK: - HTTP2SessionDelegate

    /// The open stream with this id, if any.
    @inline(__always)
    private func stream(_ id: Int32) -> ServerStream? {
        if let recent = self.recentStream, recent.id == id { return recent }
        let stream = self.streams[id]
        self.recentStream = stream
        return stream
    }

    func http2BeginHeaders(stream id: Int32, kind: HTTP2HeadersKind) {
        guard kind == .request else { return }
        let stream = ServerStream(id: id, messageLimit: self.loop.configuration.maxMessageBytes)
        self.streams[id] = stream
        self.recentStream = stream
    }

    func http2Header(
        stream id: Int32, kind: HTTP2HeadersKind, name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer
    ) {
        guard kind == .request, let stream = self.stream(id) else { return }
        switch name.count {
        case 5 where name.matches(":path"):
            stream.sawPath = true
            stream.routeIndex = self.loop.router.route(for: value)
            if stream.routeIndex == nil {
                stream.unknownPath = String(decoding: value.prefix(256), as: UTF8.self)
            }
        case 7 where name.matches(":method"):
            if !value.matches("POST") {
                stream.fail(
                    GRPCStatus(
                        .unimplemented,
                        "method \(String(decoding: value.prefix(32), as: UTF8.self)) is not allowed; gRPC uses POST"),
                    httpStatus: 405)
            }
        case 12 where name.matches("content-type"):
            stream.sawContentType = true
            if !Self.isGRPCContentType(value) {
                stream.fail(
                    GRPCStatus(
                        .invalidArgument,
                        "content-type '\(String(decoding: value.prefix(64), as: UTF8.self))' is not application/grpc"),
                    httpStatus: 415)
            }
        case 2 where name.matches("te"):
            stream.sawTrailersTE = value.matches("trailers")
        case 12 where name.matches("grpc-timeout"):
            if let timeout = GRPCTimeout.parse(value) {
                stream.deadline = ContinuousClock.now + timeout
            } else {
                stream.fail(
                    GRPCStatus(
                        .internalError, "malformed grpc-timeout '\(String(decoding: value.prefix(32), as: UTF8.self))'")
                )
            }
        case 13 where name.matches("grpc-encoding"):
            if !value.matches("identity") {
                stream.fail(
                    GRPCStatus(
                        .unimplemented,
                        "grpc-encoding '\(String(decoding: value.prefix(32), as: UTF8.self))' is not supported; this server accepts identity only"
                    ))
            }
        default:
            guard let first = name.first, first != UInt8(ascii: ":") else { return }
            if name.starts(with: "grpc-") || name.matches("user-agent") { return }
            if stream.metadata.count < 64 {
                stream.metadata.append(
                    (String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
            }
        }
    }

    func http2HeaderListTooLarge(stream id: Int32, kind: HTTP2HeadersKind, limit: Int) {
        self.stream(id)?.fail(
            GRPCStatus(
                .resourceExhausted,
                "request headers are larger than the limit of \(limit) bytes (SETTINGS_MAX_HEADER_LIST_SIZE)"))
    }

    /// `application/grpc` or `application/grpc+proto`, optionally followed by `;parameters` (PROTOCOL-HTTP2.md
    /// "Content-Type"). Other formats (`+json`) are refused: this server speaks protobuf only.
    private static func isGRPCContentType(_ value: UnsafeRawBufferPointer) -> Bool {
        var end = value.firstIndex(of: UInt8(ascii: ";")) ?? value.count
        while end > 0 && value[end - 1] == UInt8(ascii: " ") { end -= 1 }
        let type = UnsafeRawBufferPointer(rebasing: value[0..<end])
        return type.matches("application/grpc") || type.matches("application/grpc+proto")
    }

    func http2EndHeaders(stream id: Int32, kind: HTTP2HeadersKind, endStream: Bool) {
        guard let stream = self.stream(id) else { return }
        if kind == .request {
            if !stream.sawContentType {
                stream.fail(
                    GRPCStatus(.invalidArgument, "missing content-type; gRPC requires application/grpc"),
                    httpStatus: 415)
            } else if stream.routeIndex == nil && stream.failure == nil {
                let path = stream.unknownPath ?? "(none)"
                stream.fail(GRPCStatus(.unimplemented, "unknown method \(path)"))
            } else if !stream.sawTrailersTE {
                stream.fail(
                    GRPCStatus(.invalidArgument, "missing 'te: trailers' header, which gRPC over HTTP/2 requires"))
            }
            if let failure = stream.failure, !endStream {
                // Answer at once; the rest of the request is not needed (RST_STREAM NO_ERROR follows the answer).
                self.respond(stream, status: failure)
                return
            }
            if stream.deadline != nil && !endStream {
                self.streamsAwaitingDeadline.append(id)
            }
            if stream.failure == nil, let routeIndex = stream.routeIndex,
                let start = self.loop.router.routes[routeIndex].streaming
            {
                self.startStreaming(stream, start)
                if endStream {
                    stream.requestComplete = true
                    self.deliver(stream)
                }
                return
            }
        }
        if endStream {
            stream.requestComplete = true
            self.dispatch(stream)
        }
    }

    /// Brings the connection's and the loop's totals of held request bytes up to date with `stream`.
    private func account(_ stream: ServerStream) {
        let held = stream.deframer.bufferedBytes
        let delta = held - stream.accountedBytes
        stream.accountedBytes = held
        self.bufferedRequestBytes += delta
        self.loop.bufferedRequestBytes += delta
    }

    func http2Data(stream id: Int32, bytes: UnsafeRawBufferPointer) {
        guard let stream = self.stream(id) else {
            self.session.consume(stream: id, count: bytes.count)
            return
        }
        if stream.call != nil {
            self.streamingData(stream, bytes)
            return
        }
        // A unary call holds its request only until it is answered: open the window again at once.
        self.session.consume(stream: id, count: bytes.count)
        guard !stream.responded else { return }
        defer { self.account(stream) }
        if self.bufferedRequestBytes + bytes.count > self.loop.maxBufferedRequestBytesPerConnection
            || self.loop.bufferedRequestBytes + bytes.count > self.loop.maxBufferedRequestBytesPerLoop
        {
            // Many streams that each stay under the message limit but never finish must not add up to unbounded
            // memory: the stream that brings more than the connection's (or the loop's) share is refused.
            self.respond(
                stream,
                status: GRPCStatus(
                    .resourceExhausted,
                    "the server holds too much unfinished request data (limit \(self.loop.maxBufferedRequestBytesPerConnection) bytes per connection, \(self.loop.maxBufferedRequestBytesPerLoop) per event loop)"
                ))
            return
        }
        do {
            try stream.deframer.append(bytes)
        } catch {
            self.respond(stream, status: error.status)
        }
    }

    func http2EndStream(stream id: Int32) {
        guard let stream = self.stream(id) else { return }
        stream.requestComplete = true
        if stream.call != nil {
            self.deliver(stream)
            return
        }
        self.dispatch(stream)
    }

    func http2SentEndStream(stream id: Int32) {
        // RFC 9113 §8.1: a server that answered before the request ended asks the client to stop sending with
        // RST_STREAM(NO_ERROR); clients must keep the response.
        if let stream = self.stream(id), !stream.requestComplete, !self.session.isRemoteClosed(stream: id) {
            self.session.reset(stream: id, errorCode: HTTP2ErrorCode.noError)
        }
    }

    func http2StreamClosed(stream id: Int32, errorCode: UInt32) {
        guard let stream = self.streams.removeValue(forKey: id) else { return }
        if self.recentStream === stream { self.recentStream = nil }
        if let timer = stream.timerID {
            self.loop.eventLoop.cancelTimer(timer)
        }
        stream.deframer.discard()
        self.account(stream)
        // Bytes held back from flow control count against the connection window until consumed.
        self.session.consume(stream: id, count: stream.unconsumed)
        stream.unconsumed = 0
        self.closeCall(stream)
    }

    /// Tells a streaming call its stream is gone (once).
    private func closeCall(_ stream: ServerStream) {
        guard let call = stream.call else { return }
        stream.call = nil
        stream.responder?.connection = nil
        stream.responder = nil
        call.closed()
    }

    func http2GoAway(lastStreamID: Int32, errorCode: UInt32) {}

    // MARK: - Calls

    private func dispatch(_ stream: ServerStream) {
        guard !stream.responded else { return }
        if let failure = stream.failure {
            self.respond(stream, status: failure)
            return
        }
        if let deadline = stream.deadline, ContinuousClock.now >= deadline {
            self.respond(
                stream, status: GRPCStatus(.deadlineExceeded, "deadline exceeded before the request was served"))
            return
        }
        if stream.deframer.partialBytes > 0 {
            self.respond(
                stream,
                status: GRPCStatus(
                    .internalError,
                    "truncated gRPC message: the stream ended inside a message (\(stream.deframer.partialBytes) bytes of it arrived)"
                ))
            return
        }
        let messageCount = stream.deframer.messageCount
        guard messageCount == 1, let routeIndex = stream.routeIndex else {
            self.respond(
                stream,
                status: GRPCStatus(
                    .internalError,
                    "a unary call carries exactly one request message; this one carried \(messageCount)"))
            return
        }
        let context = ServerCallContext(deadline: stream.deadline, metadata: stream.metadata)
        // The body is handed to nghttp2 as it is (no copy) and comes back for reuse once sent.
        var response = self.session.takeRecycledBuffer() ?? []
        response.reserveCapacity(4096)
        response.append(contentsOf: [0, 0, 0, 0, 0] as [UInt8])
        guard let handler = self.loop.router.routes[routeIndex].handler else { return }
        let outcome = stream.deframer.withMessage(0) { request in
            Result { () throws(GRPCStatus) in try handler(request, context, &response) }
        }
        stream.deframer.discard()
        self.account(stream)
        if case .failure(let status) = outcome {
            self.respond(stream, status: status)
            return
        }
        if let deadline = stream.deadline, ContinuousClock.now >= deadline {
            self.respond(
                stream, status: GRPCStatus(.deadlineExceeded, "deadline exceeded while the request was served"))
            return
        }
        let messageLength = response.count - 5
        if messageLength > self.loop.configuration.maxMessageBytes {
            self.respond(
                stream,
                status: GRPCStatus(
                    .resourceExhausted,
                    "response message of \(messageLength) bytes is larger than the server's limit of \(self.loop.configuration.maxMessageBytes) bytes (--max-message-bytes); for GetFeatures, ask for fewer rows"
                ))
            return
        }
        writeGRPCPrefix(length: messageLength, into: &response)
        stream.responded = true
        do {
            try self.session.submitResponse(
                stream: stream.id, headers: self.loop.okHeaders, body: response, trailers: self.loop.okTrailers)
        } catch {
            self.loop.logger.debug("cannot submit response", ["peer": self.peerDescription, "error": error.message])
        }
    }

    /// Ends a call with a non-OK status: a trailers-only response (RFC-wise one HEADERS frame with END_STREAM).
    private func respond(_ stream: ServerStream, status: GRPCStatus) {
        guard !stream.responded else { return }
        self.markResponded(stream)
        var headers = [
            HTTP2Header(":status", String(stream.httpStatus)), HTTP2Header("content-type", "application/grpc"),
        ]
        headers += Self.statusFields(status)
        if status.code == .unimplemented {
            headers.append(HTTP2Header("grpc-accept-encoding", "identity"))
        }
        do {
            try self.session.submitResponse(stream: stream.id, headers: HeaderBlock(headers), body: false)
        } catch {
            self.loop.logger.debug(
                "cannot submit error response", ["peer": self.peerDescription, "error": error.message])
        }
    }

    /// The call is answered: drop what its request still holds and its deadline timer.
    private func markResponded(_ stream: ServerStream) {
        stream.responded = true
        stream.deframer.discard()
        self.account(stream)
        if let timer = stream.timerID {
            self.loop.eventLoop.cancelTimer(timer)
            stream.timerID = nil
        }
    }

    /// `grpc-status` and, when there is one, the percent-encoded `grpc-message` of `status`.
    private static func statusFields(_ status: GRPCStatus) -> [HTTP2Header] {
        var fields = [HTTP2Header("grpc-status", String(status.code.rawValue))]
        if !status.message.isEmpty {
            fields.append(HTTP2Header("grpc-message", percentEncodeGRPCMessage(status.message)))
        }
        return fields
    }

    // MARK: - Streaming calls

    private func startStreaming(_ stream: ServerStream, _ start: StreamingHandler) {
        let responder = ServerStreamResponder(connection: self, streamID: stream.id, inbox: self.loop.eventLoop.inbox)
        let context = ServerCallContext(deadline: stream.deadline, metadata: stream.metadata)
        stream.responder = responder
        do {
            stream.call = try start(context, responder)
        } catch {
            stream.responder = nil
            responder.connection = nil
            self.respond(stream, status: error)
        }
    }

    /// DATA for a streaming call: messages go to the call as they complete; while the call refuses them the bytes
    /// are held and not handed back to flow control, so the client's window closes (backpressure).
    private func streamingData(_ stream: ServerStream, _ bytes: UnsafeRawBufferPointer) {
        guard !stream.responded, let responder = stream.responder else {
            self.session.consume(stream: stream.id, count: bytes.count)
            return
        }
        if stream.paused {
            stream.unconsumed += bytes.count
        } else {
            self.session.consume(stream: stream.id, count: bytes.count)
        }
        defer { self.account(stream) }
        do {
            try stream.deframer.append(bytes)
        } catch {
            responder.finish(error.status)
            return
        }
        if !stream.paused { self.deliver(stream) }
    }

    /// Offers a streaming call its completed messages in order, until it refuses one; then reports the end of the
    /// request once everything was taken.
    private func deliver(_ stream: ServerStream) {
        guard let call = stream.call, let responder = stream.responder else { return }
        while stream.deframer.messageCount > 0 && !responder.finished {
            let taken = stream.deframer.withMessage(0) { call.received($0) }
            // The call may have ended itself while handling the message (which discards what the stream held).
            if responder.finished { break }
            if !taken {
                stream.paused = true
                break
            }
            stream.deframer.removeFirstMessage()
        }
        self.account(stream)
        guard stream.requestComplete, !stream.paused, !stream.endReported, !responder.finished,
            stream.deframer.messageCount == 0
        else { return }
        stream.endReported = true
        if stream.deframer.partialBytes > 0 {
            responder.finish(
                GRPCStatus(
                    .internalError,
                    "truncated gRPC message: the stream ended inside a message (\(stream.deframer.partialBytes) bytes of it arrived)"
                ))
            return
        }
        call.requestEnded()
    }

    func resumeStream(_ id: Int32) {
        guard let stream = self.streams[id], stream.paused else { return }
        stream.paused = false
        self.deliver(stream)
        if !stream.paused {
            self.session.consume(stream: id, count: stream.unconsumed)
            stream.unconsumed = 0
        }
        self.loop.markDirty(self)
    }

    func sendStreamMessage(_ responder: ServerStreamResponder, _ message: [UInt8]) {
        guard let stream = self.streams[responder.streamID], !stream.responded else { return }
        do {
            if !responder.headersSent {
                try self.session.submitResponse(stream: stream.id, headers: self.loop.okHeaders, body: true)
                responder.headersSent = true
            }
        } catch {
            self.loop.logger.debug(
                "cannot submit response headers", ["peer": self.peerDescription, "error": error.message])
            return
        }
        grpcFramed(message).withUnsafeBytes { self.session.append($0, to: stream.id) }
        self.loop.markDirty(self)
    }

    func finishStream(_ responder: ServerStreamResponder, status: GRPCStatus) {
        guard let stream = self.streams[responder.streamID], !stream.responded else { return }
        if !responder.headersSent {
            self.respond(stream, status: status)
        } else {
            self.markResponded(stream)
            self.session.finish(stream: stream.id, trailers: HeaderBlock(Self.statusFields(status)))
        }
        self.session.consume(stream: stream.id, count: stream.unconsumed)
        stream.unconsumed = 0
        stream.paused = false
        self.loop.markDirty(self)
    }
}
