// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Every bad input of the GetFeatures contract gets its gRPC status and a message naming the problem, from the real
// server, and never harms the next call.

import FreshetCore
import FreshetGRPC
import FreshetHTTP2
import FreshetPosix
import FreshetProto
import Testing

@Suite("bad input end to end", .serialized)
final class ErrorsEndToEndTests {
    let scratch = TemporaryDirectory()
    let server: ServerProcess

    init() throws {
        let data = self.scratch.file("data")
        try load(data: data, view: "planes", csv: Paths.examples + "/planes.csv")
        try load(data: data, view: "airports", csv: Paths.examples + "/airports.csv")
        self.server = try ServerProcess(
            data: data, extra: ["--max-rows", "5", "--max-message-bytes", "64KiB"], scratch: self.scratch)
    }

    deinit {
        _ = self.server.terminate()
        self.scratch.remove()
    }

    private func call(_ request: FeaturesRequest) throws -> GRPCResponse {
        try self.server.client().unary(path: "/freshet.v1.FeatureServing/GetFeatures", request: request.encoded())
    }

    private func expectStatus(
        _ request: FeaturesRequest, _ code: GRPCStatus.Code, mentioning parts: [String],
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let response = try self.call(request)
        #expect(response.status.code == code, "\(response.status)", sourceLocation: sourceLocation)
        #expect(response.statusFromServer, sourceLocation: sourceLocation)
        for part in parts {
            #expect(
                response.status.message.contains(part), "'\(response.status.message)' should mention '\(part)'",
                sourceLocation: sourceLocation)
        }
    }

    static let planeRow: [(String, FeaturesRequest.Key)] = [("tailnum", .string("N14228"))]

    @Test func unknownMethodOrServiceIsUnimplemented() throws {
        let client = try self.server.client()
        for path in ["/freshet.v1.FeatureServing/Nope", "/no.Such/Service", "/"] {
            let response = try client.unary(path: path, request: [])
            #expect(response.status.code == .unimplemented, "\(path): \(response.status)")
            #expect(response.status.message.contains(path))
        }
    }

    @Test func bytesThatAreNotARequestAreInvalidArgument() throws {
        let client = try self.server.client()
        for bytes: [UInt8] in [[0xff, 0xff, 0xff], [0x0a, 0x10, 0x41], [0x1a, 0x05, 0x0a, 0x03, 0x0a, 0x01]] {
            let response = try client.unary(path: "/freshet.v1.FeatureServing/GetFeatures", request: bytes)
            #expect(response.status.code == .invalidArgument, "\(bytes): \(response.status)")
            #expect(response.status.message.contains("GetFeaturesRequest"))
        }
    }

    @Test func unknownServiceOrReferenceIsNamed() throws {
        try self.expectStatus(
            FeaturesRequest(target: .service("fraud_model"), rows: [Self.planeRow]), .invalidArgument,
            mentioning: ["fraud_model", "delay_model"])
        try self.expectStatus(
            FeaturesRequest(target: .references(["planes:seats", "planes:wingspan"]), rows: [Self.planeRow]),
            .invalidArgument, mentioning: ["planes:wingspan"])
        try self.expectStatus(
            FeaturesRequest(target: .references(["boats:seats"]), rows: [Self.planeRow]), .invalidArgument,
            mentioning: ["boats"])
        try self.expectStatus(
            FeaturesRequest(target: .references(["seats"]), rows: [Self.planeRow]), .invalidArgument,
            mentioning: ["seats", "view:feature"])
        try self.expectStatus(
            FeaturesRequest(target: .references([]), rows: [Self.planeRow]), .invalidArgument,
            mentioning: ["no features"])
    }

    @Test func wrongKeyTypeOrMissingKeyNamesRowAndKey() throws {
        let references = FeaturesRequest.Target.references(["planes:seats", "airports:tz"])
        let good: [(String, FeaturesRequest.Key)] = [("tailnum", .string("N14228")), ("faa", .string("EWR"))]
        try self.expectStatus(
            FeaturesRequest(
                target: references, rows: [good, good, [("tailnum", .int64(14228)), ("faa", .string("EWR"))]]),
            .invalidArgument, mentioning: ["row 2", "tailnum", "must be a string (string_value), got int64_value"])
        try self.expectStatus(
            FeaturesRequest(target: references, rows: [good, [("tailnum", .string("N14228"))]]), .invalidArgument,
            mentioning: ["row 1", "faa"])
        try self.expectStatus(
            FeaturesRequest(target: references, rows: [[("tailnum", .other(.double(1.5))), ("faa", .string("EWR"))]]),
            .invalidArgument, mentioning: ["row 0", "tailnum", "must be a string (string_value), got double_value"])
    }

    @Test func nulByteInAKeyIsRefusedNotTruncated() throws {
        // Regression: "N14228\0anything" used to match N14228 (protobuf-c strings are NUL-terminated).
        try self.expectStatus(
            FeaturesRequest(target: .references(["planes:seats"]), rows: [[("tailnum", .string("N14228\0anything"))]]),
            .invalidArgument, mentioning: ["row 0", "NUL byte"])
        try self.expectStatus(
            FeaturesRequest(target: .service("delay_model\0garbage"), rows: []), .invalidArgument,
            mentioning: ["feature_service contains a NUL byte"])
    }

    @Test func nullKeyIsNotFoundAndTheRestIsServed() throws {
        let request = FeaturesRequest(
            target: .references(["planes:seats", "airports:tz"]),
            rows: [
                [("tailnum", .null), ("faa", .string("EWR"))],
                [("tailnum", .string("N14228")), ("faa", .string("EWR"))],
            ])
        let response = try self.server.getFeatures(request)
        #expect(response.rows[0].map(\.status) == [.notFound, .present])
        #expect(response.rows[0][1].values == [.int64(-5)])
        #expect(response.rows[1].map(\.status) == [.present, .present])
        #expect(response.rows[1][0].values == [.int64(149)])
    }

    @Test func unknownEntityIsNotFoundNeverPresentWithNulls() throws {
        let request = FeaturesRequest(
            target: .references(["airports:name", "airports:tzone"]),
            rows: [[("faa", .string("SJU"))], [("faa", .string("EEN"))]])
        let response = try self.server.getFeatures(request)
        #expect(response.rows[0][0].status == .notFound)
        #expect(response.rows[0][0].values == [nil, nil])
        // EEN exists with a null tzone: PRESENT, and the null is a value, not a missing one.
        #expect(response.rows[1][0].status == .present)
        #expect(response.rows[1][0].values[1] == .null)
    }

    @Test func moreRowsThanTheLimitIsInvalidArgument() throws {
        let rows = Array(repeating: Self.planeRow, count: 6)
        try self.expectStatus(
            FeaturesRequest(target: .references(["planes:seats"]), rows: rows), .invalidArgument,
            mentioning: ["6 rows", "5"])
        let response = try self.server.getFeatures(
            FeaturesRequest(target: .references(["planes:seats"]), rows: Array(rows.prefix(5))))
        #expect(response.rows.count == 5)
    }

    @Test func oversizedMessageIsResourceExhausted() throws {
        let client = try self.server.client()
        let big = FeaturesRequest(
            target: .references(["planes:seats"]), rows: [[("tailnum", .string(String(repeating: "N", count: 70_000)))]]
        )
        let response = try client.unary(path: "/freshet.v1.FeatureServing/GetFeatures", request: big.encoded())
        #expect(response.status.code == .resourceExhausted, "\(response.status)")
        #expect(response.status.message.contains("65536"))
        // The same connection keeps working.
        let next = try client.unary(
            path: "/freshet.v1.FeatureServing/GetFeatures",
            request: FeaturesRequest(target: .references(["planes:seats"]), rows: [Self.planeRow]).encoded())
        #expect(next.status.code == .ok)
    }

    @Test func expiredTimeoutIsDeadlineExceededFromTheServer() throws {
        let client = try self.server.client()
        var headers = GRPCClient.standardHeaders(path: "/freshet.v1.FeatureServing/GetFeatures", authority: "test")
        headers.append(HTTP2Header("grpc-timeout", "1n"))
        let message = FeaturesRequest(target: .references(["planes:seats"]), rows: [Self.planeRow]).encoded()
        let body = [0, 0, 0, 0, UInt8(message.count)] + message
        let response = try client.call(headers: headers, body: body, wait: .seconds(5))
        #expect(response.status.code == .deadlineExceeded)
        #expect(response.statusFromServer, "the server, not the client, must report the deadline")
    }

    @Test func negativeMaxStalenessIsInvalidArgument() throws {
        try self.expectStatus(
            FeaturesRequest(target: .references(["planes:seats"]), rows: [Self.planeRow], maxStaleness: .seconds(-5)),
            .invalidArgument, mentioning: ["max_staleness must not be negative"])
        let zero = try self.server.getFeatures(
            FeaturesRequest(target: .references(["planes:seats"]), rows: [Self.planeRow], maxStaleness: .zero))
        #expect(zero.rows[0][0].status == .present, "zero is the proto3 default: no limit")
    }

    @Test func keyLongerThanLMDBAllowsIsInvalidArgument() throws {
        try self.expectStatus(
            FeaturesRequest(
                target: .references(["planes:seats"]),
                rows: [[("tailnum", .string(String(repeating: "N", count: 600)))]]),
            .invalidArgument, mentioning: ["row 0", "600 bytes", "511"])
    }
}
