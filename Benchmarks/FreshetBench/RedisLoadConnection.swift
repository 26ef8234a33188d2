// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// A benchmark connection that pipelines Redis commands (GET, MGET) in RESP and parses the replies.

internal import FreshetPosix

/// The prepared commands of a Redis run, encoded in RESP.
public final class RedisPayloads {
    let commands: [[UInt8]]
    let rows: [Int]

    /// - Parameter keyBatches: the keys of each command: `GET key` for one key, `MGET k1 k2 …` for more.
    public init(keyBatches: [[String]]) {
        self.commands = keyBatches.map { keys in
            let words = [keys.count == 1 ? "GET" : "MGET"] + keys
            var bytes = Array("*\(words.count)\r\n".utf8)
            for word in words {
                bytes += Array("$\(word.utf8.count)\r\n".utf8)
                bytes += Array(word.utf8)
                bytes += [13, 10]
            }
            return bytes
        }
        self.rows = keyBatches.map(\.count)
    }

    public var count: Int { self.commands.count }
}

/// One Redis connection with up to `depth` commands in flight (pipelined; replies come back in order).
final class RedisLoadConnection: BenchConnection, LoadConnection, TimingOut {
    private let payloads: RedisPayloads
    private let depth: Int
    private var pending: [(intended: ContinuousClock.Instant, rows: Int)] = []
    private var pendingStart = 0
    private var input: [UInt8] = []
    private var inputOffset = 0
    /// Values that came back nil (a key Redis does not have), for a sanity check by the caller.
    private(set) var missingValues = 0

    init(
        endpoint: Endpoint, loop: EventLoop, owner: any LoadConnectionOwner, payloads: RedisPayloads, depth: Int
    ) throws {
        self.payloads = payloads
        self.depth = depth
        try super.init(endpoint: endpoint, loop: loop, owner: owner)
    }

    var freeSlots: Int { self.isBroken ? 0 : self.depth - (self.pending.count - self.pendingStart) }

    func send(payload: Int, intended: ContinuousClock.Instant) {
        self.pending.append((intended, self.payloads.rows[payload]))
        self.payloads.commands[payload].withUnsafeBytes { self.queue($0) }
    }

    override func received(_ bytes: UnsafeRawBufferPointer) throws {
        self.input.append(contentsOf: bytes)
        while let (end, error) = try self.parseReply(at: self.inputOffset) {
            self.inputOffset = end
            guard self.pendingStart < self.pending.count else {
                throw RedisProtocolError(message: "a reply without a command")
            }
            let command = self.pending[self.pendingStart]
            self.pendingStart += 1
            self.owner.completed(
                intended: command.intended, rows: command.rows,
                outcome: error.map { .failed(String($0.prefix { $0 != " " }), detail: $0) } ?? .ok, on: self)
        }
        if self.inputOffset == self.input.count {
            self.input.removeAll(keepingCapacity: true)
            self.inputOffset = 0
        } else if self.inputOffset > 1 << 20 {
            self.input.removeFirst(self.inputOffset)
            self.inputOffset = 0
        }
        if self.pendingStart > 1024 && self.pendingStart * 2 > self.pending.count {
            self.pending.removeFirst(self.pendingStart)
            self.pendingStart = 0
        }
        self.owner.markDirty(self)
    }

    override func broke(_ reason: String) {
        let pending = self.pending[self.pendingStart...]
        self.pending.removeAll()
        self.pendingStart = 0
        for command in pending {
            self.owner.completed(
                intended: command.intended, rows: command.rows, outcome: .failed("UNAVAILABLE", detail: reason),
                on: self)
        }
    }

    func unanswered() -> [(ContinuousClock.Instant, Int)] {
        self.pending[self.pendingStart...].map { ($0.intended, $0.rows) }
    }

    // MARK: - RESP

    /// Parses one complete reply starting at `index`; returns where it ends and the error text for `-ERR` replies,
    /// or `nil` when the reply has not fully arrived.
    private func parseReply(at index: Int) throws -> (Int, String?)? {
        guard let (line, next) = self.line(at: index) else { return nil }
        guard let kind = line.first else { throw RedisProtocolError(message: "an empty reply line") }
        let text = line.dropFirst()
        switch kind {
        case UInt8(ascii: "+"), UInt8(ascii: ":"):
            return (next, nil)
        case UInt8(ascii: "-"):
            return (next, String(decoding: text.prefix(64), as: UTF8.self))
        case UInt8(ascii: "$"):
            guard let length = Int(String(decoding: text, as: UTF8.self)) else {
                throw RedisProtocolError(message: "a bad bulk length")
            }
            if length < 0 {
                self.missingValues += 1
                return (next, nil)
            }
            let end = next + length + 2
            return end <= self.input.count ? (end, nil) : nil
        case UInt8(ascii: "*"):
            guard let count = Int(String(decoding: text, as: UTF8.self)) else {
                throw RedisProtocolError(message: "a bad array length")
            }
            var cursor = next
            for _ in 0..<max(0, count) {
                guard let (end, _) = try self.parseReply(at: cursor) else { return nil }
                cursor = end
            }
            return (cursor, nil)
        default:
            throw RedisProtocolError(message: "an unknown reply type \(kind)")
        }
    }

    /// The line at `index` (without CRLF) and the index after its CRLF, or `nil` when it is incomplete.
    private func line(at index: Int) -> (ArraySlice<UInt8>, Int)? {
        var cursor = index
        while cursor + 1 < self.input.count {
            if self.input[cursor] == 13 && self.input[cursor + 1] == 10 {
                return (self.input[index..<cursor], cursor + 2)
            }
            cursor += 1
        }
        return nil
    }
}

struct RedisProtocolError: Error, CustomStringConvertible {
    var message: String
    var description: String { "Redis protocol: \(self.message)" }
}
