// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// A benchmark connection that sends prepared gRPC requests as HTTP/2 streams and reads each call's grpc-status.

internal import FreshetCore
internal import FreshetGRPC
internal import FreshetHTTP2
internal import FreshetPosix

/// The prepared requests of a gRPC run: each body already framed (5-byte prefix + message), plus the headers.
public final class GRPCPayloads {
    let headers: HeaderBlock
    let bodies: [[UInt8]]
    let rows: [Int]

    /// - Parameters:
    ///   - path: the method path (`/freshet.v1.FeatureServing/GetFeatures`).
    ///   - messages: encoded request messages and their row counts.
    public init(path: String, authority: String, messages: [(message: [UInt8], rows: Int)]) {
        self.headers = HeaderBlock(GRPCClient.standardHeaders(path: path, authority: authority))
        self.bodies = messages.map { grpcFramed($0.message) }
        self.rows = messages.map(\.rows)
    }

    public var count: Int { self.bodies.count }

    /// The framed body of request `index`.
    public func body(_ index: Int) -> [UInt8] { self.bodies[index] }
}

/// One HTTP/2 connection of a gRPC run: up to `streams` calls at once.
final class GRPCLoadConnection: BenchConnection, LoadConnection, HTTP2SessionDelegate, TimingOut {
    private let session: HTTP2Session
    private let payloads: GRPCPayloads
    private let streams: Int
    private var calls: [Int32: Call] = [:]

    private struct Call {
        var intended: ContinuousClock.Instant
        var rows: Int
        var status: Int?
        var message: String?
    }

    init(
        endpoint: Endpoint, loop: EventLoop, owner: any LoadConnectionOwner, payloads: GRPCPayloads, streams: Int
    ) throws {
        var settings = HTTP2Settings()
        settings.initialWindowSize = 4 << 20
        settings.connectionWindowSize = 64 << 20
        self.session = try HTTP2Session(role: .client, settings: settings)
        self.payloads = payloads
        self.streams = streams
        try super.init(endpoint: endpoint, loop: loop, owner: owner)
        self.session.delegate = self
    }

    var freeSlots: Int { self.isBroken ? 0 : self.streams - self.calls.count }

    func send(payload: Int, intended: ContinuousClock.Instant) {
        do {
            let stream = try self.session.submitRequest(headers: self.payloads.headers)
            self.calls[stream] = Call(intended: intended, rows: self.payloads.rows[payload], status: nil, message: nil)
            self.payloads.bodies[payload].withUnsafeBytes { self.session.append($0, to: stream) }
            self.session.finish(stream: stream, trailers: nil)
        } catch {
            self.owner.completed(
                intended: intended, rows: self.payloads.rows[payload],
                outcome: .failed("SUBMIT FAILED", detail: "\(error)"), on: self)
        }
    }

    override func prepareOutput() {
        do {
            try self.session.send { chunk in
                self.queue(chunk)
                return true
            }
        } catch {
            self.fail("HTTP/2: \(error)")
        }
    }

    override func received(_ bytes: UnsafeRawBufferPointer) throws {
        try self.session.receive(bytes)
        self.owner.markDirty(self)
    }

    override func broke(_ reason: String) {
        let calls = self.calls
        self.calls.removeAll()
        for call in calls.values {
            self.owner.completed(
                intended: call.intended, rows: call.rows, outcome: .failed("UNAVAILABLE", detail: reason), on: self)
        }
    }

    func unanswered() -> [(ContinuousClock.Instant, Int)] {
        self.calls.values.map { ($0.intended, $0.rows) }
    }

    // MARK: - HTTP2SessionDelegate

    func http2BeginHeaders(stream: Int32, kind: HTTP2HeadersKind) {}

    func http2Header(stream: Int32, kind: HTTP2HeadersKind, name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)
    {
        if name.count == 12, name.elementsEqual("grpc-message".utf8) {
            // Only failures carry a message; keep it to say why a run failed.
            self.calls[stream]?.message = percentDecodeGRPCMessage(String(decoding: value, as: UTF8.self))
            return
        }
        guard name.count == 11, name.elementsEqual("grpc-status".utf8) else { return }
        var status = 0
        for byte in value {
            guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { return }
            status = status * 10 + Int(byte - UInt8(ascii: "0"))
        }
        self.calls[stream]?.status = status
    }

    func http2HeaderListTooLarge(stream: Int32, kind: HTTP2HeadersKind, limit: Int) {}
    func http2EndHeaders(stream: Int32, kind: HTTP2HeadersKind, endStream: Bool) {}
    func http2Data(stream: Int32, bytes: UnsafeRawBufferPointer) {}
    func http2EndStream(stream: Int32) {}
    func http2SentEndStream(stream: Int32) {}

    func http2StreamClosed(stream: Int32, errorCode: UInt32) {
        guard let call = self.calls.removeValue(forKey: stream) else { return }
        let outcome: Outcome
        switch call.status {
        case 0?: outcome = .ok
        case let code?:
            outcome = .failed(GRPCStatus.Code(rawValue: code).map { "\($0)" } ?? "STATUS \(code)", detail: call.message)
        case nil:
            outcome = .failed(
                errorCode == 0 ? "NO STATUS" : "RST_STREAM \(errorCode)",
                detail: errorCode == 0
                    ? "the stream ended without a grpc-status: is the server a gRPC server?"
                    : "the server reset the stream (\(HTTP2ErrorCode.name(errorCode)))")
        }
        self.owner.completed(intended: call.intended, rows: call.rows, outcome: outcome, on: self)
    }

    func http2GoAway(lastStreamID: Int32, errorCode: UInt32) {}
}
