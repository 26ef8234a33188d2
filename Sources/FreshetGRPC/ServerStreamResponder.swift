// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// The answering side of one streaming call: response messages, the final status, and flow-control resumption.

public import FreshetCore
public import FreshetPosix

/// Sends a streaming call's response messages and its status, and resumes a call that refused a message.
///
/// The first ``send(_:)`` sends the response headers; ``finish(_:)`` sends the trailers (or, when nothing was sent
/// yet, a trailers-only answer). After ``finish(_:)``, or once the stream has closed, every method does nothing.
///
/// Thread affinity: loop-confined, like its connection. Other threads hand work back through ``inbox`` (and
/// ``LoopBound``).
public final class ServerStreamResponder {
    /// The connection, or `nil` once the stream is closed (the connection drops its streams before it goes).
    weak var connection: ServerConnection?
    let streamID: Int32
    var headersSent = false
    var finished = false
    /// Runs closures on this call's event loop, from any thread.
    public let inbox: EventLoopInbox

    init(connection: ServerConnection, streamID: Int32, inbox: EventLoopInbox) {
        self.connection = connection
        self.streamID = streamID
        self.inbox = inbox
    }

    /// Whether the call can still be answered (not finished, stream open).
    public var isOpen: Bool { !self.finished && self.connection != nil }

    /// Sends one response message (`message` without its 5-byte prefix; it is added here).
    public func send(_ message: [UInt8]) {
        guard !self.finished, let connection = self.connection else { return }
        connection.sendStreamMessage(self, message)
    }

    /// Ends the call with `status` (OK or an error).
    public func finish(_ status: GRPCStatus) {
        guard !self.finished else { return }
        self.finished = true
        self.connection?.finishStream(self, status: status)
    }

    /// Offers the messages the call refused again, and opens the stream's flow-control window for what arrived
    /// meanwhile.
    public func resume() {
        guard !self.finished, let connection = self.connection else { return }
        connection.resumeStream(self.streamID)
    }
}
