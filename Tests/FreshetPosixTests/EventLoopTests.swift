// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Tests for the epoll event loop on its own thread: timers, cross-thread wakeups, descriptor readiness, turns, stop.

import FreshetPosix
import Glibc
import Testing

@Suite("EventLoop")
struct EventLoopTests {
    // MARK: - Timers

    @Test("timers fire in deadline order, never early")
    func timersInDeadlineOrder() throws {
        let fired = Shared<[String]>([])
        let loop = try LoopThread { loop in
            let start = ContinuousClock.now
            let timers: [(String, Duration)] = [
                ("c", .milliseconds(30)), ("a", .milliseconds(10)), ("e", .milliseconds(50)),
                ("past", .milliseconds(-1000)), ("b", .milliseconds(20)), ("d", .milliseconds(40)),
            ]
            for (label, offset) in timers {
                let deadline = start + offset
                loop.schedule(at: deadline) {
                    fired.append(ContinuousClock.now >= deadline ? label : "\(label) (early)")
                }
            }
            loop.schedule(at: start + .milliseconds(60)) { [unowned loop] in loop.stop() }
        }
        try loop.join()
        #expect(fired.value == ["past", "a", "b", "c", "d", "e"])
    }

    @Test("schedule returns distinct identifiers")
    func distinctIdentifiers() throws {
        let ids = Shared<[UInt64]>([])
        let loop = try LoopThread { loop in
            let deadline = ContinuousClock.now + .seconds(60)
            ids.update { $0 = (0..<10).map { _ in loop.schedule(at: deadline) {} } }
            loop.schedule(at: .now) { [unowned loop] in loop.stop() }
        }
        try loop.join()
        #expect(Set(ids.value).count == 10)
    }

    /// Three timers a, b, c; the cancelled ones (by index) must not fire, the rest fire in order.
    @Test("cancelled timers do not fire", arguments: [[], [0], [1], [2], [0, 2], [0, 1, 2]])
    func cancelledTimers(cancelled: [Int]) throws {
        let fired = Shared<[String]>([])
        let loop = try LoopThread { loop in
            let start = ContinuousClock.now
            let ids = ["a", "b", "c"].enumerated().map { index, label in
                loop.schedule(at: start + .milliseconds(5 * (index + 1))) { fired.append(label) }
            }
            for index in cancelled {
                loop.cancelTimer(ids[index])
            }
            loop.schedule(at: start + .milliseconds(30)) { [unowned loop] in loop.stop() }
        }
        try loop.join()
        let expected = ["a", "b", "c"].enumerated().filter { !cancelled.contains($0.offset) }.map(\.element)
        #expect(fired.value == expected)
    }

    @Test("a timer cancelled by another timer due in the same turn does not fire")
    func cancelWithinTurn() throws {
        let fired = Shared<[String]>([])
        let loop = try LoopThread { loop in
            let start = ContinuousClock.now
            var second: UInt64 = 0
            loop.schedule(at: start - .milliseconds(2)) { [unowned loop] in
                fired.append("first")
                loop.cancelTimer(second)
            }
            second = loop.schedule(at: start - .milliseconds(1)) { fired.append("second") }
            loop.schedule(at: start + .milliseconds(10)) { [unowned loop] in loop.stop() }
        }
        try loop.join()
        #expect(fired.value == ["first"])
    }

    @Test("cancelling a timer that already fired, or an unknown one, changes nothing")
    func cancelAfterFiring() throws {
        let fired = Shared<[String]>([])
        let loop = try LoopThread { loop in
            let start = ContinuousClock.now
            var first: UInt64 = 0
            first = loop.schedule(at: start) { fired.append("first") }
            loop.schedule(at: start + .milliseconds(5)) { [unowned loop] in
                loop.cancelTimer(first)
                loop.cancelTimer(999_999)
                loop.schedule(at: .now) { fired.append("later") }
            }
            loop.schedule(at: start + .milliseconds(20)) { [unowned loop] in loop.stop() }
        }
        try loop.join()
        #expect(fired.value == ["first", "later"])
    }

    // MARK: - Wakeups

    @Test("waker.wake() from the test thread runs onWakeup on the loop thread")
    func wakeFromAnotherThread() throws {
        let calls = Shared<[String]>([])
        let loopThreadID = Shared<pthread_t>(0)
        let loop = try LoopThread { loop in
            loopThreadID.update { $0 = pthread_self() }
            loop.onWakeup = { [unowned loop] in
                calls.append(
                    loop.inEventLoop && pthread_equal(pthread_self(), loopThreadID.value) != 0 ? "loop" : "other")
                loop.stop()
            }
        }
        loop.waker.wake()
        try loop.join()
        #expect(calls.value == ["loop"])
        #expect(pthread_equal(loopThreadID.value, pthread_self()) == 0)
    }

    @Test("wakeups before the loop waits coalesce into one onWakeup")
    func wakeupsCoalesce() throws {
        let calls = Shared<Int>(0)
        let loop = try LoopThread { loop in
            loop.onWakeup = { calls.update { $0 += 1 } }
            for _ in 0..<3 {
                loop.waker.wake()
            }
            loop.schedule(at: .now + .milliseconds(20)) { [unowned loop] in loop.stop() }
        }
        try loop.join()
        #expect(calls.value == 1)
    }

    @Test("a wakeup with no onWakeup handler is harmless")
    func wakeWithoutHandler() throws {
        let loop = try LoopThread { loop in
            loop.waker.wake()
            loop.schedule(at: .now + .milliseconds(10)) { [unowned loop] in loop.stop() }
        }
        try loop.join()
    }

    // MARK: - Descriptors

    @Test("a registered socket's handler sees .readable and reads the bytes")
    func readableSocket() throws {
        let pair = try TCPPair()
        defer { pair.closeAll() }
        let server = pair.server
        try writeAll(Array("ping".utf8), to: pair.client)
        let seen = Shared<[String]>([])
        let loop = try LoopThread { loop in
            let handler = ClosureHandler { [unowned loop] readiness in
                seen.append(readiness.names.joined(separator: "|"))
                if case .processed(let bytes) = try? readOnce(server) {
                    seen.append(String(decoding: bytes, as: UTF8.self))
                }
                loop.deregister(server.descriptor)
                loop.stop()
            }
            try loop.register(server.descriptor, interest: .readable, handler: handler)
        }
        try loop.join()
        #expect(seen.value == ["readable", "ping"])
    }

    @Test("a peer closing shows as readable with hangup, and the read returns 0")
    func peerHangup() throws {
        let pair = try TCPPair()
        defer { pair.closeAll() }
        let server = pair.server
        pair.close(pair.client)
        let seen = Shared<[String]>([])
        let loop = try LoopThread { loop in
            let handler = ClosureHandler { [unowned loop] readiness in
                seen.append(readiness.names.joined(separator: "|"))
                if case .processed(let bytes) = try? readOnce(server) {
                    seen.append("read \(bytes.count)")
                }
                loop.deregister(server.descriptor)
                loop.stop()
            }
            try loop.register(server.descriptor, interest: .readable, handler: handler)
        }
        try loop.join()
        #expect(seen.value == ["readable|hangup", "read 0"])
    }

    @Test("reregister changes the interest: a writable socket stops reporting once watched for input only")
    func reregister() throws {
        let pair = try TCPPair()
        defer { pair.closeAll() }
        let server = pair.server
        let seen = Shared<[String]>([])
        let loop = try LoopThread { loop in
            let handler = ClosureHandler { [unowned loop] readiness in
                seen.append(readiness.names.joined(separator: "|"))
                do {
                    try loop.reregister(server.descriptor, interest: .readable)
                } catch {
                    seen.append("\(error)")
                }
            }
            try loop.register(server.descriptor, interest: .writable, handler: handler)
            loop.schedule(at: .now + .milliseconds(30)) { [unowned loop] in
                loop.deregister(server.descriptor)
                loop.stop()
            }
        }
        try loop.join()
        // Level-triggered: without the reregister, the handler would run on every turn.
        #expect(seen.value == ["writable"])
    }

    @Test("a deregistered descriptor's handler is not called, and the loop drops it")
    func deregister() throws {
        let pair = try TCPPair()
        defer { pair.closeAll() }
        let server = pair.server
        try writeAll([1], to: pair.client)
        let seen = Shared<[String]>([])
        let loop = try LoopThread { loop in
            var handler: ClosureHandler? = ClosureHandler { _ in seen.append("called") }
            weak let weakHandler = handler
            try loop.register(server.descriptor, interest: .readable, handler: handler!)
            handler = nil
            seen.append(weakHandler == nil ? "released early" : "kept by the loop")
            loop.deregister(server.descriptor)
            seen.append(weakHandler == nil ? "dropped" : "still kept")
            loop.schedule(at: .now + .milliseconds(20)) { [unowned loop] in loop.stop() }
        }
        try loop.join()
        #expect(seen.value == ["kept by the loop", "dropped"])
    }

    @Test("registering a descriptor twice throws EEXIST")
    func registerTwice() throws {
        let pair = try TCPPair()
        defer { pair.closeAll() }
        let server = pair.server
        let outcome = Shared<SystemError?>(nil)
        let loop = try LoopThread { loop in
            let handler = ClosureHandler { _ in }
            try loop.register(server.descriptor, interest: .readable, handler: handler)
            do throws(SystemError) {
                try loop.register(server.descriptor, interest: .readable, handler: handler)
            } catch {
                outcome.update { $0 = error }
            }
            loop.deregister(server.descriptor)
            loop.schedule(at: .now) { [unowned loop] in loop.stop() }
        }
        try loop.join()
        #expect(outcome.value == SystemError(errno: EEXIST, call: "epoll_ctl add"))
    }

    // MARK: - Turns and stopping

    @Test("beforeSleep runs at the end of every turn, after its timers")
    func beforeSleepEachTurn() throws {
        let events = Shared<[String]>([])
        let loop = try LoopThread { loop in
            loop.beforeSleep = { events.append("sleep") }
            // Each timer schedules the next, so each runs in a turn of its own.
            func chain(_ remaining: Int) {
                loop.schedule(at: .now) { [unowned loop] in
                    events.append("timer \(remaining)")
                    if remaining > 1 { chain(remaining - 1) } else { loop.stop() }
                }
            }
            chain(3)
        }
        try loop.join()
        #expect(events.value == ["timer 3", "sleep", "timer 2", "sleep", "timer 1", "sleep"])
    }

    @Test("stop() makes run() return, and the loop can run again")
    func stopAndRunAgain() throws {
        let events = Shared<[String]>([])
        let thread = try OSThread(name: "test-loop") {
            do {
                let loop = try EventLoop()
                for round in 1...2 {
                    let guardTimer = loop.schedule(at: .now + .seconds(5)) { [unowned loop] in
                        events.append("guard timer")
                        loop.stop()
                    }
                    loop.schedule(at: .now + .milliseconds(5)) { [unowned loop] in
                        events.append("stop \(round)")
                        loop.stop()
                    }
                    try loop.run()
                    loop.cancelTimer(guardTimer)
                    events.append("returned \(round)")
                }
            } catch {
                events.append("\(error)")
            }
        }
        thread.join()
        #expect(events.value == ["stop 1", "returned 1", "stop 2", "returned 2"])
    }

    @Test("stop() from onWakeup ends run() after the turn, still running beforeSleep")
    func stopFromWakeup() throws {
        let events = Shared<[String]>([])
        let loop = try LoopThread { loop in
            loop.onWakeup = { [unowned loop] in
                events.append("wakeup")
                loop.stop()
            }
            loop.beforeSleep = { events.append("sleep") }
        }
        loop.waker.wake()
        try loop.join()
        #expect(events.value == ["wakeup", "sleep"])
    }

    // MARK: - Thread affinity

    @Test("using a loop off its owner thread traps")
    func offThreadTraps() async {
        await #expect(processExitsWith: .failure) {
            nonisolated(unsafe) let loop = try EventLoop()
            let thread = try OSThread(name: "intruder") {
                loop.schedule(at: .now) {}
            }
            thread.join()
        }
    }
}
