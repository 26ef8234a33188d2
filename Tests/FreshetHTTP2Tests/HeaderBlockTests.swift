// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Tests for HeaderBlock: the headers as given, and their order and bytes on the wire.

import Testing

@testable import FreshetHTTP2

@Suite("HeaderBlock")
struct HeaderBlockTests {
    static let lists: [[HTTP2Header]] = [
        [],
        [HTTP2Header(":status", "200")],
        [HTTP2Header("x-empty", ""), HTTP2Header("x-after-empty", "v")],
        [HTTP2Header("x-dup", "1"), HTTP2Header("x-other", "2"), HTTP2Header("x-dup", "3")],
        [HTTP2Header("x-utf8", "caf\u{00E9} \u{2615} \u{65E5}\u{672C} \u{1F600}"), HTTP2Header("x-z", "z")],
        [HTTP2Header("grpc-message", String(repeating: "m", count: 10_000))],
    ]

    @Test("keeps the headers as given", arguments: lists)
    func keepsHeaders(headers: [HTTP2Header]) {
        let block = HeaderBlock(headers)
        #expect(block.headers == headers)
        #expect(block.count == headers.count)
    }

    /// Request fields that are valid on the wire, in an order and with bytes the server must see unchanged.
    static let wireLists: [[HTTP2Header]] = [
        [HTTP2Header("x-empty", ""), HTTP2Header("x-after-empty", "v")],
        [HTTP2Header("x-dup", "1"), HTTP2Header("x-other", "2"), HTTP2Header("x-dup", "3")],
        [HTTP2Header("x-utf8", "caf\u{00E9} \u{2615} \u{65E5}\u{672C} \u{1F600}"), HTTP2Header("x-z", "z")],
        [HTTP2Header("x-trace-bin", "AAECAwQ="), HTTP2Header("grpc-timeout", "5S")],
        (0..<40).map { HTTP2Header("x-\($0)", String(repeating: "v", count: $0)) },
    ]

    @Test("fields reach the peer in order with their bytes intact", arguments: wireLists)
    func wireRoundTrip(extra: [HTTP2Header]) throws {
        let pair = try SessionPair()
        let headers = requestHeaders(extra: extra)
        let stream = try pair.request(headers)
        try pair.pump()
        let received = pair.serverEvents.events.compactMap { event -> [UInt8]? in
            guard case .header(stream, .request, let name, let value) = event else { return nil }
            return name + [0x3a] + value
        }
        #expect(received == headers.map { Array($0.name.utf8) + [0x3a] + Array($0.value.utf8) })
    }
}
