// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Streaming calls on loopback: messages as they arrive, backpressure through HTTP/2 flow control, ends and resets.

import FreshetCore
import FreshetGRPC
import FreshetHTTP2
import FreshetPosix
import Glibc
import Synchronization
import Testing

/// What the test thread shares with the calls running on the server's loops.
private final class Board: Sendable {
    struct State {
        var open = true
        var calls: [(inbox: EventLoopInbox, call: LoopBound<GateCall>)] = []
        var received = 0
        var refused = 0
        var closed = 0
        var ended = 0
    }

    let state = Mutex(State())

    /// Opens the gate and resumes every call, on its loop.
    func open() {
        let calls = self.state.withLock { state in
            state.open = true
            return state.calls
        }
        for (inbox, call) in calls {
            inbox.execute { call.value.responder.resume() }
        }
    }
}

/// Echoes each message it takes; refuses messages while the board's gate is closed; ends OK when the client ends,
/// or with the status a message asks for (a message starting with 0xEE ends the call with FAILED_PRECONDITION).
private final class GateCall: StreamingCall {
    let board: Board
    let responder: ServerStreamResponder

    init(board: Board, responder: ServerStreamResponder) {
        self.board = board
        self.responder = responder
    }

    func received(_ message: UnsafeRawBufferPointer) -> Bool {
        let open = self.board.state.withLock { state in
            if state.open { state.received += 1 } else { state.refused += 1 }
            return state.open
        }
        guard open else { return false }
        if message.first == 0xEE {
            self.responder.finish(GRPCStatus(.failedPrecondition, "asked to fail"))
            return true
        }
        self.responder.send(Array(message))
        return true
    }

    func requestEnded() {
        self.board.state.withLock { $0.ended += 1 }
        self.responder.finish(.ok)
    }

    func closed() {
        self.board.state.withLock { $0.closed += 1 }
    }
}

private func withStreamingServer<R>(gateOpen: Bool, _ body: (Endpoint, Board) throws -> R) throws -> R {
    let board = Board()
    board.state.withLock { $0.open = gateOpen }
    let configuration = GRPCServerConfiguration(endpoint: Endpoint(host: "127.0.0.1", port: 0), threads: 1)
    let server = GRPCServer(configuration: configuration, logger: Logger(level: .error)) { _ in
        let router = Router()
        router.addUnary("/test.Echo/Echo") { request, _, response in
            response.append(contentsOf: request)
        }
        router.addStreaming("/test.Stream/Gate") { _, responder in
            let call = GateCall(board: board, responder: responder)
            board.state.withLock { $0.calls.append((responder.inbox, LoopBound(call))) }
            return call
        }
        router.addStreaming("/test.Stream/Refuse") { _, _ throws(GRPCStatus) in
            throw GRPCStatus(.permissionDenied, "not for you")
        }
        return router
    }
    try server.start()
    defer {
        server.shutdown(graceful: false)
        server.wait()
    }
    return try body(server.endpoint, board)
}

/// Polls `condition` for up to 5 s.
private func eventually(_ condition: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now + .seconds(5)
    while ContinuousClock.now < deadline {
        if condition() { return true }
        var pause = timespec(tv_sec: 0, tv_nsec: 5_000_000)
        nanosleep(&pause, nil)
    }
    return condition()
}

@Suite("Streaming calls")
struct StreamingCallTests {
    @Test func messagesAreEchoedAsTheyArriveAndTheCallEndsWithTheClient() throws {
        try withStreamingServer(gateOpen: true) { endpoint, board in
            let client = try GRPCClient(endpoint: endpoint)
            let stream = try client.openStream(path: "/test.Stream/Gate")
            var echoed: [[UInt8]] = []
            for index in 0..<5 {
                try client.send([UInt8(index), 1, 2, 3], on: stream)
                // Each answer comes back before the client sends the next message: a real stream, not a batch.
                let events = client.receive(on: stream, wait: .seconds(5))
                #expect(events.end == nil)
                echoed += events.messages
            }
            #expect(echoed == (0..<5).map { [UInt8($0), 1, 2, 3] })
            try client.closeSend(stream)
            let last = client.receive(on: stream, wait: .seconds(5))
            #expect(last.messages.isEmpty)
            #expect(last.end?.status.code == .ok)
            #expect(board.state.withLock { ($0.ended, $0.received) } == (1, 5))
            #expect(eventually { board.state.withLock { $0.closed } == 1 })
        }
    }

    @Test func aRefusedMessageClosesTheFlowControlWindowAndOtherCallsGoOn() throws {
        try withStreamingServer(gateOpen: false) { endpoint, board in
            let client = try GRPCClient(endpoint: endpoint)
            let stream = try client.openStream(path: "/test.Stream/Gate")
            let chunk = [UInt8](repeating: 0x42, count: 64 << 10)
            // 24 × 64 KiB is more than the stream's 1 MiB window: with the first message refused and the rest held,
            // the server hands no bytes back to flow control, so some of this cannot leave the client.
            for _ in 0..<24 { try client.send(chunk, on: stream) }
            let stalled = client.receive(on: stream, wait: .milliseconds(300))
            #expect(stalled.messages.isEmpty)
            #expect(stalled.end == nil)
            #expect(client.unsentBytes(on: stream) > 0, "the server kept opening the window of a refusing call")
            #expect(board.state.withLock { $0.received } == 0)
            // Another call on the same connection is served while this one is held.
            let echo = try client.unary(path: "/test.Echo/Echo", request: [9, 9], timeout: .seconds(5))
            #expect(echo.status.code == .ok)
            #expect(echo.messages == [[9, 9]])

            board.open()
            try client.closeSend(stream)
            var messages: [[UInt8]] = []
            var end: GRPCResponse?
            let deadline = ContinuousClock.now + .seconds(10)
            while end == nil && ContinuousClock.now < deadline {
                let events = client.receive(on: stream, wait: .seconds(1))
                messages += events.messages
                end = events.end
            }
            #expect(end?.status.code == .ok)
            #expect(messages.count == 24)
            #expect(messages.allSatisfy { $0 == chunk }, "an echoed message differs from what was sent")
            #expect(board.state.withLock { $0.received } == 24)
        }
    }

    @Test func aResetCallReturnsItsHeldBytesToTheConnectionWindow() throws {
        try withStreamingServer(gateOpen: false) { endpoint, board in
            let client = try GRPCClient(endpoint: endpoint)
            let chunk = [UInt8](repeating: 1, count: 64 << 10)
            // Five held-and-reset calls strand 5 × ~1 MiB, more than the 4 MiB connection window, unless the bytes
            // of a closed stream are consumed for the connection.
            for _ in 0..<5 {
                let stream = try client.openStream(path: "/test.Stream/Gate")
                for _ in 0..<20 { try client.send(chunk, on: stream) }
                _ = client.receive(on: stream, wait: .milliseconds(200))
                client.cancel(stream)
            }
            #expect(eventually { board.state.withLock { $0.closed } == 5 })
            board.state.withLock { $0.open = true }
            let big = [UInt8](repeating: 5, count: 900 << 10)
            let echo = try client.unary(path: "/test.Echo/Echo", request: big, timeout: .seconds(5))
            #expect(echo.status.code == .ok)
            #expect(echo.messages.count == 1 && echo.messages.first == big, "the echo did not come back whole")
        }
    }

    @Test func aCallEndsWithAnErrorBeforeOrAfterItsFirstAnswer() throws {
        try withStreamingServer(gateOpen: true) { endpoint, _ in
            let client = try GRPCClient(endpoint: endpoint)
            // Refused at the start: a trailers-only answer.
            let refused = try client.openStream(path: "/test.Stream/Refuse")
            let refusedEnd = client.receive(on: refused, wait: .seconds(5)).end
            #expect(refusedEnd?.status.code == .permissionDenied)
            #expect(refusedEnd?.status.message == "not for you")

            // Failed after an answer: the status comes in the trailers.
            let stream = try client.openStream(path: "/test.Stream/Gate")
            try client.send([1], on: stream)
            try client.send([0xEE], on: stream)
            var messages: [[UInt8]] = []
            var end: GRPCResponse?
            while end == nil {
                let events = client.receive(on: stream, wait: .seconds(5))
                messages += events.messages
                end = events.end
                if events.messages.isEmpty && events.end == nil { break }
            }
            #expect(messages == [[1]])
            #expect(end?.status.code == .failedPrecondition)
            #expect(end?.status.message == "asked to fail")
            // The connection serves on.
            #expect(try client.unary(path: "/test.Echo/Echo", request: [3]).messages == [[3]])
        }
    }
}
