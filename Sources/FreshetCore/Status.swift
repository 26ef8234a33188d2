// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// gRPC status codes and the status (code + message) that every RPC ends with.

/// A gRPC status: a code and a human-readable message that names the problem.
///
/// This is what goes on the wire in the `grpc-status` and `grpc-message` trailers. Domain errors become a
/// ``GRPCStatus`` at exactly one boundary (the router), through ``GRPCStatusConvertible``.
public struct GRPCStatus: Error, Hashable, Sendable, CustomStringConvertible {
    /// The status code.
    public var code: Code
    /// The message for the client; never contains `strerror` text or internals.
    public var message: String

    /// Creates a status.
    public init(_ code: Code, _ message: String = "") {
        self.code = code
        self.message = message
    }

    /// The OK status, with no message.
    public static let ok = GRPCStatus(.ok)

    public var description: String {
        self.message.isEmpty ? "\(self.code)" : "\(self.code): \(self.message)"
    }

    /// A gRPC status code (https://github.com/grpc/grpc/blob/master/doc/statuscodes.md).
    ///
    /// A struct over a private enum, so that codes read like an enum and new ones can be added without breaking
    /// exhaustive switches in callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: UInt8 {
            case ok = 0
            case cancelled = 1
            case unknown = 2
            case invalidArgument = 3
            case deadlineExceeded = 4
            case notFound = 5
            case alreadyExists = 6
            case permissionDenied = 7
            case resourceExhausted = 8
            case failedPrecondition = 9
            case aborted = 10
            case outOfRange = 11
            case unimplemented = 12
            case internalError = 13
            case unavailable = 14
            case dataLoss = 15
            case unauthenticated = 16
        }

        private let wrapped: Wrapped

        private init(_ wrapped: Wrapped) {
            self.wrapped = wrapped
        }

        /// The code for a numeric `grpc-status` value; `nil` when it is not one of the 17 defined codes.
        public init?(rawValue: Int) {
            guard let narrow = UInt8(exactly: rawValue), let wrapped = Wrapped(rawValue: narrow) else {
                return nil
            }
            self.wrapped = wrapped
        }

        /// The numeric value sent in `grpc-status`.
        public var rawValue: Int { Int(self.wrapped.rawValue) }

        public static let ok = Code(.ok)
        public static let cancelled = Code(.cancelled)
        public static let unknown = Code(.unknown)
        public static let invalidArgument = Code(.invalidArgument)
        public static let deadlineExceeded = Code(.deadlineExceeded)
        public static let notFound = Code(.notFound)
        public static let alreadyExists = Code(.alreadyExists)
        public static let permissionDenied = Code(.permissionDenied)
        public static let resourceExhausted = Code(.resourceExhausted)
        public static let failedPrecondition = Code(.failedPrecondition)
        public static let aborted = Code(.aborted)
        public static let outOfRange = Code(.outOfRange)
        public static let unimplemented = Code(.unimplemented)
        public static let internalError = Code(.internalError)
        public static let unavailable = Code(.unavailable)
        public static let dataLoss = Code(.dataLoss)
        public static let unauthenticated = Code(.unauthenticated)

        /// The canonical upper-case name, as in grpc's statuscodes.md (`INVALID_ARGUMENT`).
        public var description: String {
            switch self.wrapped {
            case .ok: "OK"
            case .cancelled: "CANCELLED"
            case .unknown: "UNKNOWN"
            case .invalidArgument: "INVALID_ARGUMENT"
            case .deadlineExceeded: "DEADLINE_EXCEEDED"
            case .notFound: "NOT_FOUND"
            case .alreadyExists: "ALREADY_EXISTS"
            case .permissionDenied: "PERMISSION_DENIED"
            case .resourceExhausted: "RESOURCE_EXHAUSTED"
            case .failedPrecondition: "FAILED_PRECONDITION"
            case .aborted: "ABORTED"
            case .outOfRange: "OUT_OF_RANGE"
            case .unimplemented: "UNIMPLEMENTED"
            case .internalError: "INTERNAL"
            case .unavailable: "UNAVAILABLE"
            case .dataLoss: "DATA_LOSS"
            case .unauthenticated: "UNAUTHENTICATED"
            }
        }
    }
}

/// An error that knows which gRPC status it becomes on the wire.
///
/// The server converts errors at one boundary: a ``GRPCStatusConvertible`` error supplies its own status; any other
/// error becomes INTERNAL with a generic message and is logged server-side.
public protocol GRPCStatusConvertible: Error {
    /// The status to send to the client.
    var grpcStatus: GRPCStatus { get }
}

extension GRPCStatus: GRPCStatusConvertible {
    public var grpcStatus: GRPCStatus { self }
}
