// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Tests for how HTTP2Session ends streams and connections: RST_STREAM, GOAWAY, garbage input and invalid headers.

import FreshetHTTP2
import Testing

@Suite("HTTP2Session resets, GOAWAY and protocol errors")
struct HTTP2ErrorHandlingTests {
    // MARK: - RST_STREAM

    static let resetCodes: [UInt32] = [
        HTTP2ErrorCode.cancel, HTTP2ErrorCode.refusedStream, HTTP2ErrorCode.internalError, HTTP2ErrorCode.noError,
        HTTP2ErrorCode.enhanceYourCalm,
    ]

    @Test("a reset from the server closes the client's stream with its code", arguments: resetCodes)
    func serverReset(code: UInt32) throws {
        let pair = try SessionPair()
        let stream = try pair.request(finish: false)
        try pair.pump()
        pair.server.reset(stream: stream, errorCode: code)
        try pair.pump()
        #expect(pair.clientEvents.events.last == .streamClosed(stream: stream, errorCode: code))
        #expect(pair.serverEvents.events.last == .streamClosed(stream: stream, errorCode: code))
        #expect(
            pair.serverFrames.last
                == Frame(type: Frame.rstStream, flags: 0, stream: 1, payload: [0, 0, 0, UInt8(code)]))
        #expect(pair.client.isRemoteClosed(stream: stream))
    }

    @Test("a reset from the client closes the server's stream with its code")
    func clientReset() throws {
        let pair = try SessionPair()
        let stream = try pair.request(finish: false)
        try pair.pump()
        pair.client.reset(stream: stream, errorCode: HTTP2ErrorCode.cancel)
        try pair.pump()
        #expect(pair.serverEvents.events.last == .streamClosed(stream: stream, errorCode: HTTP2ErrorCode.cancel))
        #expect(pair.server.isRemoteClosed(stream: stream))
    }

    @Test("a reset drops the body still queued on the stream")
    func resetDropsQueuedBody() throws {
        var clientSettings = HTTP2Settings()
        clientSettings.initialWindowSize = 16_384
        let pair = try SessionPair(client: clientSettings)
        let stream = try pair.request()
        try pair.pump()
        try pair.server.submitResponse(stream: stream, headers: HeaderBlock(responseHeaders), body: true)
        pair.append(patternBytes(100_000), to: stream, on: pair.server)
        _ = try drain(pair.server)  // the first window's worth, which the client never acknowledges
        #expect(pair.server.pendingBodyBytes(stream: stream) > 0)
        pair.server.reset(stream: stream, errorCode: HTTP2ErrorCode.cancel)
        try pair.pump()
        #expect(pair.server.pendingBodyBytes(stream: stream) == 0)
        #expect(pair.clientEvents.events.last == .streamClosed(stream: stream, errorCode: HTTP2ErrorCode.cancel))
        // The connection is still usable.
        let next = try pair.request()
        try pair.pump()
        #expect(pair.serverEvents.events.contains(.endStream(stream: next)))
    }

    // MARK: - GOAWAY

    @Test("GOAWAY reaches the client with the last processed stream, and the server winds down after it")
    func goAway() throws {
        let pair = try SessionPair()
        let stream = try pair.request()
        try pair.pump()
        pair.server.goAway()
        try pair.pump()
        #expect(pair.clientEvents.events.last == .goAway(lastStreamID: stream, errorCode: HTTP2ErrorCode.noError))
        // The open stream keeps the session alive until it finishes.
        #expect(pair.server.wantsRead)

        try pair.server.submitResponse(stream: stream, headers: HeaderBlock(responseHeaders + okTrailers), body: false)
        try pair.pump()
        #expect(pair.clientEvents.events.last == .streamClosed(stream: stream, errorCode: 0))
        #expect(!pair.server.wantsRead)
        #expect(!pair.server.wantsWrite)
        #expect(!pair.client.wantsRead)
        #expect(!pair.client.wantsWrite)
    }

    @Test("GOAWAY before any stream carries last stream 0 and its error code")
    func goAwayWithCode() throws {
        let pair = try SessionPair()
        try pair.pump()
        pair.server.goAway(errorCode: HTTP2ErrorCode.enhanceYourCalm)
        try pair.pump()
        #expect(pair.clientEvents.events == [.goAway(lastStreamID: 0, errorCode: HTTP2ErrorCode.enhanceYourCalm)])
        let frame = try #require(pair.serverFrames.last)
        #expect(frame.type == Frame.goAway)
        #expect(frame.lastStreamID == 0)
        #expect(frame.errorCode == HTTP2ErrorCode.enhanceYourCalm)
        #expect(!pair.server.wantsRead && !pair.server.wantsWrite)
    }

    @Test("after GOAWAY the client opens no new stream on the connection")
    func noStreamsAfterGoAway() throws {
        let pair = try SessionPair()
        try pair.pump()
        pair.server.goAway()
        try pair.pump()
        pair.serverEvents.clear()
        pair.clientEvents.clear()
        // nghttp2 takes the request, then refuses to start the stream when it comes to send it.
        let stream = try pair.request()
        try pair.pump()
        #expect(pair.clientEvents.events == [.streamClosed(stream: stream, errorCode: HTTP2ErrorCode.refusedStream)])
        #expect(!pair.clientFrames.contains { $0.type == Frame.headers })
        #expect(pair.serverEvents.events.isEmpty)
    }

    // MARK: - Garbage and protocol violations

    static let garbage: [String] = [
        "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "PRI * HTTP/1.1\r\n\r\nSM\r\n\r\n",
        String(repeating: "\u{0}", count: 24),
        "X",  // a wrong first byte fails at once, without waiting for 24 bytes
    ]

    /// RFC 9113 §3.4: an invalid preface is a connection error, and the GOAWAY may be omitted because the peer is not
    /// speaking HTTP/2. nghttp2 omits it; the caller closes on the thrown error.
    @Test("bytes that are not the HTTP/2 preface fail the session for good", arguments: garbage)
    func garbageInput(text: String) throws {
        let server = try HTTP2Session(role: .server)
        let error = #expect(throws: HTTP2Error.self) { try feed(Array(text.utf8), to: server) }
        #expect(error?.libraryCode == -903)  // NGHTTP2_ERR_BAD_CLIENT_MAGIC
        #expect(error?.message.isEmpty == false)
        #expect(error?.message.hasPrefix("receive: ") == true)
        #expect(error?.description == error?.message)
        #expect(error?.isFatal == true)
        // Only the server's own opening frames go out: nothing answers the garbage.
        let sent = frames(in: try drain(server))
        #expect(
            sent.allSatisfy { $0.stream == 0 && [Frame.settings, Frame.windowUpdate, Frame.goAway].contains($0.type) })
    }

    @Test("a frame that breaks the protocol after a valid preface ends the connection with GOAWAY PROTOCOL_ERROR")
    func protocolViolation() throws {
        let server = try HTTP2Session(role: .server)
        // A DATA frame on stream 0 is a connection error (RFC 9113 §6.1). nghttp2 handles it itself: receive
        // succeeds, a GOAWAY is queued, and the session wants no more input once it is sent.
        try feed(rawClientStart + Frame(type: Frame.data, flags: 0, stream: 0, payload: [1]).bytes, to: server)
        let output = try drain(server)
        let goAway = try #require(frames(in: output).last)
        #expect(goAway.type == Frame.goAway)
        #expect(goAway.lastStreamID == 0)
        #expect(goAway.errorCode == HTTP2ErrorCode.protocolError)
        // The same frame as raw bytes: 9-byte header with the type at byte 3, then last stream id and error code.
        let start = output.count - 9 - goAway.payload.count
        #expect(output[start + 3] == 0x7)
        #expect(Array(output[start + 5..<start + 17]) == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
        #expect(!server.wantsRead)
        #expect(!server.wantsWrite)
    }

    /// Request header lists that break RFC 9113 §8.2–8.3; each must cost only its stream.
    static let invalidRequests: [(String, [HTTP2Header])] = [
        ("no :path", requestHeaders().filter { $0.name != ":path" }),
        ("no :method", requestHeaders().filter { $0.name != ":method" }),
        ("an empty :path", requestHeaders(path: "")),
        ("an unknown pseudo-header", requestHeaders(extra: [HTTP2Header(":protocol-x", "1")])),
        ("a pseudo-header after a regular one", [HTTP2Header("x-first", "1")] + requestHeaders()),
        ("two :path fields", requestHeaders(extra: [HTTP2Header(":path", "/other")])),
        ("a connection-specific header", requestHeaders(extra: [HTTP2Header("connection", "keep-alive")])),
        ("te other than trailers", requestHeaders().map { $0.name == "te" ? HTTP2Header("te", "gzip") : $0 }),
        ("a space in a header name", requestHeaders(extra: [HTTP2Header("x bad", "1")])),
        ("a newline in a value", requestHeaders(extra: [HTTP2Header("x-bad", "a\nb")])),
        ("a NUL in a value", requestHeaders(extra: [HTTP2Header("x-bad", "a\u{0}b")])),
        ("leading whitespace in a value", requestHeaders(extra: [HTTP2Header("x-bad", " a")])),
        ("trailing whitespace in a value", requestHeaders(extra: [HTTP2Header("x-bad", "a\t")])),
    ]

    @Test(
        "invalid request headers reset the stream with PROTOCOL_ERROR and spare the connection",
        arguments: invalidRequests)
    func invalidRequestHeaders(problem: String, headers: [HTTP2Header]) throws {
        let pair = try SessionPair()
        let bad = try pair.request(headers)
        try pair.pump()
        #expect(pair.clientEvents.events.contains(.streamClosed(stream: bad, errorCode: HTTP2ErrorCode.protocolError)))
        #expect(pair.serverFrames.contains { $0.type == Frame.rstStream && $0.stream == bad && $0.errorCode == 1 })
        #expect(!pair.serverEvents.events.contains { if case .endHeaders(bad, _, _) = $0 { true } else { false } })
        #expect(!pair.serverEvents.events.contains(.endStream(stream: bad)))

        let good = try pair.request(body: [1])
        try pair.pump()
        #expect(pair.serverEvents.events.contains(.endHeaders(stream: good, kind: .request, endStream: false)))
        #expect(pair.serverEvents.events.last == .endStream(stream: good))
        #expect(!pair.serverFrames.contains { $0.type == Frame.goAway })
    }

    /// Header names nghttp2's own client cannot send (it lowercases names), so a hand-built client sends them.
    static let invalidNames: [(String, [UInt8])] = [
        ("an uppercase name", Array("X-Upper".utf8)),
        ("a non-ASCII name", [0x78, 0x2d, 0xC3, 0xA9]),
        ("a name with a colon inside", Array("x:y".utf8)),
        ("an empty name", []),
    ]

    @Test("an invalid header name from a raw client resets only its stream", arguments: invalidNames)
    func invalidHeaderName(problem: String, name: [UInt8]) throws {
        let server = try HTTP2Session(role: .server)
        let events = RecordingDelegate()
        server.delegate = events
        try feed(
            rawClientStart + rawHeaders(stream: 1, rawFields(requestHeaders()) + [(name, Array("1".utf8))]), to: server)
        let sent = frames(in: try drain(server))
        #expect(sent.contains(Frame(type: Frame.rstStream, flags: 0, stream: 1, payload: [0, 0, 0, 1])))
        #expect(!events.events.contains { if case .endHeaders(1, _, _) = $0 { true } else { false } })

        try feed(rawHeaders(stream: 3, rawFields(requestHeaders())), to: server)
        #expect(events.events.last == .endHeaders(stream: 3, kind: .request, endStream: true))
        #expect(!frames(in: try drain(server)).contains { $0.type == Frame.goAway })
        #expect(server.wantsRead)
    }

    /// ``HTTP2Settings/maxHeaderListSize`` promises that larger header lists are refused. nghttp2 only announces the
    /// setting and does not enforce it on what it receives (nghttp2/nghttp2#655), so the session has to.
    @Test("a header list over SETTINGS_MAX_HEADER_LIST_SIZE is refused")
    func headerListTooLarge() throws {
        var serverSettings = HTTP2Settings()
        serverSettings.maxHeaderListSize = 1024
        let pair = try SessionPair(server: serverSettings)
        try pair.pump()
        let bad = try pair.request(
            requestHeaders(extra: [
                HTTP2Header("x-small", "ok"), HTTP2Header("x-large", String(repeating: "a", count: 4096)),
                HTTP2Header("x-after", "dropped"),
            ]))
        try pair.pump()
        let events = pair.serverEvents.events(on: bad)
        // The fields up to the limit arrive, then one overflow report, then none of the rest; the block still ends,
        // so the layer above can answer the call with an error instead of leaving it hanging.
        #expect(events.contains(.field(bad, .request, "x-small", "ok")))
        #expect(events.contains(.headerListTooLarge(stream: bad, kind: .request, limit: 1024)))
        #expect(
            !events.contains {
                if case .header(_, _, let name, _) = $0 {
                    name == Array("x-large".utf8) || name == Array("x-after".utf8)
                } else {
                    false
                }
            })
        let overflow = try #require(
            events.firstIndex(of: .headerListTooLarge(stream: bad, kind: .request, limit: 1024)))
        let end = try #require(events.firstIndex { if case .endHeaders = $0 { true } else { false } })
        #expect(overflow < end)
        // The next header block on the connection is counted afresh.
        let good = try pair.request(requestHeaders(extra: []))
        try pair.pump()
        #expect(
            !pair.serverEvents.events(on: good).contains { if case .headerListTooLarge = $0 { true } else { false } })
    }
}
