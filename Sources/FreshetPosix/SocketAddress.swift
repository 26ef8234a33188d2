// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// `HOST:PORT` endpoints: parsing, resolution to socket addresses, and printing.

internal import Glibc

/// A `HOST:PORT` endpoint as users write it: `127.0.0.1:50051`, `localhost:0`, `[::1]:8080`, `:50051`.
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
    /// The host name or address literal, without brackets. Empty means all interfaces (`0.0.0.0`).
    public var host: String
    /// The TCP port; 0 asks the kernel for a free one when listening.
    public var port: UInt16

    /// Creates an endpoint.
    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT`; an IPv6 host goes in brackets (`[::1]:50051`).
    /// - Throws: ``EndpointError`` naming the text when it has no port, a bad port, or bad brackets.
    public init(parsing text: String) throws(EndpointError) {
        var host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                throw EndpointError(text: text, reason: "missing ']' after the IPv6 address")
            }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else {
                throw EndpointError(text: text, reason: "expected ':PORT' after ']'")
            }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                throw EndpointError(text: text, reason: "expected HOST:PORT")
            }
            host = text[..<colon]
            if host.contains(":") {
                throw EndpointError(text: text, reason: "an IPv6 address must be in brackets, as in [::1]:50051")
            }
            portText = text[text.index(after: colon)...]
        }
        guard !portText.isEmpty, portText.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
            let port = UInt16(portText)
        else {
            throw EndpointError(text: text, reason: "port '\(portText)' is not a number from 0 to 65535")
        }
        if host == "*" { host = "" }
        self.init(host: String(host), port: port)
    }

    /// `127.0.0.1:50051`, or `[::1]:50051` for an IPv6 literal.
    public var description: String {
        self.host.contains(":") ? "[\(self.host)]:\(self.port)" : "\(self.host):\(self.port)"
    }
}

/// A `HOST:PORT` text that could not be parsed or resolved.
public struct EndpointError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The text as given.
    public var text: String
    /// What is wrong with it.
    public var reason: String

    public var description: String { "invalid address '\(self.text)': \(self.reason)" }
}

/// A resolved socket address (IPv4 or IPv6), stored as `sockaddr_storage`.
struct SocketAddress: @unchecked Sendable, CustomStringConvertible {
    // @unchecked: sockaddr_storage is a plain C value type with no pointers; copies are independent.
    var storage: sockaddr_storage
    var length: socklen_t

    var family: Int32 { Int32(self.storage.ss_family) }

    /// Resolves an endpoint with getaddrinfo (numeric hosts need no DNS). An empty host means the IPv4 wildcard.
    static func resolve(_ endpoint: Endpoint, passive: Bool) throws(EndpointError) -> [SocketAddress] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        hints.ai_flags = passive ? AI_PASSIVE : 0
        var list: UnsafeMutablePointer<addrinfo>?
        let host = endpoint.host.isEmpty ? "0.0.0.0" : endpoint.host
        let status = getaddrinfo(host, String(endpoint.port), &hints, &list)
        guard status == 0, let first = list else {
            let reason = gai_strerror(status).map { String(cString: $0) } ?? "lookup failed"
            throw EndpointError(text: endpoint.description, reason: reason)
        }
        defer { freeaddrinfo(list) }
        var result: [SocketAddress] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            if let address = info.pointee.ai_addr, info.pointee.ai_addrlen <= MemoryLayout<sockaddr_storage>.size {
                var storage = sockaddr_storage()
                withUnsafeMutableBytes(of: &storage) { target in
                    target.copyMemory(from: UnsafeRawBufferPointer(start: address, count: Int(info.pointee.ai_addrlen)))
                }
                result.append(SocketAddress(storage: storage, length: info.pointee.ai_addrlen))
            }
            cursor = info.pointee.ai_next
        }
        return result
    }

    /// The numeric host of the address (`127.0.0.1`, `::1`).
    var host: String {
        var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        var copy = self.storage
        let status = withUnsafePointer(to: &copy) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                getnameinfo(address, self.length, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST)
            }
        }
        guard status == 0 else { return "?" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The port in host byte order.
    var port: UInt16 {
        var copy = self.storage
        return withUnsafePointer(to: &copy) { pointer in
            if self.family == AF_INET6 {
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                    UInt16(bigEndian: $0.pointee.sin6_port)
                }
            }
            return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                UInt16(bigEndian: $0.pointee.sin_port)
            }
        }
    }

    var endpoint: Endpoint { Endpoint(host: self.host, port: self.port) }

    var description: String { self.endpoint.description }
}
