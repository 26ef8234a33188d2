// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// A unary call whose answer comes later, from another thread.

public import FreshetCore
internal import FreshetPosix

/// A unary gRPC call served through the streaming route: it takes the one request message, hands it to `start`
/// when the client has sent it, and answers whenever `start`'s reply runs, on any thread. For handlers that wait
/// for work done off the event loop (a registry change ordered behind the replication writer), which a plain
/// unary handler would have to block its loop for.
///
/// Thread affinity: loop-confined; the reply hops back to the loop through the responder's inbox.
public final class DeferredUnaryCall: StreamingCall {
    /// The answer: the response message, or the status to fail with.
    public typealias Reply = @Sendable (Result<[UInt8], GRPCStatus>) -> Void

    private let responder: ServerStreamResponder
    private let start: (_ request: [UInt8], _ reply: @escaping Reply) -> Void
    private var request: [UInt8]?
    private var messages = 0

    public init(
        responder: ServerStreamResponder, start: @escaping (_ request: [UInt8], _ reply: @escaping Reply) -> Void
    ) {
        self.responder = responder
        self.start = start
    }

    public func received(_ message: UnsafeRawBufferPointer) -> Bool {
        self.messages += 1
        if self.messages == 1 { self.request = Array(message) } else { self.request = nil }
        return true
    }

    public func requestEnded() {
        guard self.messages == 1, let request = self.request else {
            self.responder.finish(
                GRPCStatus(
                    .invalidArgument,
                    "a unary call carries exactly one request message; this one carried \(self.messages)"
                ))
            return
        }
        let inbox = self.responder.inbox
        let responder = LoopBound(self.responder)
        self.start(request) { result in
            inbox.execute {
                switch result {
                case .success(let response):
                    responder.value.send(response)
                    responder.value.finish(.ok)
                case .failure(let status):
                    responder.value.finish(status)
                }
            }
        }
    }

    public func closed() {}
}
