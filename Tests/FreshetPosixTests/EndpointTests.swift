// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Tests for parsing and printing `HOST:PORT` endpoints.

import Testing

@testable import FreshetPosix

@Suite("Endpoint parsing")
struct EndpointTests {
    static let valid: [(text: String, host: String, port: UInt16)] = [
        ("127.0.0.1:50051", "127.0.0.1", 50051),
        ("localhost:0", "localhost", 0),
        ("[::1]:8080", "::1", 8080),
        ("[fe80::1%eth0]:443", "fe80::1%eth0", 443),
        (":50051", "", 50051),
        ("*:80", "", 80),
        ("[::]:65535", "::", 65535),
        ("feature-store.internal:1", "feature-store.internal", 1),
        ("0.0.0.0:00080", "0.0.0.0", 80),
    ]

    @Test("parses HOST:PORT", arguments: EndpointTests.valid)
    func parses(text: String, host: String, port: UInt16) throws {
        let endpoint = try Endpoint(parsing: text)
        #expect(endpoint == Endpoint(host: host, port: port))
    }

    @Test("the description parses back to the same endpoint", arguments: EndpointTests.valid)
    func descriptionRoundTrip(text: String, host: String, port: UInt16) throws {
        let endpoint = Endpoint(host: host, port: port)
        #expect(try Endpoint(parsing: endpoint.description) == endpoint)
    }

    static let descriptions: [(Endpoint, String)] = [
        (Endpoint(host: "127.0.0.1", port: 50051), "127.0.0.1:50051"),
        (Endpoint(host: "::1", port: 8080), "[::1]:8080"),
        (Endpoint(host: "", port: 80), ":80"),
        (Endpoint(host: "localhost", port: 0), "localhost:0"),
    ]

    @Test("prints HOST:PORT, bracketing IPv6 literals", arguments: EndpointTests.descriptions)
    func description(endpoint: Endpoint, expected: String) {
        #expect(endpoint.description == expected)
    }

    static let invalid: [(text: String, reason: String)] = [
        ("127.0.0.1", "expected HOST:PORT"),
        ("", "expected HOST:PORT"),
        ("127.0.0.1:", "port '' is not a number from 0 to 65535"),
        ("host:70000", "port '70000' is not a number from 0 to 65535"),
        ("host:65536", "port '65536' is not a number from 0 to 65535"),
        ("host:http", "port 'http' is not a number from 0 to 65535"),
        ("host:80a", "port '80a' is not a number from 0 to 65535"),
        ("host: 80", "port ' 80' is not a number from 0 to 65535"),
        ("host:\u{FF18}\u{FF10}", "port '\u{FF18}\u{FF10}' is not a number from 0 to 65535"),
        // Swift's integer parser takes a sign; a port is digits only.
        ("host:+80", "port '+80' is not a number from 0 to 65535"),
        ("host:-0", "port '-0' is not a number from 0 to 65535"),
        ("::1:80", "an IPv6 address must be in brackets, as in [::1]:50051"),
        ("[::1]80", "expected ':PORT' after ']'"),
        ("[::1]", "expected ':PORT' after ']'"),
        ("[::1:80", "missing ']' after the IPv6 address"),
        ("[::1]:", "port '' is not a number from 0 to 65535"),
    ]

    @Test("rejects malformed text, naming it", arguments: EndpointTests.invalid)
    func rejects(text: String, reason: String) {
        let error = #expect(throws: EndpointError.self) { try Endpoint(parsing: text) }
        #expect(error == EndpointError(text: text, reason: reason))
        #expect(error?.description == "invalid address '\(text)': \(reason)")
    }
}
