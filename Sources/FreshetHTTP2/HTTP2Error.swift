// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Errors of the HTTP/2 layer: nghttp2 failures and protocol error codes.

internal import CNGHTTP2

/// An HTTP/2 session failed: the peer broke the protocol, or nghttp2 refused an operation.
public struct HTTP2Error: Error, Hashable, Sendable, CustomStringConvertible {
    /// The nghttp2 library error code (negative), e.g. NGHTTP2_ERR_BAD_CLIENT_MAGIC.
    public var libraryCode: Int32
    /// What failed, with nghttp2's text.
    public var message: String

    init(libraryCode: Int32, operation: String) {
        self.libraryCode = libraryCode
        self.message = "\(operation): \(String(cString: nghttp2_strerror(libraryCode)))"
    }

    public var description: String { self.message }

    /// Whether the session is beyond repair and the connection must close (after flushing the GOAWAY nghttp2
    /// queued, if any).
    public var isFatal: Bool { nghttp2_is_fatal(self.libraryCode) != 0 }
}

/// HTTP/2 error codes for RST_STREAM and GOAWAY (RFC 9113 §7).
public enum HTTP2ErrorCode {
    public static let noError: UInt32 = 0x0
    public static let protocolError: UInt32 = 0x1
    public static let internalError: UInt32 = 0x2
    public static let flowControlError: UInt32 = 0x3
    public static let streamClosed: UInt32 = 0x5
    public static let refusedStream: UInt32 = 0x7
    public static let cancel: UInt32 = 0x8
    public static let enhanceYourCalm: UInt32 = 0xb
}

extension HTTP2ErrorCode {
    /// The code's name (`PROTOCOL_ERROR`), or `unknown error code 0x…` for one RFC 9113 does not define.
    public static func name(_ code: UInt32) -> String {
        let name = String(cString: nghttp2_http2_strerror(code))
        return name == "unknown" ? "unknown error code 0x\(String(code, radix: 16))" : name
    }
}
