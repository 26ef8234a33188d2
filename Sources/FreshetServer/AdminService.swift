// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// `freshet.v1.Admin`: registry changes (ordered behind replication on the writer thread), the registry and
// subscription in force, and the end of a backfill.

internal import FreshetCore
internal import FreshetGRPC
internal import FreshetPosix
internal import FreshetProto
internal import FreshetReplication
internal import FreshetStorage
import Synchronization

/// The admin endpoints of one server, shared by every event loop.
///
/// Thread safety: immutable; changes run on the replication writer's thread (``ReplicationWriter/perform(_:)``),
/// one at a time and in order with the batches.
final class AdminService: Sendable {
    let store: FeatureStore
    let writer: ReplicationWriter
    let logger: Logger
    private let refusalWarnings = Mutex(LogThrottle())

    init(store: FeatureStore, writer: ReplicationWriter, logger: Logger) {
        self.store = store
        self.writer = writer
        self.logger = logger
    }

    /// `ApplyRegistry`: parses and checks on the loop (cheap), applies on the writer thread.
    func applyRegistry(
        _ context: ServerCallContext, _ responder: ServerStreamResponder
    ) throws(GRPCStatus) -> any StreamingCall {
        DeferredUnaryCall(responder: responder) { bytes, reply in
            guard let request = bytes.withUnsafeBytes({ AdminCodec.decodeApplyRequest($0) }) else {
                reply(
                    .failure(GRPCStatus(.invalidArgument, "the request is not a valid freshet.v1.ApplyRegistryRequest"))
                )
                return
            }
            guard (1...FeatureStore.maxRegistryVersion).contains(request.version) else {
                reply(
                    .failure(
                        GRPCStatus(
                            .invalidArgument,
                            "version must be from 1 to \(FeatureStore.maxRegistryVersion), not \(request.version)")))
                return
            }
            let registry: Registry
            do {
                registry = try Registry.parse(json: request.registryJSON, source: "in the ApplyRegistry request")
            } catch {
                reply(.failure(GRPCStatus(.invalidArgument, "\(error)")))
                return
            }
            let accepted = self.writer.perform { [self] in
                reply(self.apply(request, registry: registry))
            }
            if !accepted {
                reply(
                    .failure(
                        GRPCStatus(.unavailable, "the server is shutting down; apply the registry after the restart")))
            }
        }
    }

    /// Runs on the writer thread.
    private func apply(_ request: ApplyRegistryRequestMessage, registry: Registry) -> Result<[UInt8], GRPCStatus> {
        let result: RegistryApplyResult
        do {
            result = try self.store.applyRegistry(
                json: request.registryJSON, registry: registry, version: request.version,
                expectedVersion: request.expectedVersion, dryRun: request.dryRun)
        } catch let refusal as RegistryRefusal {
            let (log, held) = self.refusalWarnings.withLock { $0.admit() }
            if log {
                self.logger.warning(
                    "registry change refused",
                    [
                        "version": String(request.version), "problems": String(refusal.message.prefix(4096)),
                        "refusals_not_logged": String(held),
                    ])
            }
            let code: GRPCStatus.Code = refusal.kind == .versionConflict ? .failedPrecondition : .invalidArgument
            return .failure(GRPCStatus(code, refusal.message))
        } catch let error as StorageError {
            self.logger.error("registry change failed", ["error": error.description])
            return .failure(grpcStatus(for: error))
        } catch {
            self.logger.error("registry change failed", ["error": "\(error)"])
            return .failure(GRPCStatus(.internalError, "the registry change failed: \(error)"))
        }
        let changedSomething =
            result.changed || !result.subscribedViews.isEmpty || !result.unsubscribedViews.isEmpty
        if !request.dryRun && changedSomething {
            self.logger.info(
                "registry applied",
                [
                    "version": String(result.version), "subscribed": result.subscribedViews.joined(separator: ","),
                    "unsubscribed": result.unsubscribedViews.joined(separator: ","),
                    "needs_backfill": result.pendingBackfill.joined(separator: ","),
                ])
        }
        return self.state { state in
            state.changed = result.changed
            state.subscribedViews = result.subscribedViews
            state.unsubscribedViews = result.unsubscribedViews
        }
    }

    /// `GetRegistry`.
    func getRegistry(
        _ request: UnsafeRawBufferPointer, _ context: ServerCallContext, _ response: inout [UInt8]
    ) throws(GRPCStatus) {
        guard AdminCodec.isWellFormed(request) else {
            throw GRPCStatus(.invalidArgument, "the request is not a valid freshet.v1.GetRegistryRequest")
        }
        switch self.state({ _ in }) {
        case .success(let bytes): response.append(contentsOf: bytes)
        case .failure(let status): throw status
        }
    }

    /// `FinishBackfill`: on the writer thread, after every update the backfill pushed.
    func finishBackfill(
        _ context: ServerCallContext, _ responder: ServerStreamResponder
    ) throws(GRPCStatus) -> any StreamingCall {
        DeferredUnaryCall(responder: responder) { bytes, reply in
            guard let request = bytes.withUnsafeBytes({ AdminCodec.decodeFinishBackfillRequest($0) }) else {
                reply(
                    .failure(
                        GRPCStatus(.invalidArgument, "the request is not a valid freshet.v1.FinishBackfillRequest")))
                return
            }
            let accepted = self.writer.perform { [self] in
                do {
                    let view = "view '\(request.view)'"
                    switch try self.store.finishBackfill(
                        view: request.view, id: request.backfillID, source: request.source)
                    {
                    case .finished:
                        self.logger.info("backfill finished", ["view": request.view])
                        reply(self.state { _ in })
                    case .notStored:
                        reply(.failure(GRPCStatus(.notFound, "this region does not store \(view)")))
                    case .notPending:
                        reply(
                            .failure(
                                GRPCStatus(
                                    .failedPrecondition,
                                    "\(view) has no pending backfill (backfill id \(request.backfillID) was finished already, or never needed)"
                                )))
                    case .resubscribed(let mark):
                        reply(
                            .failure(
                                GRPCStatus(
                                    .failedPrecondition,
                                    "\(view) waits for backfill id \(mark.id) (subscribed at registry version \(mark.version)), not id \(request.backfillID): it was subscribed again after this backfill started, or the id is wrong; its mark stays: run freshet push --backfill again"
                                )))
                    }
                } catch let error as StorageError {
                    reply(.failure(grpcStatus(for: error)))
                } catch {
                    reply(.failure(GRPCStatus(.internalError, "\(error)")))
                }
            }
            if !accepted {
                reply(.failure(GRPCStatus(.unavailable, "the server is shutting down; retry after the restart")))
            }
        }
    }

    /// The encoded `RegistryState` of the catalog in force, with each stored view's entry count.
    private func state(_ adjust: (inout RegistryStateMessage) -> Void) -> Result<[UInt8], GRPCStatus> {
        let catalog = self.store.catalog
        var state = RegistryStateMessage()
        state.version = catalog.version
        state.registryJSON = catalog.registryJSON
        state.servedServices = catalog.servedServices
        state.servesAll = catalog.servesAll
        do {
            state.storedViews = try self.store.environment.read { transaction in
                try catalog.storedViews.map { name in
                    RegistryStateMessage.StoredView(
                        name: name, entries: UInt64(try transaction.count(catalog.databases[name]!)),
                        backfillFromVersion: catalog.pendingBackfill[name]?.version ?? 0,
                        backfillID: catalog.pendingBackfill[name]?.id ?? 0)
                }
            }
        } catch let error as StorageError {
            return .failure(grpcStatus(for: error))
        } catch {
            return .failure(GRPCStatus(.internalError, "cannot count the views' rows"))
        }
        adjust(&state)
        var bytes: [UInt8] = []
        AdminCodec.appendState(state, to: &bytes)
        return .success(bytes)
    }
}
