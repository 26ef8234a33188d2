// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// The socket half of a benchmark connection: non-blocking reads into the protocol, buffered writes once per turn.

internal import FreshetPosix

/// A non-blocking socket registered with the run's event loop. Subclasses speak a protocol: they consume what
/// arrives in ``received(_:)`` and queue output with ``queue(_:)``.
///
/// Thread affinity: loop-confined.
class BenchConnection: Selectable {
    let socket: Socket
    unowned let loop: EventLoop
    unowned let owner: any LoadConnectionOwner
    private let readBuffer: UnsafeMutableRawBufferPointer
    private var output = OutputBuffer()
    private var watchingWritable = false
    private(set) var isBroken = false
    /// Why the connection broke, once it has (not set by ``close()``).
    private(set) var brokenReason: String?

    init(endpoint: Endpoint, loop: EventLoop, owner: any LoadConnectionOwner) throws {
        self.socket = try Socket.connect(to: endpoint)
        self.loop = loop
        self.owner = owner
        self.readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 << 10, alignment: 16)
        try loop.register(self.socket.descriptor, interest: .readable, handler: self)
    }

    deinit {
        self.readBuffer.deallocate()
    }

    /// Consumes bytes read from the socket. Subclasses override.
    func received(_ bytes: UnsafeRawBufferPointer) throws {}

    /// Called once when the connection breaks; subclasses fail their outstanding requests.
    func broke(_ reason: String) {}

    /// Appends bytes to send at the next flush.
    func queue(_ bytes: UnsafeRawBufferPointer) {
        self.output.append(bytes)
    }

    /// Gives subclasses a chance to queue protocol output (nghttp2 frames) before the write.
    func prepareOutput() {}

    func handle(_ readiness: Readiness) {
        if readiness.contains(.writable) { self.writeOutput() }
        guard readiness.contains(.readable) || !readiness.isDisjoint(with: .hangup) else { return }
        while !self.isBroken {
            let result: IOResult<Int>
            do {
                result = try self.socket.read(into: self.readBuffer)
            } catch {
                self.fail("\(error)")
                return
            }
            switch result {
            case .wouldBlock:
                return
            case .processed(0):
                self.fail("the server closed the connection")
                return
            case .processed(let count):
                do {
                    try self.received(UnsafeRawBufferPointer(rebasing: self.readBuffer[0..<count]))
                } catch {
                    self.fail("\(error)")
                    return
                }
                if count < self.readBuffer.count { return }
            }
        }
    }

    /// Writes queued output; called by the runner once per loop turn.
    func flush() {
        guard !self.isBroken else { return }
        self.prepareOutput()
        self.writeOutput()
    }

    private func writeOutput() {
        guard !self.isBroken else { return }
        do {
            self.watchWritable(!(try self.output.write(to: self.socket)))
        } catch {
            self.fail("\(error)")
        }
    }

    private func watchWritable(_ watch: Bool) {
        guard watch != self.watchingWritable, !self.isBroken else { return }
        self.watchingWritable = watch
        try? self.loop.reregister(self.socket.descriptor, interest: watch ? [.readable, .writable] : [.readable])
    }

    func fail(_ reason: String) {
        guard !self.isBroken else { return }
        self.isBroken = true
        self.brokenReason = reason
        self.loop.deregister(self.socket.descriptor)
        self.socket.close()
        self.broke(reason)
    }

    func close() {
        guard !self.isBroken else { return }
        self.isBroken = true
        self.loop.deregister(self.socket.descriptor)
        self.socket.close()
    }
}
