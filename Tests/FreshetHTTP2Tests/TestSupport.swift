// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Shared helpers for the HTTP/2 tests: a recording delegate, two sessions wired back to back, and a frame parser.

import FreshetHTTP2
import Testing

// MARK: - Recording delegate

/// One delegate callback, with its arguments copied out.
enum HTTP2Event: Hashable, CustomStringConvertible {
    case beginHeaders(stream: Int32, kind: HTTP2HeadersKind)
    case header(stream: Int32, kind: HTTP2HeadersKind, name: [UInt8], value: [UInt8])
    case endHeaders(stream: Int32, kind: HTTP2HeadersKind, endStream: Bool)
    case headerListTooLarge(stream: Int32, kind: HTTP2HeadersKind, limit: Int)
    case data(stream: Int32, bytes: [UInt8])
    case endStream(stream: Int32)
    case sentEndStream(stream: Int32)
    case streamClosed(stream: Int32, errorCode: UInt32)
    case goAway(lastStreamID: Int32, errorCode: UInt32)

    /// A header event with text name and value.
    static func field(_ stream: Int32, _ kind: HTTP2HeadersKind, _ name: String, _ value: String) -> HTTP2Event {
        .header(stream: stream, kind: kind, name: Array(name.utf8), value: Array(value.utf8))
    }

    /// The events a whole header block produces: begin, one per field, end.
    static func block(
        _ stream: Int32, _ kind: HTTP2HeadersKind, _ headers: [HTTP2Header], endStream: Bool
    ) -> [HTTP2Event] {
        [.beginHeaders(stream: stream, kind: kind)] + headers.map { .field(stream, kind, $0.name, $0.value) }
            + [.endHeaders(stream: stream, kind: kind, endStream: endStream)]
    }

    var stream: Int32? {
        switch self {
        case .beginHeaders(let stream, _), .header(let stream, _, _, _), .endHeaders(let stream, _, _),
            .headerListTooLarge(let stream, _, _), .data(let stream, _), .endStream(let stream),
            .sentEndStream(let stream), .streamClosed(let stream, _):
            stream
        case .goAway:
            nil
        }
    }

    var description: String {
        switch self {
        case .beginHeaders(let stream, let kind): "begin(\(stream), \(kind))"
        case .header(let stream, let kind, let name, let value):
            "header(\(stream), \(kind), \(String(decoding: name, as: UTF8.self)): "
                + "\(String(decoding: value, as: UTF8.self)))"
        case .endHeaders(let stream, let kind, let endStream): "endHeaders(\(stream), \(kind), endStream: \(endStream))"
        case .headerListTooLarge(let stream, let kind, let limit): "headerListTooLarge(\(stream), \(kind), \(limit))"
        case .data(let stream, let bytes): "data(\(stream), \(bytes.count) bytes)"
        case .endStream(let stream): "endStream(\(stream))"
        case .sentEndStream(let stream): "sentEndStream(\(stream))"
        case .streamClosed(let stream, let errorCode): "streamClosed(\(stream), \(errorCode))"
        case .goAway(let lastStreamID, let errorCode): "goAway(\(lastStreamID), \(errorCode))"
        }
    }
}

/// Records every delegate callback, in order.
final class RecordingDelegate: HTTP2SessionDelegate {
    private(set) var events: [HTTP2Event] = []

    /// The events with consecutive DATA chunks of a stream merged, since frame boundaries are nghttp2's choice.
    var coalesced: [HTTP2Event] {
        var result: [HTTP2Event] = []
        for event in self.events {
            if case .data(let stream, let bytes) = event, case .data(stream, let earlier)? = result.last {
                result[result.count - 1] = .data(stream: stream, bytes: earlier + bytes)
            } else {
                result.append(event)
            }
        }
        return result
    }

    /// The events of one stream, coalesced.
    func events(on stream: Int32) -> [HTTP2Event] {
        self.coalesced.filter { $0.stream == stream }
    }

    /// All DATA bytes received on `stream`.
    func body(_ stream: Int32) -> [UInt8] {
        self.events.reduce(into: []) { body, event in
            if case .data(stream, let bytes) = event { body += bytes }
        }
    }

    /// How many DATA chunks arrived on `stream`.
    func dataChunks(_ stream: Int32) -> Int {
        self.events.count { if case .data(stream, _) = $0 { true } else { false } }
    }

    func clear() {
        self.events.removeAll()
    }

    func http2BeginHeaders(stream: Int32, kind: HTTP2HeadersKind) {
        self.events.append(.beginHeaders(stream: stream, kind: kind))
    }

    func http2Header(stream: Int32, kind: HTTP2HeadersKind, name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)
    {
        self.events.append(.header(stream: stream, kind: kind, name: Array(name), value: Array(value)))
    }

    func http2HeaderListTooLarge(stream: Int32, kind: HTTP2HeadersKind, limit: Int) {
        self.events.append(.headerListTooLarge(stream: stream, kind: kind, limit: limit))
    }

    func http2EndHeaders(stream: Int32, kind: HTTP2HeadersKind, endStream: Bool) {
        self.events.append(.endHeaders(stream: stream, kind: kind, endStream: endStream))
    }

    func http2Data(stream: Int32, bytes: UnsafeRawBufferPointer) {
        self.events.append(.data(stream: stream, bytes: Array(bytes)))
    }

    func http2EndStream(stream: Int32) {
        self.events.append(.endStream(stream: stream))
    }

    func http2SentEndStream(stream: Int32) {
        self.events.append(.sentEndStream(stream: stream))
    }

    func http2StreamClosed(stream: Int32, errorCode: UInt32) {
        self.events.append(.streamClosed(stream: stream, errorCode: errorCode))
    }

    func http2GoAway(lastStreamID: Int32, errorCode: UInt32) {
        self.events.append(.goAway(lastStreamID: lastStreamID, errorCode: errorCode))
    }
}

// MARK: - Two sessions back to back

/// Everything `session` has queued to send, concatenated.
func drain(_ session: HTTP2Session) throws -> [UInt8] {
    var output: [UInt8] = []
    try session.send { chunk in
        output.append(contentsOf: chunk)
        return true
    }
    return output
}

/// Feeds `bytes` to `session`.
func feed(_ bytes: [UInt8], to session: HTTP2Session) throws {
    try bytes.withUnsafeBytes { try session.receive($0) }
}

/// A client session and a server session wired `send` → `receive`, with a recording delegate on each side.
/// The pair holds the delegates, since sessions keep theirs weakly.
final class SessionPair {
    let client: HTTP2Session
    let server: HTTP2Session
    let clientEvents = RecordingDelegate()
    let serverEvents = RecordingDelegate()
    /// Every frame each side sent during ``pump()``.
    private(set) var clientFrames: [Frame] = []
    private(set) var serverFrames: [Frame] = []

    init(
        client clientSettings: HTTP2Settings = HTTP2Settings(), server serverSettings: HTTP2Settings = HTTP2Settings()
    )
        throws
    {
        self.client = try HTTP2Session(role: .client, settings: clientSettings)
        self.server = try HTTP2Session(role: .server, settings: serverSettings)
        self.client.delegate = self.clientEvents
        self.server.delegate = self.serverEvents
    }

    /// Moves bytes both ways until neither side has anything to send; returns the number of rounds that moved
    /// bytes.
    @discardableResult
    func pump() throws -> Int {
        for round in 0..<100_000 {
            let toServer = try drain(self.client)
            let toClient = try drain(self.server)
            if toServer.isEmpty && toClient.isEmpty {
                return round
            }
            self.clientFrames += frames(in: toServer)
            self.serverFrames += frames(in: toClient)
            try feed(toServer, to: self.server)
            try feed(toClient, to: self.client)
        }
        Issue.record("the sessions never went quiet")
        return -1
    }

    /// Submits a request from the client, with `body` appended and, when `finish`, the stream ended after it.
    func request(
        _ headers: [HTTP2Header] = requestHeaders(), body: [UInt8] = [], finish: Bool = true
    ) throws -> Int32 {
        let stream = try self.client.submitRequest(headers: HeaderBlock(headers))
        if !body.isEmpty {
            body.withUnsafeBytes { self.client.append($0, to: stream) }
        }
        if finish {
            self.client.finish(stream: stream, trailers: nil)
        }
        return stream
    }

    /// Appends `bytes` to `stream` on `session`.
    func append(_ bytes: [UInt8], to stream: Int32, on session: HTTP2Session) {
        bytes.withUnsafeBytes { session.append($0, to: stream) }
    }
}

/// A gRPC request's headers.
func requestHeaders(
    path: String = "/freshet.v1.FeatureService/GetFeatures", extra: [HTTP2Header] = []
)
    -> [HTTP2Header]
{
    [
        HTTP2Header(":method", "POST"),
        HTTP2Header(":scheme", "http"),
        HTTP2Header(":path", path),
        HTTP2Header(":authority", "localhost"),
        HTTP2Header("content-type", "application/grpc"),
        HTTP2Header("te", "trailers"),
    ] + extra
}

let responseHeaders = [HTTP2Header(":status", "200"), HTTP2Header("content-type", "application/grpc")]
let okTrailers = [HTTP2Header("grpc-status", "0"), HTTP2Header("grpc-message", "")]

/// The bytes `0, 1, 2, …` wrapped at 251 (a prime, so frame boundaries do not line up with the pattern).
func patternBytes(_ count: Int) -> [UInt8] {
    (0..<count).map { UInt8($0 % 251) }
}

// MARK: - Frames on the wire

/// One HTTP/2 frame (RFC 9113 §4.1).
struct Frame: Equatable {
    var type: UInt8
    var flags: UInt8
    var stream: UInt32
    var payload: [UInt8]

    static let data: UInt8 = 0x0
    static let headers: UInt8 = 0x1
    static let rstStream: UInt8 = 0x3
    static let settings: UInt8 = 0x4
    static let goAway: UInt8 = 0x7
    static let windowUpdate: UInt8 = 0x8

    /// The error code of a RST_STREAM or GOAWAY frame.
    var errorCode: UInt32? {
        switch self.type {
        case Frame.rstStream where self.payload.count == 4: Frame.uint32(self.payload[0..<4])
        case Frame.goAway where self.payload.count >= 8: Frame.uint32(self.payload[4..<8])
        default: nil
        }
    }

    /// The last stream id of a GOAWAY frame.
    var lastStreamID: UInt32? {
        self.type == Frame.goAway && self.payload.count >= 8 ? Frame.uint32(self.payload[0..<4]) & 0x7fff_ffff : nil
    }

    static func uint32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        bytes.reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// The bytes of the frame: the 9-byte header, then the payload.
    var bytes: [UInt8] {
        let length = UInt32(self.payload.count)
        return [UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff), self.type, self.flags]
            + withUnsafeBytes(of: self.stream.bigEndian) { Array($0) } + self.payload
    }
}

/// The client connection preface (RFC 9113 §3.4).
let clientPreface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

/// Splits bytes into frames, skipping a leading client preface. Records an issue on a truncated frame.
func frames(in bytes: [UInt8]) -> [Frame] {
    var offset = bytes.starts(with: clientPreface) ? clientPreface.count : 0
    var result: [Frame] = []
    while offset < bytes.count {
        guard bytes.count - offset >= 9 else {
            Issue.record("truncated frame header at byte \(offset)")
            break
        }
        let length = Int(Frame.uint32(ArraySlice([0] + bytes[offset..<offset + 3])))
        let end = offset + 9 + length
        guard end <= bytes.count else {
            Issue.record("truncated frame payload at byte \(offset)")
            break
        }
        result.append(
            Frame(
                type: bytes[offset + 3], flags: bytes[offset + 4],
                stream: Frame.uint32(bytes[offset + 5..<offset + 9]) & 0x7fff_ffff,
                payload: Array(bytes[offset + 9..<end])))
        offset = end
    }
    return result
}

// MARK: - A hand-built client

/// An HPACK integer with a `prefixBits`-bit prefix, its high bits taken from `flags` (RFC 7541 §5.1).
func hpackInteger(_ value: Int, prefixBits: Int, flags: UInt8 = 0) -> [UInt8] {
    let limit = (1 << prefixBits) - 1
    guard value >= limit else { return [flags | UInt8(value)] }
    var bytes = [flags | UInt8(limit)]
    var rest = value - limit
    while rest >= 128 {
        bytes.append(UInt8(rest % 128 + 128))
        rest /= 128
    }
    return bytes + [UInt8(rest)]
}

/// A header field as an HPACK literal without indexing and with a new name, no Huffman coding
/// (RFC 7541 §6.2.2), so that any bytes, even ones nghttp2's encoder would normalise, go on the wire as given.
func hpackLiteral(_ name: [UInt8], _ value: [UInt8]) -> [UInt8] {
    [0x00] + hpackInteger(name.count, prefixBits: 7) + name + hpackInteger(value.count, prefixBits: 7) + value
}

/// A client's first bytes: the preface and an empty SETTINGS frame.
let rawClientStart = clientPreface + Frame(type: Frame.settings, flags: 0, stream: 0, payload: []).bytes

/// A HEADERS frame with END_HEADERS (and END_STREAM when `endStream`) carrying `fields` as HPACK literals.
func rawHeaders(stream: UInt32, _ fields: [([UInt8], [UInt8])], endStream: Bool = true) -> [UInt8] {
    let block = fields.flatMap { hpackLiteral($0.0, $0.1) }
    return Frame(type: Frame.headers, flags: endStream ? 0x5 : 0x4, stream: stream, payload: block).bytes
}

/// `headers` as byte pairs, for ``rawHeaders(stream:_:endStream:)``.
func rawFields(_ headers: [HTTP2Header]) -> [([UInt8], [UInt8])] {
    headers.map { (Array($0.name.utf8), Array($0.value.utf8)) }
}
