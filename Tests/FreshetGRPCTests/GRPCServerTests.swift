// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// The gRPC transport end to end on loopback: a real GRPCServer with test handlers, driven by GRPCClient.

import FreshetCore
import FreshetGRPC
import FreshetHTTP2
import FreshetPosix
import Testing

/// Starts a server with an echo method and a method that always fails, on a free port.
private func withServer<R>(
    threads: Int = 2, maxMessageBytes: Int = 1 << 20, bufferedPerConnection: Int = 16 << 20,
    _ body: (Endpoint) throws -> R
) throws -> R {
    var configuration = GRPCServerConfiguration(endpoint: Endpoint(host: "127.0.0.1", port: 0), threads: threads)
    configuration.maxMessageBytes = maxMessageBytes
    configuration.maxBufferedRequestBytesPerConnection = bufferedPerConnection
    let server = GRPCServer(configuration: configuration, logger: Logger(level: .error)) { _ in
        let router = Router()
        router.addUnary("/test.Echo/Echo") { request, _, response in
            response.append(contentsOf: request)
        }
        router.addUnary("/test.Echo/Fail") { _, _, _ throws(GRPCStatus) in
            throw GRPCStatus(.failedPrecondition, "always fails: 100% sure\nsecond line")
        }
        router.addUnary("/test.Echo/Big") { request, _, response in
            response.append(contentsOf: [UInt8](repeating: 7, count: Int(request.first ?? 1) * 100_000))
        }
        return router
    }
    try server.start()
    defer {
        server.shutdown(graceful: false)
        server.wait()
    }
    return try body(server.endpoint)
}

@Suite("GRPC server on loopback")
struct GRPCServerTests {
    @Test func echoRoundTrip() throws {
        try withServer { endpoint in
            let client = try GRPCClient(endpoint: endpoint)
            for size in [0, 1, 100, 16_384, 70_000, 300_000] {
                let request = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31) }
                let response = try client.unary(path: "/test.Echo/Echo", request: request)
                #expect(response.status.code == .ok)
                #expect(response.statusFromServer)
                #expect(response.messages == [request])
                #expect(response.header("content-type") == "application/grpc")
            }
        }
    }

    @Test func aSecondServerCannotTakeTheSamePort() throws {
        // Regression: with SO_REUSEPORT set before bind on every listener, a second server on the same port started
        // silently and the kernel split connections between the two.
        try withServer(threads: 2) { endpoint throws in
            let second = GRPCServer(
                configuration: GRPCServerConfiguration(endpoint: endpoint, threads: 2), logger: Logger(level: .error)
            ) { _ in Router() }
            #expect {
                try second.start()
            } throws: { error in
                (error as? SystemError)?.errno == 98
            }
            // The first server still answers on every connection.
            for _ in 0..<8 {
                #expect(
                    try GRPCClient(endpoint: endpoint).unary(path: "/test.Echo/Echo", request: [7]).messages == [[7]])
            }
        }
    }

    @Test func unfinishedRequestsCannotHoldUnboundedMemory() throws {
        // Regression: streams that each declared a message under the limit, sent most of it and never finished made
        // the server hold all of it (1.1 GB from 3 connections). Now a connection holds at most its budget.
        try withServer(maxMessageBytes: 1 << 20, bufferedPerConnection: 2 << 20) { endpoint in
            let client = try GRPCClient(endpoint: endpoint)
            let headers = GRPCClient.standardHeaders(path: "/test.Echo/Echo", authority: "test")
            let almost = [UInt8](repeating: 1, count: 900_000)
            let body = [0, 0x00, 0x0f, 0x42, 0x40] + almost  // declares 1,000,000 bytes, sends 900,000
            let first = try client.start(headers: headers, body: body, endStream: false)
            let second = try client.start(headers: headers, body: body, endStream: false)
            let third = try client.start(headers: headers, body: body, endStream: false)
            let refused = try client.finish(third, wait: .seconds(5))
            #expect(refused.status.code == .resourceExhausted, "\(refused.status)")
            #expect(refused.status.message.contains("unfinished request data"))
            // The first two are still open (the server waits for the rest); cancel them and the budget comes back.
            #expect(try client.finish(first, wait: .milliseconds(200)).statusFromServer == false)
            #expect(try client.finish(second, wait: .milliseconds(200)).statusFromServer == false)
            let again = try client.start(headers: headers, body: body, endStream: false)
            #expect(try client.finish(again, wait: .milliseconds(200)).statusFromServer == false)
            #expect(try client.unary(path: "/test.Echo/Echo", request: almost).messages == [almost])
        }
    }

    @Test func largeResponseSpansManyFrames() throws {
        try withServer { endpoint in
            let client = try GRPCClient(endpoint: endpoint)
            let response = try client.unary(path: "/test.Echo/Big", request: [9])
            #expect(response.status.code == .ok)
            #expect(response.messages.first?.count == 900_000)
        }
    }

    @Test func unknownMethodIsUnimplemented() throws {
        try withServer { endpoint in
            let client = try GRPCClient(endpoint: endpoint)
            let response = try client.unary(path: "/test.Echo/Nope", request: [1])
            #expect(response.status.code == .unimplemented)
            #expect(response.status.message.contains("/test.Echo/Nope"))
        }
    }

    @Test func handlerErrorReachesClientWithEncodedMessage() throws {
        try withServer { endpoint in
            let client = try GRPCClient(endpoint: endpoint)
            let response = try client.unary(path: "/test.Echo/Fail", request: [])
            #expect(response.status == GRPCStatus(.failedPrecondition, "always fails: 100% sure\nsecond line"))
            #expect(response.header("grpc-message") == "always fails: 100%25 sure%0Asecond line")
        }
    }

    @Test func oversizedMessageIsRefusedFromItsPrefix() throws {
        try withServer(maxMessageBytes: 1000) { endpoint in
            let client = try GRPCClient(endpoint: endpoint)
            // Declare 10 MB but send only the prefix and 10 bytes, leaving the stream open: the server must answer
            // from the prefix alone, without waiting for (or buffering) the rest.
            var body: [UInt8] = [0, 0x00, 0x98, 0x96, 0x80]
            body += [UInt8](repeating: 1, count: 10)
            let headers = GRPCClient.standardHeaders(path: "/test.Echo/Echo", authority: "test")
            let response = try client.call(headers: headers, body: body, endStream: false, wait: .seconds(5))
            #expect(response.status.code == .resourceExhausted)
            #expect(response.status.message.contains("10000000"))
            // The connection still works.
            #expect(try client.unary(path: "/test.Echo/Echo", request: [1, 2]).messages == [[1, 2]])
        }
    }

    @Test(arguments: [
        ("content-type", "application/json", GRPCStatus.Code.invalidArgument, 415),
        ("content-type", "application/grpc+json", GRPCStatus.Code.invalidArgument, 415),
        ("content-type", "application/grpcx", GRPCStatus.Code.invalidArgument, 415),
        ("grpc-encoding", "gzip", GRPCStatus.Code.unimplemented, 200),
        ("grpc-timeout", "abc", GRPCStatus.Code.internalError, 200),
    ])
    func badHeaders(name: String, value: String, code: GRPCStatus.Code, httpStatus: Int) throws {
        try withServer { endpoint in
            let client = try GRPCClient(endpoint: endpoint)
            var headers = GRPCClient.standardHeaders(path: "/test.Echo/Echo", authority: "test").filter {
                $0.name != name
            }
            headers.append(HTTP2Header(name, value))
            let response = try client.call(headers: headers, body: [0, 0, 0, 0, 1, 42], wait: .seconds(5))
            #expect(response.status.code == code)
            #expect(response.httpStatus == httpStatus)
            #expect(response.status.message.contains(value))
        }
    }

    @Test(arguments: ["application/grpc+proto", "application/grpc; charset=utf-8", "application/grpc+proto;x=1"])
    func protobufContentTypesAreAccepted(contentType: String) throws {
        try withServer { endpoint in
            let client = try GRPCClient(endpoint: endpoint)
            var headers = GRPCClient.standardHeaders(path: "/test.Echo/Echo", authority: "test").filter {
                $0.name != "content-type"
            }
            headers.append(HTTP2Header("content-type", contentType))
            #expect(try client.call(headers: headers, body: [0, 0, 0, 0, 1, 9], wait: .seconds(5)).messages == [[9]])
        }
    }

    @Test func missingTETrailersIsRefused() throws {
        try withServer { endpoint in
            let client = try GRPCClient(endpoint: endpoint)
            let headers = GRPCClient.standardHeaders(path: "/test.Echo/Echo", authority: "test").filter {
                $0.name != "te"
            }
            let response = try client.call(headers: headers, body: [0, 0, 0, 0, 0], wait: .seconds(5))
            #expect(response.status.code == .invalidArgument)
            #expect(response.status.message.contains("te: trailers"))
        }
    }

    @Test func oversizedHeaderListIsResourceExhaustedAndTheConnectionLives() throws {
        try withServer { endpoint in
            let client = try GRPCClient(endpoint: endpoint)
            let metadata = (0..<20).map { HTTP2Header("x-meta-\($0)", String(repeating: "v", count: 1000)) }
            let response = try client.unary(path: "/test.Echo/Echo", request: [1], metadata: metadata)
            #expect(response.status.code == .resourceExhausted, "\(response.status)")
            #expect(response.status.message.contains("16384"))
            #expect(try client.unary(path: "/test.Echo/Echo", request: [2]).messages == [[2]])
        }
    }

    @Test func framingErrors() throws {
        try withServer { endpoint in
            let client = try GRPCClient(endpoint: endpoint)
            let headers = GRPCClient.standardHeaders(path: "/test.Echo/Echo", authority: "test")
            let cases: [([UInt8], String)] = [
                ([0, 0, 0], "truncated"),  // inside the prefix
                ([0, 0, 0, 0, 9, 1, 2], "truncated"),  // declared 9, sent 2
                ([1, 0, 0, 0, 1, 5], "compressed flag"),
                ([7, 0, 0, 0, 1, 5], "flag byte"),
                ([], "exactly one"),
                ([0, 0, 0, 0, 1, 5, 0, 0, 0, 0, 1, 6], "exactly one"),
            ]
            for (body, expected) in cases {
                let response = try client.call(headers: headers, body: body, wait: .seconds(5))
                #expect(response.status.code == .internalError, "\(body)")
                #expect(response.status.message.contains(expected), "\(body): \(response.status.message)")
            }
            #expect(try client.unary(path: "/test.Echo/Echo", request: [3]).messages == [[3]])
        }
    }

    @Test func expiredDeadlineIsReportedByTheServer() throws {
        try withServer { endpoint in
            let client = try GRPCClient(endpoint: endpoint)
            var headers = GRPCClient.standardHeaders(path: "/test.Echo/Echo", authority: "test")
            headers.append(HTTP2Header("grpc-timeout", "1n"))
            let response = try client.call(headers: headers, body: [0, 0, 0, 0, 1, 1], wait: .seconds(5))
            #expect(response.status.code == .deadlineExceeded)
            #expect(response.statusFromServer)
        }
    }

    @Test func deadlineFiresWhileTheRequestIsIncomplete() throws {
        try withServer { endpoint in
            let client = try GRPCClient(endpoint: endpoint)
            var headers = GRPCClient.standardHeaders(path: "/test.Echo/Echo", authority: "test")
            headers.append(HTTP2Header("grpc-timeout", "200m"))
            let started = ContinuousClock.now
            let response = try client.call(
                headers: headers, body: [0, 0, 0, 0, 5, 1], endStream: false, wait: .seconds(5))
            #expect(response.status.code == .deadlineExceeded)
            #expect(response.statusFromServer)
            #expect(ContinuousClock.now - started < .seconds(3))
        }
    }

    @Test func manyConnectionsAcrossLoops() throws {
        try withServer(threads: 2) { endpoint in
            let clients = try (0..<8).map { _ in try GRPCClient(endpoint: endpoint) }
            for round in 0..<20 {
                for (index, client) in clients.enumerated() {
                    let payload = [UInt8(index), UInt8(round)]
                    #expect(try client.unary(path: "/test.Echo/Echo", request: payload).messages == [payload])
                }
            }
        }
    }

    @Test func clientGivesUpShortlyAfterItsTimeout() throws {
        // Regression: `freshet get --timeout 2s` waited 7 s against a server that never answered.
        let silent = try Socket.listen(on: Endpoint(host: "127.0.0.1", port: 0), sharing: .exclusive)
        defer { silent.close() }
        let client = try GRPCClient(endpoint: try silent.localEndpoint())
        let started = ContinuousClock.now
        let response = try client.unary(path: "/test.Echo/Echo", request: [1], timeout: .milliseconds(300))
        let waited = ContinuousClock.now - started
        #expect(response.status.code == .deadlineExceeded)
        #expect(waited >= .milliseconds(300) && waited < .seconds(1), "waited \(waited)")
    }

    @Test func timeoutHeaderFormatAndParse() {
        #expect(GRPCTimeout.format(.milliseconds(250)) == "250000u")
        #expect(GRPCTimeout.parse("250000u") == .milliseconds(250))
        #expect(GRPCTimeout.parse("1H") == .seconds(3600))
        #expect(GRPCTimeout.parse("123456789S") == nil)
        #expect(GRPCTimeout.parse("5x") == nil)
        #expect(GRPCTimeout.parse("S") == nil)
        #expect(GRPCTimeout.format(.seconds(100_000_000)) == "1666667M")
    }

    @Test func grpcMessagePercentEncoding() {
        #expect(percentEncodeGRPCMessage("plain") == "plain")
        #expect(percentEncodeGRPCMessage("50% é\n") == "50%25 %C3%A9%0A")
        #expect(percentDecodeGRPCMessage("50%25 %C3%A9%0A") == "50% é\n")
        #expect(percentDecodeGRPCMessage("bad %zz %") == "bad %zz %")
    }

    @Test func aLongGRPCMessageIsCutAtACharacterToFitTheLimit() {
        let long = String(repeating: "é", count: 3000)  // 6000 bytes, 18000 encoded
        let encoded = percentEncodeGRPCMessage(long)
        #expect(encoded.utf8.count <= maxEncodedGRPCMessageBytes)
        #expect(encoded.hasSuffix(" ... (cut; the message is 6000 bytes)"))
        let decoded = percentDecodeGRPCMessage(encoded)
        #expect(decoded.hasPrefix("éé"))
        #expect(!decoded.contains("\u{FFFD}"), "no character is split")
        let fits = String(repeating: "a", count: maxEncodedGRPCMessageBytes)
        #expect(percentEncodeGRPCMessage(fits) == fits)
        #expect(percentEncodeGRPCMessage(fits + "a").hasSuffix("(cut; the message is 4097 bytes)"))
    }
}
