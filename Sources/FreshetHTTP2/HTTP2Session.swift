// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// A bytes-in, bytes-out HTTP/2 session over nghttp2: the caller owns the socket, this type owns the protocol.

internal import CNGHTTP2

/// Which side of a connection a session plays.
public enum HTTP2Role: Sendable {
    case server
    case client
}

/// The kind of a header block, from nghttp2's header categories.
public enum HTTP2HeadersKind: Sendable {
    /// A client's request headers (server side).
    case request
    /// A server's response headers (client side).
    case response
    /// Trailers or any later header block.
    case trailers
}

/// SETTINGS this side announces, and local limits.
public struct HTTP2Settings: Sendable {
    /// SETTINGS_MAX_CONCURRENT_STREAMS the peer may open.
    public var maxConcurrentStreams: UInt32 = 100
    /// SETTINGS_INITIAL_WINDOW_SIZE for each stream's receive window.
    public var initialWindowSize: UInt32 = 1 << 20
    /// The connection-level receive window (raised from 64 KiB with a WINDOW_UPDATE at start).
    public var connectionWindowSize: UInt32 = 4 << 20
    /// SETTINGS_MAX_HEADER_LIST_SIZE. nghttp2 only announces it, so the session enforces it: past the limit
    /// (names + values + 32 bytes per field, RFC 9113 §6.5.2) the block's remaining fields are dropped and the
    /// delegate hears ``HTTP2SessionDelegate/http2HeaderListTooLarge(stream:kind:limit:)``.
    public var maxHeaderListSize: UInt32 = 16 << 10
    /// SETTINGS_MAX_FRAME_SIZE this side accepts.
    public var maxFrameSize: UInt32 = 16 << 10
    /// When true, received DATA opens the peer's flow-control windows again only once the owner says it has
    /// taken the bytes (``HTTP2Session/consume(stream:count:)``), so a receiver that cannot keep up stops the
    /// sender (RFC 9113 §5.2). When false, nghttp2 sends WINDOW_UPDATEs on its own as data arrives.
    public var manualFlowControl = false

    public init() {}
}

/// Receives the events of an ``HTTP2Session``. Called synchronously from ``HTTP2Session/receive(_:)`` and
/// ``HTTP2Session/send(_:)``, on the session's thread. Pointers passed in are valid only during the call.
public protocol HTTP2SessionDelegate: AnyObject {
    /// A header block starts on `stream` (for a server, a `.request` block opens a new stream).
    func http2BeginHeaders(stream: Int32, kind: HTTP2HeadersKind)
    /// One header field of the block on `stream`. nghttp2 has validated it (RFC 9113 §8.2, pseudo-header rules).
    func http2Header(stream: Int32, kind: HTTP2HeadersKind, name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)
    /// The header block on `stream` is larger than SETTINGS_MAX_HEADER_LIST_SIZE (`limit` bytes); its remaining
    /// fields are dropped. Called at most once per block, before ``http2EndHeaders(stream:kind:endStream:)``.
    func http2HeaderListTooLarge(stream: Int32, kind: HTTP2HeadersKind, limit: Int)
    /// The header block on `stream` is complete; `endStream` when the peer will send nothing more on it.
    func http2EndHeaders(stream: Int32, kind: HTTP2HeadersKind, endStream: Bool)
    /// A chunk of DATA on `stream`. It has been counted against flow control already.
    func http2Data(stream: Int32, bytes: UnsafeRawBufferPointer)
    /// The peer ended `stream` with a DATA frame carrying END_STREAM.
    func http2EndStream(stream: Int32)
    /// This side sent END_STREAM on `stream` (the response or request is complete on the wire).
    func http2SentEndStream(stream: Int32)
    /// `stream` is closed (normally, or by RST_STREAM with `errorCode`); forget it.
    func http2StreamClosed(stream: Int32, errorCode: UInt32)
    /// The peer sent GOAWAY.
    func http2GoAway(lastStreamID: Int32, errorCode: UInt32)
}

/// A body being sent on one stream: bytes given or appended by the owner and written out in DATA frames straight
/// from `bytes` (nghttp2's NO_COPY mode: no copy into nghttp2's frame buffer), then optional trailers.
///
/// While the body has no bytes and is not finished, nghttp2 defers the stream; ``HTTP2Session/resume(stream:)``
/// (called by ``HTTP2Session/append(_:to:)`` and ``HTTP2Session/finish(stream:trailers:)``) wakes it.
final class OutboundBody {
    var bytes: [UInt8]
    var offset = 0
    var finished = false
    var trailers: HeaderBlock?
    var deferred = false

    init(bytes: [UInt8] = [], finished: Bool = false, trailers: HeaderBlock? = nil) {
        self.bytes = bytes
        self.finished = finished
        self.trailers = trailers
    }

    var pending: Int { self.bytes.count - self.offset }
}

/// One HTTP/2 connection's protocol state, over nghttp2.
///
/// Bytes in: ``receive(_:)`` feeds what the socket read; the delegate sees headers, data and stream events.
/// Bytes out: ``send(_:)`` drains the frames nghttp2 has queued into the caller's closure, which writes them to the
/// socket (or buffers them). The caller must call ``send(_:)`` after every ``receive(_:)`` and every submit.
///
/// Lifetime: nghttp2 callbacks reach this object through `user_data` as an unretained pointer. They run only inside
/// ``receive(_:)`` and ``send(_:)``, that is while the caller holds a reference, so the pointer is always valid.
///
/// Thread affinity: loop-confined. Create and use a session on one thread only.
public final class HTTP2Session {
    private let session: OpaquePointer
    /// The receiver of this session's events. Not retained: the delegate (a connection) owns the session and so
    /// outlives it; `unowned(unsafe)` because a weak or checked reference costs an atomic operation on every
    /// callback, several per request.
    public unowned(unsafe) var delegate: (any HTTP2SessionDelegate)?
    private var bodies: [Int32: OutboundBody] = [:]
    /// Body buffers whose bytes have been sent, kept for ``takeRecycledBuffer()``.
    private var spareBuffers: [[UInt8]] = []
    /// The writer of the ``send(_:)`` call in progress, for DATA frames written by the NO_COPY callback.
    private var currentWrite: ((UnsafeRawBufferPointer) -> Bool)?
    /// Set by the NO_COPY callback when `currentWrite` reported a full buffer.
    private var writerFull = false
    /// The role given at creation.
    public let role: HTTP2Role
    private let maxHeaderListSize: Int
    private let manualFlowControl: Bool
    // Header blocks never interleave on a connection (RFC 9113 §6.10), so one running total is enough.
    private var headerListBytes = 0
    private var headerListOverflowed = false

    /// Creates a session and queues this side's SETTINGS (and, for a client, the connection preface).
    /// - Throws: ``HTTP2Error`` when nghttp2 cannot allocate the session.
    public init(role: HTTP2Role, settings: HTTP2Settings = HTTP2Settings()) throws(HTTP2Error) {
        self.role = role
        self.maxHeaderListSize = Int(settings.maxHeaderListSize)
        self.manualFlowControl = settings.manualFlowControl
        var callbacks: OpaquePointer?
        nghttp2_session_callbacks_new(&callbacks)
        defer { nghttp2_session_callbacks_del(callbacks) }
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, onBeginHeaders)
        nghttp2_session_callbacks_set_on_header_callback(callbacks, onHeader)
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, onFrameReceived)
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, onDataChunk)
        nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, onFrameSent)
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, onStreamClose)
        nghttp2_session_callbacks_set_send_data_callback(callbacks, onSendData)

        var option: OpaquePointer?
        nghttp2_option_new(&option)
        defer { nghttp2_option_del(option) }
        nghttp2_option_set_max_send_header_block_length(option, 64 << 10)
        // Cap the frames nghttp2 queues on its own (SETTINGS/PING ACKs) so a flood cannot grow memory.
        nghttp2_option_set_max_outbound_ack(option, 1000)
        nghttp2_option_set_max_settings(option, 32)
        if settings.manualFlowControl {
            nghttp2_option_set_no_auto_window_update(option, 1)
        }

        var created: OpaquePointer?
        let status: Int32
        switch role {
        case .server:
            status = nghttp2_session_server_new2(&created, callbacks, nil, option)
        case .client:
            status = nghttp2_session_client_new2(&created, callbacks, nil, option)
        }
        guard status == 0, let created else {
            throw HTTP2Error(libraryCode: status, operation: "nghttp2_session_new")
        }
        self.session = created
        nghttp2_session_set_user_data(created, Unmanaged.passUnretained(self).toOpaque())

        var entries = [
            nghttp2_settings_entry(
                settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue),
                value: settings.maxConcurrentStreams),
            nghttp2_settings_entry(
                settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), value: settings.initialWindowSize),
            nghttp2_settings_entry(
                settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue), value: settings.maxHeaderListSize),
            nghttp2_settings_entry(
                settings_id: Int32(NGHTTP2_SETTINGS_MAX_FRAME_SIZE.rawValue), value: settings.maxFrameSize),
        ]
        if role == .client {
            // A gRPC client never accepts server push.
            entries.append(nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_ENABLE_PUSH.rawValue), value: 0))
        }
        let submitted = nghttp2_submit_settings(created, UInt8(NGHTTP2_FLAG_NONE.rawValue), entries, entries.count)
        guard submitted == 0 else {
            nghttp2_session_del(created)
            throw HTTP2Error(libraryCode: submitted, operation: "nghttp2_submit_settings")
        }
        if settings.connectionWindowSize > 65_535 {
            _ = nghttp2_session_set_local_window_size(
                created, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, Int32(clamping: settings.connectionWindowSize))
        }
    }

    deinit {
        nghttp2_session_del(self.session)
    }

    // MARK: - Bytes in and out

    /// Processes bytes read from the socket. Delegate callbacks run during this call.
    /// - Throws: ``HTTP2Error`` when the peer broke the protocol badly enough to end the connection (for example
    ///   bytes that are not the HTTP/2 preface). nghttp2 may have queued a GOAWAY, so call ``send(_:)`` once more
    ///   before closing. Lesser violations (DATA on stream 0, say) do not throw: nghttp2 queues a GOAWAY itself, and
    ///   ``wantsRead`` turns false.
    public func receive(_ bytes: UnsafeRawBufferPointer) throws(HTTP2Error) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        let processed = nghttp2_session_mem_recv(self.session, base.assumingMemoryBound(to: UInt8.self), bytes.count)
        if processed < 0 {
            throw HTTP2Error(libraryCode: Int32(processed), operation: "receive")
        }
    }

    /// Drains queued frames into `write`, chunk by chunk, until nghttp2 has nothing more or `write` returns false
    /// (its buffer is full; call again once it has room). Chunks are valid only during the call to `write`.
    /// - Throws: ``HTTP2Error`` on a fatal session error.
    public func send(_ write: (UnsafeRawBufferPointer) -> Bool) throws(HTTP2Error) {
        let result: HTTP2Error? = withoutActuallyEscaping(write) { write in
            // DATA frames are written by the NO_COPY callback during mem_send, to the same writer, in order.
            self.currentWrite = write
            self.writerFull = false
            defer { self.currentWrite = nil }
            while true {
                var chunk: UnsafePointer<UInt8>?
                let length = nghttp2_session_mem_send(self.session, &chunk)
                if length < 0 {
                    return HTTP2Error(libraryCode: Int32(length), operation: "send")
                }
                // 0: nothing more to send, or the NO_COPY callback paused because the writer is full.
                guard length > 0, let chunk, !self.writerFull else { return nil }
                if !write(UnsafeRawBufferPointer(start: chunk, count: length)) { return nil }
            }
        }
        if let result { throw result }
    }

    /// Whether the session still wants to read (false once both sides have sent GOAWAY and streams are done).
    public var wantsRead: Bool { nghttp2_session_want_read(self.session) != 0 }
    /// Whether the session has frames to send.
    public var wantsWrite: Bool { nghttp2_session_want_write(self.session) != 0 }

    // MARK: - Submitting

    /// Submits a complete response: headers, `body` (taken over, not copied: DATA frames are written straight from
    /// it) and trailers.
    /// - Throws: ``HTTP2Error`` when the stream is gone or closed for sending.
    public func submitResponse(
        stream: Int32, headers: HeaderBlock, body: consuming [UInt8], trailers: HeaderBlock?
    )
        throws(HTTP2Error)
    {
        self.bodies[stream] = OutboundBody(bytes: body, finished: true, trailers: trailers)
        var provider = nghttp2_data_provider(source: nghttp2_data_source(ptr: nil), read_callback: onReadBody)
        let status = nghttp2_submit_response(self.session, stream, headers.fields, headers.count, &provider)
        guard status == 0 else {
            self.bodies[stream] = nil
            throw HTTP2Error(libraryCode: status, operation: "submit response")
        }
    }

    /// An empty buffer with the capacity of a body already sent on this session (or `nil`), so that the next response
    /// body is built without a fresh allocation.
    public func takeRecycledBuffer() -> [UInt8]? {
        self.spareBuffers.popLast()
    }

    /// Submits response headers on `stream`. With `body` false, the headers end the stream (a trailers-only gRPC
    /// response); otherwise a body follows through ``append(_:to:)`` and ``finish(stream:trailers:)``.
    /// - Throws: ``HTTP2Error`` when the stream is gone or closed for sending.
    public func submitResponse(stream: Int32, headers: HeaderBlock, body: Bool) throws(HTTP2Error) {
        let status: Int32
        if body {
            let outbound = OutboundBody()
            self.bodies[stream] = outbound
            var provider = nghttp2_data_provider(source: nghttp2_data_source(ptr: nil), read_callback: onReadBody)
            status = nghttp2_submit_response(self.session, stream, headers.fields, headers.count, &provider)
            if status != 0 { self.bodies[stream] = nil }
        } else {
            status = nghttp2_submit_response(self.session, stream, headers.fields, headers.count, nil)
        }
        guard status == 0 else { throw HTTP2Error(libraryCode: status, operation: "submit response") }
    }

    /// Submits a request with a body to follow through ``append(_:to:)``/``finish(stream:trailers:)``, and returns
    /// its stream id. Client sessions only.
    /// - Throws: ``HTTP2Error`` when no stream id is left or the session is going away.
    public func submitRequest(headers: HeaderBlock) throws(HTTP2Error) -> Int32 {
        precondition(self.role == .client, "submitRequest on a server session")
        let outbound = OutboundBody()
        var provider = nghttp2_data_provider(source: nghttp2_data_source(ptr: nil), read_callback: onReadBody)
        let stream = nghttp2_submit_request(self.session, nil, headers.fields, headers.count, &provider, nil)
        guard stream > 0 else { throw HTTP2Error(libraryCode: stream, operation: "submit request") }
        self.bodies[stream] = outbound
        return stream
    }

    /// Queues body bytes on a stream opened with a body. Does nothing if the stream is gone.
    public func append(_ bytes: UnsafeRawBufferPointer, to stream: Int32) {
        guard let body = self.bodies[stream], !body.finished else { return }
        if body.offset > 0 && body.offset == body.bytes.count {
            body.bytes.removeAll(keepingCapacity: true)
            body.offset = 0
        }
        body.bytes.append(contentsOf: bytes)
        self.resume(stream: stream, body: body)
    }

    /// Ends a stream's body: after the queued bytes, either END_STREAM on the last DATA frame (no trailers) or the
    /// trailers in a final HEADERS frame.
    public func finish(stream: Int32, trailers: HeaderBlock?) {
        guard let body = self.bodies[stream], !body.finished else { return }
        body.finished = true
        body.trailers = trailers
        self.resume(stream: stream, body: body)
    }

    /// Bytes queued on `stream` and not yet taken by nghttp2 (0 when the stream is gone).
    public func pendingBodyBytes(stream: Int32) -> Int {
        self.bodies[stream]?.pending ?? 0
    }

    private func resume(stream: Int32, body: OutboundBody) {
        if body.deferred {
            body.deferred = false
            _ = nghttp2_session_resume_data(self.session, stream)
        }
    }

    /// Tells nghttp2 that `count` received DATA bytes of `stream` have been taken, so it may open the stream's and
    /// the connection's windows by that much (with ``HTTP2Settings/manualFlowControl``; otherwise a no-op). For a
    /// stream that is already closed only the connection window opens. Call ``send(_:)`` afterwards.
    public func consume(stream: Int32, count: Int) {
        guard self.manualFlowControl, count > 0 else { return }
        // Counts for the connection even when the stream is gone (then only the connection window opens).
        _ = nghttp2_session_consume(self.session, stream, count)
    }

    /// Resets `stream` with an HTTP/2 error code (RFC 9113 §6.4).
    public func reset(stream: Int32, errorCode: UInt32) {
        _ = nghttp2_submit_rst_stream(self.session, UInt8(NGHTTP2_FLAG_NONE.rawValue), stream, errorCode)
    }

    /// Starts a graceful shutdown: a GOAWAY with the last stream id this side has processed, so the peer opens no
    /// more streams while the open ones finish (RFC 9113 §6.8).
    public func goAway(errorCode: UInt32 = HTTP2ErrorCode.noError) {
        let last = nghttp2_session_get_last_proc_stream_id(self.session)
        _ = nghttp2_submit_goaway(self.session, UInt8(NGHTTP2_FLAG_NONE.rawValue), last, errorCode, nil, 0)
    }

    /// Whether the peer has sent END_STREAM (or reset) on `stream`; true for unknown streams.
    public func isRemoteClosed(stream: Int32) -> Bool {
        nghttp2_session_get_stream_remote_close(self.session, stream) != 0
            || nghttp2_session_find_stream(self.session, stream) == nil
    }

    // MARK: - Callbacks (called by nghttp2 during receive/send)

    /// Tells nghttp2 how much of the body goes in the next DATA frame, without copying (NGHTTP2_DATA_FLAG_NO_COPY):
    /// ``sendData(_:frameHeader:length:)`` writes the bytes themselves.
    fileprivate func readBody(stream: Int32, length: Int, flags: UnsafeMutablePointer<UInt32>) -> Int {
        guard let body = self.bodies[stream] else {
            return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue)
        }
        let count = min(length, body.pending)
        if count == 0 && !body.finished {
            body.deferred = true
            return Int(NGHTTP2_ERR_DEFERRED.rawValue)
        }
        flags.pointee |= NGHTTP2_DATA_FLAG_NO_COPY.rawValue
        if body.finished && count == body.pending {
            flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
            if let trailers = body.trailers {
                flags.pointee |= NGHTTP2_DATA_FLAG_NO_END_STREAM.rawValue
                _ = nghttp2_submit_trailer(self.session, stream, trailers.fields, trailers.count)
            }
        }
        return count
    }

    /// Writes one DATA frame (its 9-byte header, then `length` body bytes) for the NO_COPY mode.
    fileprivate func sendData(stream: Int32, frameHeader: UnsafePointer<UInt8>, length: Int) -> Int32 {
        guard let body = self.bodies[stream], let write = self.currentWrite, body.pending >= length else {
            return NGHTTP2_ERR_CALLBACK_FAILURE.rawValue
        }
        var room = write(UnsafeRawBufferPointer(start: frameHeader, count: 9))
        if length > 0 {
            room =
                body.bytes.withUnsafeBytes { bytes in
                    write(UnsafeRawBufferPointer(rebasing: bytes[body.offset..<body.offset + length]))
                } && room
        }
        body.offset += length
        if body.pending == 0 {
            if body.finished {
                self.bodies[stream] = nil
                if self.spareBuffers.count < 4 && body.bytes.capacity <= 1 << 20 {
                    body.bytes.removeAll(keepingCapacity: true)
                    self.spareBuffers.append(body.bytes)
                }
            } else {
                body.bytes.removeAll(keepingCapacity: true)
                body.offset = 0
            }
        }
        if !room {
            self.writerFull = true
            return NGHTTP2_ERR_PAUSE.rawValue
        }
        return 0
    }

    fileprivate func headersKind(_ frame: UnsafePointer<nghttp2_frame>) -> HTTP2HeadersKind {
        switch frame.pointee.headers.cat {
        case NGHTTP2_HCAT_REQUEST: .request
        case NGHTTP2_HCAT_RESPONSE: .response
        default: .trailers
        }
    }

    fileprivate func beginHeaders(_ frame: UnsafePointer<nghttp2_frame>) {
        self.headerListBytes = 0
        self.headerListOverflowed = false
        self.delegate?.http2BeginHeaders(stream: frame.pointee.hd.stream_id, kind: self.headersKind(frame))
    }

    fileprivate func header(
        _ frame: UnsafePointer<nghttp2_frame>, name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer
    ) {
        guard !self.headerListOverflowed else { return }
        self.headerListBytes += name.count + value.count + 32
        let stream = frame.pointee.hd.stream_id
        if self.headerListBytes > self.maxHeaderListSize {
            self.headerListOverflowed = true
            self.delegate?.http2HeaderListTooLarge(
                stream: stream, kind: self.headersKind(frame), limit: self.maxHeaderListSize)
            return
        }
        self.delegate?.http2Header(stream: stream, kind: self.headersKind(frame), name: name, value: value)
    }

    fileprivate func frameReceived(_ frame: UnsafePointer<nghttp2_frame>) {
        let header = frame.pointee.hd
        let endStream = header.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
        switch UInt32(header.type) {
        case NGHTTP2_HEADERS.rawValue:
            self.delegate?.http2EndHeaders(
                stream: header.stream_id, kind: self.headersKind(frame), endStream: endStream)
        case NGHTTP2_DATA.rawValue:
            if endStream { self.delegate?.http2EndStream(stream: header.stream_id) }
        case NGHTTP2_GOAWAY.rawValue:
            self.delegate?.http2GoAway(
                lastStreamID: frame.pointee.goaway.last_stream_id, errorCode: frame.pointee.goaway.error_code)
        default:
            break
        }
    }

    fileprivate func frameSent(_ frame: UnsafePointer<nghttp2_frame>) {
        let header = frame.pointee.hd
        let type = UInt32(header.type)
        if (type == NGHTTP2_HEADERS.rawValue || type == NGHTTP2_DATA.rawValue)
            && header.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
        {
            self.delegate?.http2SentEndStream(stream: header.stream_id)
        }
    }

    fileprivate func streamClosed(_ stream: Int32, errorCode: UInt32) {
        self.bodies[stream] = nil
        self.delegate?.http2StreamClosed(stream: stream, errorCode: errorCode)
    }
}

// MARK: - C trampolines
// Each recovers the session from user_data (see the lifetime note on HTTP2Session) and forwards to it.

/// Calls `body` with the session behind `user_data`, without retaining it: the caller of mem_recv/mem_send holds it
/// for the whole call (see the lifetime note on HTTP2Session), and a retain/release pair per callback was a
/// measurable share of each request.
@inline(__always)
private func withOwner<R>(_ userData: UnsafeMutableRawPointer?, _ body: (HTTP2Session) -> R) -> R {
    Unmanaged<HTTP2Session>.fromOpaque(userData!)._withUnsafeGuaranteedRef(body)
}

private let onBeginHeaders: nghttp2_on_begin_headers_callback = { _, frame, userData in
    guard let frame else { return 0 }
    withOwner(userData) { $0.beginHeaders(frame) }
    return 0
}

private let onHeader: nghttp2_on_header_callback = { _, frame, name, nameLength, value, valueLength, _, userData in
    guard let frame else { return 0 }
    withOwner(userData) {
        $0.header(
            frame, name: UnsafeRawBufferPointer(start: name, count: nameLength),
            value: UnsafeRawBufferPointer(start: value, count: valueLength))
    }
    return 0
}

private let onFrameReceived: nghttp2_on_frame_recv_callback = { _, frame, userData in
    guard let frame else { return 0 }
    withOwner(userData) { $0.frameReceived(frame) }
    return 0
}

private let onFrameSent: nghttp2_on_frame_send_callback = { _, frame, userData in
    guard let frame else { return 0 }
    withOwner(userData) { $0.frameSent(frame) }
    return 0
}

private let onDataChunk: nghttp2_on_data_chunk_recv_callback = { _, _, stream, data, length, userData in
    withOwner(userData) {
        $0.delegate?.http2Data(stream: stream, bytes: UnsafeRawBufferPointer(start: data, count: length))
    }
    return 0
}

private let onStreamClose: nghttp2_on_stream_close_callback = { _, stream, errorCode, userData in
    withOwner(userData) { $0.streamClosed(stream, errorCode: errorCode) }
    return 0
}

private let onReadBody: nghttp2_data_source_read_callback = { _, stream, _, length, flags, _, userData in
    withOwner(userData) { $0.readBody(stream: stream, length: length, flags: flags!) }
}

private let onSendData: nghttp2_send_data_callback = { _, frame, frameHeader, length, _, userData in
    guard let frame, let frameHeader else { return NGHTTP2_ERR_CALLBACK_FAILURE.rawValue }
    return withOwner(userData) {
        $0.sendData(stream: frame.pointee.hd.stream_id, frameHeader: frameHeader, length: length)
    }
}
