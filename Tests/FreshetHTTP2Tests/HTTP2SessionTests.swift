// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Tests for HTTP2Session requests and responses: two in-process sessions wired send → receive, no sockets.

import FreshetHTTP2
import Testing

@Suite("HTTP2Session requests and responses")
struct HTTP2SessionTests {
    @Test("the connection preface and SETTINGS settle with no delegate events")
    func handshake() throws {
        let pair = try SessionPair()
        let rounds = try pair.pump()
        #expect(rounds > 0)
        #expect(pair.clientEvents.events.isEmpty)
        #expect(pair.serverEvents.events.isEmpty)
        #expect(pair.clientFrames.first?.type == Frame.settings)
        #expect(pair.serverFrames.first?.type == Frame.settings)
        #expect(!pair.client.wantsWrite && !pair.server.wantsWrite)
        #expect(pair.client.wantsRead && pair.server.wantsRead)
    }

    @Test("a request arrives as begin, headers, endHeaders, data and endStream, in order")
    func requestArrives() throws {
        let pair = try SessionPair()
        let headers = requestHeaders(extra: [HTTP2Header("grpc-timeout", "100m")])
        let body = Array("\u{0}\u{0}\u{0}\u{0}\u{3}abc".utf8)
        let stream = try pair.request(headers, body: body)
        #expect(stream == 1)
        try pair.pump()
        #expect(
            pair.serverEvents.coalesced
                == HTTP2Event.block(1, .request, headers, endStream: false) + [
                    .data(stream: 1, bytes: body), .endStream(stream: 1),
                ])
        #expect(pair.clientEvents.events == [.sentEndStream(stream: 1)])
        #expect(pair.server.isRemoteClosed(stream: 1))
    }

    @Test("a request without a body ends with an empty DATA frame")
    func emptyRequest() throws {
        let pair = try SessionPair()
        _ = try pair.request(body: [])
        try pair.pump()
        #expect(
            pair.serverEvents.coalesced
                == HTTP2Event.block(1, .request, requestHeaders(), endStream: false) + [.endStream(stream: 1)])
        #expect(pair.server.isRemoteClosed(stream: 1))
    }

    @Test("client streams get odd ids in order")
    func streamIDs() throws {
        let pair = try SessionPair()
        let streams = try (0..<3).map { _ in try pair.request() }
        #expect(streams == [1, 3, 5])
        try pair.pump()
        let opened = pair.serverEvents.events.compactMap { event -> Int32? in
            if case .endStream(let stream) = event { stream } else { nil }
        }
        #expect(opened == [1, 3, 5])
    }

    @Test("a response with a body and trailers reaches the client intact")
    func responseWithTrailers() throws {
        let pair = try SessionPair()
        let stream = try pair.request(body: [1, 2, 3])
        try pair.pump()
        pair.serverEvents.clear()

        let body = patternBytes(1000)
        try pair.server.submitResponse(stream: stream, headers: HeaderBlock(responseHeaders), body: true)
        pair.append(body, to: stream, on: pair.server)
        pair.server.finish(stream: stream, trailers: HeaderBlock(okTrailers))
        try pair.pump()

        #expect(
            pair.clientEvents.events(on: stream)
                == [.sentEndStream(stream: 1)] + HTTP2Event.block(1, .response, responseHeaders, endStream: false)
                + [.data(stream: 1, bytes: body)] + HTTP2Event.block(1, .trailers, okTrailers, endStream: true)
                + [.streamClosed(stream: 1, errorCode: 0)])
        #expect(pair.serverEvents.events == [.sentEndStream(stream: 1), .streamClosed(stream: 1, errorCode: 0)])
        #expect(pair.server.pendingBodyBytes(stream: stream) == 0)
    }

    @Test("a response finished without trailers ends the stream on the last DATA frame")
    func responseWithoutTrailers() throws {
        let pair = try SessionPair()
        let stream = try pair.request()
        try pair.pump()
        try pair.server.submitResponse(stream: stream, headers: HeaderBlock(responseHeaders), body: true)
        pair.append([7, 7, 7], to: stream, on: pair.server)
        pair.server.finish(stream: stream, trailers: nil)
        try pair.pump()
        let received = pair.clientEvents.events(on: stream).filter { $0 != .sentEndStream(stream: 1) }
        #expect(
            received
                == HTTP2Event.block(1, .response, responseHeaders, endStream: false) + [
                    .data(stream: 1, bytes: [7, 7, 7]), .endStream(stream: 1), .streamClosed(stream: 1, errorCode: 0),
                ])
        let lastData = pair.serverFrames.last { $0.type == Frame.data }
        #expect(lastData?.flags == 0x1)  // END_STREAM
    }

    @Test("a trailers-only response ends the stream in its headers")
    func trailersOnly() throws {
        let pair = try SessionPair()
        let stream = try pair.request()
        try pair.pump()
        pair.serverEvents.clear()
        let headers = responseHeaders + [HTTP2Header("grpc-status", "12"), HTTP2Header("grpc-message", "unknown")]
        try pair.server.submitResponse(stream: stream, headers: HeaderBlock(headers), body: false)
        try pair.pump()
        #expect(
            pair.clientEvents.events(on: stream)
                == [.sentEndStream(stream: 1)] + HTTP2Event.block(1, .response, headers, endStream: true) + [
                    .streamClosed(stream: 1, errorCode: 0)
                ])
        #expect(pair.serverEvents.events == [.sentEndStream(stream: 1), .streamClosed(stream: 1, errorCode: 0)])
        #expect(!pair.serverFrames.contains { $0.type == Frame.data })
        let responseFrame = pair.serverFrames.last { $0.type == Frame.headers }
        #expect(responseFrame.map { $0.flags & 0x1 != 0 } == true)  // END_STREAM on the HEADERS frame
    }

    @Test("a deferred body: headers go out first, and each later append is sent when it comes")
    func deferredBody() throws {
        let pair = try SessionPair()
        let stream = try pair.request()
        try pair.pump()

        try pair.server.submitResponse(stream: stream, headers: HeaderBlock(responseHeaders), body: true)
        try pair.pump()
        #expect(
            pair.clientEvents.events(on: stream).filter { $0 != .sentEndStream(stream: 1) }
                == HTTP2Event.block(1, .response, responseHeaders, endStream: false))
        #expect(!pair.server.wantsWrite)
        #expect(pair.server.pendingBodyBytes(stream: stream) == 0)

        pair.append(Array("abc".utf8), to: stream, on: pair.server)
        #expect(pair.server.pendingBodyBytes(stream: stream) == 3)
        #expect(pair.server.wantsWrite)
        try pair.pump()
        #expect(pair.clientEvents.body(stream) == Array("abc".utf8))
        #expect(pair.server.pendingBodyBytes(stream: stream) == 0)

        pair.append(Array("def".utf8), to: stream, on: pair.server)
        try pair.pump()
        #expect(pair.clientEvents.body(stream) == Array("abcdef".utf8))
        #expect(!pair.clientEvents.events.contains(.streamClosed(stream: 1, errorCode: 0)))

        pair.server.finish(stream: stream, trailers: HeaderBlock(okTrailers))
        try pair.pump()
        #expect(
            Array(pair.clientEvents.events(on: stream).suffix(okTrailers.count + 3))
                == HTTP2Event.block(1, .trailers, okTrailers, endStream: true) + [
                    .streamClosed(stream: 1, errorCode: 0)
                ])
        #expect(pair.clientEvents.body(stream) == Array("abcdef".utf8))
    }

    @Test("a deferred request body from the client resumes on append")
    func deferredRequestBody() throws {
        let pair = try SessionPair()
        let stream = try pair.request(finish: false)
        try pair.pump()
        #expect(!pair.server.isRemoteClosed(stream: stream))
        #expect(pair.serverEvents.events.last == .endHeaders(stream: 1, kind: .request, endStream: false))
        pair.append([1, 2], to: stream, on: pair.client)
        try pair.pump()
        pair.append([3], to: stream, on: pair.client)
        pair.client.finish(stream: stream, trailers: nil)
        try pair.pump()
        #expect(pair.serverEvents.body(stream) == [1, 2, 3])
        #expect(pair.serverEvents.events.last == .endStream(stream: 1))
        #expect(pair.server.isRemoteClosed(stream: stream))
    }

    /// Sizes past the 16 KiB frame size, the 64 KiB default windows and the 1 MiB stream window Freshet announces.
    static let largeBodies: [(size: Int, smallWindows: Bool)] = [
        (300 * 1024, false),
        (300 * 1024, true),
        (2 << 20, false),
    ]

    @Test("a large response body arrives intact across frames and flow-control windows", arguments: largeBodies)
    func largeResponse(size: Int, smallWindows: Bool) throws {
        var clientSettings = HTTP2Settings()
        if smallWindows {
            clientSettings.initialWindowSize = 16_384
            clientSettings.connectionWindowSize = 65_535
        }
        let pair = try SessionPair(client: clientSettings)
        let stream = try pair.request()
        try pair.pump()

        let body = patternBytes(size)
        try pair.server.submitResponse(stream: stream, headers: HeaderBlock(responseHeaders), body: true)
        pair.append(body, to: stream, on: pair.server)
        pair.server.finish(stream: stream, trailers: HeaderBlock(okTrailers))
        let rounds = try pair.pump()

        #expect(pair.clientEvents.body(stream) == body)
        #expect(pair.clientEvents.dataChunks(stream) >= size / 16_384)
        #expect(pair.clientEvents.events.last == .streamClosed(stream: 1, errorCode: 0))
        // nghttp2 returns a stream's window once half of it is used: past 8 KiB with small windows, 512 KiB otherwise.
        if smallWindows || size > 512 * 1024 {
            #expect(pair.clientFrames.contains { $0.type == Frame.windowUpdate && $0.stream == 1 })
        }
        if smallWindows {
            #expect(rounds > size / 65_535)
        }
    }

    @Test("a large request body arrives intact across flow-control windows", arguments: [false, true])
    func largeRequest(smallWindows: Bool) throws {
        var serverSettings = HTTP2Settings()
        if smallWindows {
            serverSettings.initialWindowSize = 16_384
            serverSettings.connectionWindowSize = 65_535
        }
        let pair = try SessionPair(server: serverSettings)
        let body = patternBytes(300 * 1024)
        let stream = try pair.request(body: body)
        try pair.pump()
        #expect(pair.serverEvents.body(stream) == body)
        #expect(pair.serverEvents.events.last == .endStream(stream: 1))
    }

    @Test("a body appended in many small pieces between pumps arrives in order")
    func manySmallAppends() throws {
        let pair = try SessionPair()
        let stream = try pair.request()
        try pair.pump()
        try pair.server.submitResponse(stream: stream, headers: HeaderBlock(responseHeaders), body: true)
        let body = patternBytes(50_000)
        var offset = 0
        var size = 1
        while offset < body.count {
            let end = min(body.count, offset + size)
            pair.append(Array(body[offset..<end]), to: stream, on: pair.server)
            if size % 3 == 0 { try pair.pump() }
            offset = end
            size = size * 2 % 7001 + 1
        }
        pair.server.finish(stream: stream, trailers: HeaderBlock(okTrailers))
        try pair.pump()
        #expect(pair.clientEvents.body(stream) == body)
        #expect(pair.clientEvents.events.last == .streamClosed(stream: 1, errorCode: 0))
    }

    @Test("append and finish on an unknown stream do nothing")
    func appendToUnknownStream() throws {
        let pair = try SessionPair()
        try pair.pump()
        pair.append([1, 2, 3], to: 99, on: pair.server)
        pair.server.finish(stream: 99, trailers: nil)
        #expect(pair.server.pendingBodyBytes(stream: 99) == 0)
        #expect(try pair.pump() == 0)
        #expect(pair.clientEvents.events.isEmpty && pair.serverEvents.events.isEmpty)
    }

    @Test("bytes appended after finish are ignored")
    func appendAfterFinish() throws {
        let pair = try SessionPair()
        let stream = try pair.request()
        try pair.pump()
        try pair.server.submitResponse(stream: stream, headers: HeaderBlock(responseHeaders), body: true)
        pair.append([1], to: stream, on: pair.server)
        pair.server.finish(stream: stream, trailers: HeaderBlock(okTrailers))
        pair.append([2], to: stream, on: pair.server)
        pair.server.finish(stream: stream, trailers: nil)
        try pair.pump()
        #expect(pair.clientEvents.body(stream) == [1])
        #expect(pair.clientEvents.events.contains(.endHeaders(stream: 1, kind: .trailers, endStream: true)))
    }

    @Test("one HeaderBlock serves many responses")
    func reusedHeaderBlock() throws {
        let pair = try SessionPair()
        let streams = try (0..<3).map { _ in try pair.request() }
        try pair.pump()
        let headers = HeaderBlock(responseHeaders)
        let trailers = HeaderBlock(okTrailers)
        for stream in streams {
            try pair.server.submitResponse(stream: stream, headers: headers, body: true)
            pair.append([UInt8(stream)], to: stream, on: pair.server)
            pair.server.finish(stream: stream, trailers: trailers)
        }
        try pair.pump()
        for stream in streams {
            #expect(pair.clientEvents.body(stream) == [UInt8(stream)])
            #expect(pair.clientEvents.events.contains(.streamClosed(stream: stream, errorCode: 0)))
            #expect(
                pair.clientEvents.events(on: stream).filter { $0 == .field(stream, .response, ":status", "200") }.count
                    == 1)
        }
    }

    @Test("isRemoteClosed follows the peer's END_STREAM, and is true for unknown streams")
    func remoteClosed() throws {
        let pair = try SessionPair()
        #expect(pair.server.isRemoteClosed(stream: 1))
        let stream = try pair.request(finish: false)
        try pair.pump()
        #expect(!pair.server.isRemoteClosed(stream: stream))
        #expect(pair.server.isRemoteClosed(stream: 99))
        pair.client.finish(stream: stream, trailers: nil)
        try pair.pump()
        #expect(pair.server.isRemoteClosed(stream: stream))
    }

    @Test("the server's MAX_CONCURRENT_STREAMS holds further client streams back")
    func maxConcurrentStreams() throws {
        var serverSettings = HTTP2Settings()
        serverSettings.maxConcurrentStreams = 1
        let pair = try SessionPair(server: serverSettings)
        try pair.pump()  // the client learns the limit
        let first = try pair.request()
        let second = try pair.request()
        try pair.pump()
        #expect(pair.serverEvents.events.contains(.endStream(stream: first)))
        #expect(!pair.serverEvents.events.contains { $0.stream == second })

        try pair.server.submitResponse(stream: first, headers: HeaderBlock(responseHeaders + okTrailers), body: false)
        try pair.pump()
        #expect(pair.serverEvents.events.contains(.endStream(stream: second)))
    }

    @Test("submitRequest on a server session traps")
    func submitRequestOnServerTraps() async {
        await #expect(processExitsWith: .failure) {
            let server = try HTTP2Session(role: .server)
            _ = try server.submitRequest(headers: HeaderBlock(requestHeaders()))
        }
    }
}
