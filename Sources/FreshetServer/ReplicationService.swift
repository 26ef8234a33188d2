// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// `freshet.v1.Replication`: the Replicate stream (checked on the loop, applied by the writer, acked after commit)
// and GetPosition.

internal import FreshetCore
internal import FreshetGRPC
internal import FreshetPosix
internal import FreshetProto
internal import FreshetReplication
internal import FreshetStorage

/// The replication endpoints of one server, shared by every event loop.
///
/// Thread safety: immutable; the writer (the replication pipeline) is thread-safe. Each call object it makes is
/// confined to its loop.
final class ReplicationService: Sendable {
    let writer: ReplicationWriter
    let logger: Logger
    /// Batches of one stream that may wait for their commit at once; past it the stream stops being read.
    static let maxBatchesInFlightPerStream = 64

    init(writer: ReplicationWriter, logger: Logger) {
        self.writer = writer
        self.logger = logger
    }

    /// `Replicate`: starts one stream's call.
    func replicate(
        _ context: ServerCallContext, _ responder: ServerStreamResponder
    ) throws(GRPCStatus)
        -> any StreamingCall
    {
        if self.writer.isStopping {
            throw GRPCStatus(.unavailable, "the server is shutting down; reconnect and resume from GetPosition")
        }
        return ReplicateCall(service: self, responder: responder)
    }

    /// `GetPosition`: the source's position and counters.
    func getPosition(
        _ request: UnsafeRawBufferPointer, _ context: ServerCallContext, _ response: inout [UInt8]
    ) throws(GRPCStatus) {
        guard let source = ReplicationCodec.decodePositionRequest(request) else {
            throw GRPCStatus(
                .invalidArgument,
                "the request is not a valid freshet.v1.GetPositionRequest, or its source holds a NUL byte")
        }
        if let problem = UpdateValidator.sourceProblem(source) {
            throw GRPCStatus(.invalidArgument, "source \(problem)")
        }
        let position: SourcePosition
        do {
            position = try self.writer.position(of: source)
        } catch let error as StorageError {
            throw grpcStatus(for: error)
        } catch {
            throw GRPCStatus(.internalError, "cannot read the position")
        }
        ReplicationCodec.appendPosition(position.message(source: source), to: &response)
    }
}

/// One `Replicate` stream: reads each batch's source on the loop (the only check cheap enough to make there), hands
/// the bytes to the replication pipeline, which decodes, checks and commits them on its own threads, and sends each
/// batch's ack when the pipeline reports the commit. Acks go out in batch order (the pipeline keeps it).
///
/// A bad batch (or a gap) ends the stream, but only after the batches already handed in are answered, so the
/// producer learns exactly what was applied; the pipeline applies none of the stream's later batches.
///
/// Thread affinity: loop-confined; the writer's callbacks come back through the loop's inbox.
final class ReplicateCall: StreamingCall {
    private let service: ReplicationService
    private let responder: ServerStreamResponder
    /// The stream's source, set by its first batch.
    private var source: String?
    private var inFlight = 0
    /// Marks this stream's batches in the pipeline, so that none is applied after one is refused.
    private let token = ReplicationStreamToken()
    /// The status to end with once ``inFlight`` reaches zero.
    private var failure: GRPCStatus?
    private var ended = false
    private var closedStream = false
    private var waitingForAck = false
    private var messages = 0

    init(service: ReplicationService, responder: ServerStreamResponder) {
        self.service = service
        self.responder = responder
    }

    func received(_ message: UnsafeRawBufferPointer) -> Bool {
        if self.failure != nil || self.closedStream { return true }
        if self.inFlight >= ReplicationService.maxBatchesInFlightPerStream {
            self.waitingForAck = true
            return false
        }
        guard let peeked = ReplicationCodec.peekBatch(message) else {
            self.fail(
                GRPCStatus(
                    .invalidArgument,
                    "message \(self.messages + 1) of the stream is not a valid freshet.v1.UpdateBatch"))
            return true
        }
        if let source = self.source, peeked.source != source {
            self.fail(
                GRPCStatus(
                    .invalidArgument,
                    "batch first_sequence \(peeked.firstSequence): source '\(peeked.source.prefix(255))' differs from the stream's source '\(source)'; use one stream per source"
                ))
            return true
        }
        let call = LoopBound(self)
        let inbox = self.responder.inbox
        let first = peeked.firstSequence
        let accepted = self.service.writer.submit(
            Array(message), stream: self.token,
            completion: { outcome in inbox.execute { call.value.completed(outcome, firstSequence: first) } },
            onRoom: { inbox.execute { call.value.room() } })
        guard accepted else {
            if self.service.writer.isStopping {
                self.fail(
                    GRPCStatus(.unavailable, "the server is shutting down; reconnect and resume from GetPosition"))
                return true
            }
            // Refused while the pipeline is full: the connection keeps the message and offers it again on room().
            return false
        }
        self.messages += 1
        if self.source == nil { self.source = peeked.source }
        self.inFlight += 1
        return true
    }

    func requestEnded() {
        self.ended = true
        self.finishIfDone()
    }

    func closed() {
        self.closedStream = true
    }

    /// A graceful shutdown: take no more batches, answer the ones handed to the writer, then end with UNAVAILABLE
    /// so the producer resumes elsewhere or after the restart.
    func draining() {
        self.fail(
            GRPCStatus(.unavailable, "the server is shutting down; reconnect and resume from GetPosition"))
    }

    /// The pipeline has room again: the connection offers the refused message again.
    private func room() {
        self.responder.resume()
    }

    private func completed(_ outcome: ApplyOutcome, firstSequence: UInt64) {
        self.inFlight -= 1
        switch outcome {
        case .applied(let ack):
            if self.failure == nil {
                var bytes: [UInt8] = []
                ReplicationCodec.appendAck(ack, to: &bytes)
                self.responder.send(bytes)
            }
        case .gap(let expected):
            self.fail(
                GRPCStatus(
                    .failedPrecondition,
                    "batch first_sequence \(firstSequence) of source '\(self.source ?? "")' leaves a gap: this region has applied up to \(expected - 1), so the next batch must start at sequence \(expected)"
                ))
        case .rejected(let message):
            self.fail(GRPCStatus(.invalidArgument, message))
        case .abandoned:
            // An earlier batch of this stream was refused; its status is normally the stream's already.
            self.fail(
                GRPCStatus(
                    .aborted,
                    "batch first_sequence \(firstSequence) was not applied: an earlier batch of the stream was refused")
            )
        case .failed(let error):
            self.fail(grpcStatus(for: error))
        }
        if self.waitingForAck {
            self.waitingForAck = false
            self.responder.resume()
        }
        self.finishIfDone()
    }

    private func fail(_ status: GRPCStatus) {
        if self.failure == nil { self.failure = status }
        self.finishIfDone()
    }

    private func finishIfDone() {
        guard self.inFlight == 0, self.failure != nil || self.ended else { return }
        self.responder.finish(self.failure ?? .ok)
    }
}
