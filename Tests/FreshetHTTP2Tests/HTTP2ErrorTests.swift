// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Tests for HTTP2Error (message, fatality) and the RFC 9113 error codes.

import Testing

@testable import FreshetHTTP2

@Suite("HTTP2Error")
struct HTTP2ErrorTests {
    static let codes: [(UInt32, UInt32)] = [
        (HTTP2ErrorCode.noError, 0x0),
        (HTTP2ErrorCode.protocolError, 0x1),
        (HTTP2ErrorCode.internalError, 0x2),
        (HTTP2ErrorCode.flowControlError, 0x3),
        (HTTP2ErrorCode.streamClosed, 0x5),
        (HTTP2ErrorCode.refusedStream, 0x7),
        (HTTP2ErrorCode.cancel, 0x8),
        (HTTP2ErrorCode.enhanceYourCalm, 0xb),
    ]

    @Test("error codes match RFC 9113 §7", arguments: codes)
    func errorCodes(code: UInt32, expected: UInt32) {
        #expect(code == expected)
    }

    @Test("the message names the operation and nghttp2's text")
    func message() {
        // NGHTTP2_ERR_BAD_CLIENT_MAGIC
        let error = HTTP2Error(libraryCode: -903, operation: "receive")
        #expect(error.message == "receive: Received bad client magic byte string")
        #expect(error.description == error.message)
        #expect(error.isFatal)
    }

    /// ``HTTP2Error/isFatal`` means "the connection must close". nghttp2 errors from -900 down are fatal; the others
    /// (a refused submit, a closed stream) cost at most one stream.
    static let fatality: [(Int32, Bool)] = [
        (-501, false),  // NGHTTP2_ERR_INVALID_ARGUMENT
        (-509, false),  // NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE
        (-510, false),  // NGHTTP2_ERR_STREAM_CLOSED
        (-505, false),  // NGHTTP2_ERR_PROTO
        (-901, true),  // NGHTTP2_ERR_NOMEM
        (-902, true),  // NGHTTP2_ERR_CALLBACK_FAILURE
        (-903, true),  // NGHTTP2_ERR_BAD_CLIENT_MAGIC
    ]

    @Test("isFatal follows nghttp2_is_fatal", arguments: fatality)
    func isFatal(code: Int32, fatal: Bool) {
        #expect(HTTP2Error(libraryCode: code, operation: "x").isFatal == fatal)
    }

    @Test("a refused submit throws a non-fatal error and leaves the session usable")
    func refusedSubmit() throws {
        let pair = try SessionPair()
        try pair.pump()
        let error = #expect(throws: HTTP2Error.self) {
            try pair.server.submitResponse(stream: 0, headers: HeaderBlock(responseHeaders), body: true)
        }
        #expect(error?.libraryCode == -501)
        #expect(error?.isFatal == false)
        #expect(pair.server.pendingBodyBytes(stream: 0) == 0)
        let stream = try pair.request()
        try pair.pump()
        #expect(pair.serverEvents.events.last == .endStream(stream: stream))
    }
}
