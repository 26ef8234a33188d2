// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Tests for OSThread (run, join, names, CPUs) and TerminationSignals (signals read from a signalfd).

import Dispatch
import FreshetPosix
import Glibc
import Testing

@Suite("OSThread")
struct OSThreadTests {
    @Test("runs its body on another thread, and join waits for it")
    func runsAndJoins() throws {
        let events = Shared<[String]>([])
        let testThread = pthread_self()
        let thread = try OSThread(name: "worker") {
            events.append(pthread_equal(pthread_self(), testThread) == 0 ? "other thread" : "test thread")
            usleep(10_000)
            events.append("done")
        }
        thread.join()
        #expect(events.value == ["other thread", "done"])
    }

    /// The kernel keeps 15 bytes of a thread name.
    static let names: [(given: String, kept: String)] = [
        ("worker", "worker"),
        ("freshet-loop-0", "freshet-loop-0"),
        ("freshet-loop-012345", "freshet-loop-01"),
        (
            "boucle-\u{00E9}\u{00E9}\u{00E9}\u{00E9}\u{00E9}\u{00E9}\u{00E9}\u{00E9}",
            "boucle-\u{00E9}\u{00E9}\u{00E9}\u{00E9}"
        ),
    ]

    @Test("names the thread, keeping what fits in 15 bytes", arguments: OSThreadTests.names)
    func name(given: String, kept: String) throws {
        let named = DispatchSemaphore(value: 0)
        let observed = Shared<String>("")
        let thread = try OSThread(name: given) {
            named.wait()  // the name is set by the creating thread after pthread_create
            let comm = (try? FileIO.readAll("/proc/thread-self/comm")) ?? []
            observed.update { $0 = String(decoding: comm, as: UTF8.self) }
        }
        named.signal()
        thread.join()
        #expect(observed.value == kept + "\n")
    }

    @Test("reports at least one CPU")
    func availableCPUs() {
        #expect(OSThread.availableCPUs >= 1)
    }

    @Test("pinning to a CPU that does not exist fails")
    func pinToMissingCPU() throws {
        let pinned = Shared<Bool?>(nil)
        let thread = try OSThread(name: "pin") {
            pinned.update { $0 = OSThread.pinCurrent(toCPU: 100_000) }
        }
        thread.join()
        #expect(pinned.value == false)
    }
}

@Suite("TerminationSignals")
struct TerminationSignalsTests {
    /// Blocks the termination signals on a thread of its own (so the test runner's threads keep their mask), sends
    /// each signal to that thread, and reads it back from the signalfd.
    @Test("delivers termination signals through the descriptor")
    func delivers() throws {
        let events = Shared<[String]>([])
        let thread = try OSThread(name: "signals") {
            let fd: Int32
            do {
                fd = try TerminationSignals.block()
            } catch {
                events.append("\(error)")
                return
            }
            defer { close(fd) }
            events.append("none: \(TerminationSignals.wait(fd, timeout: .milliseconds(1)).map(String.init) ?? "nil")")
            pthread_kill(pthread_self(), SIGHUP)
            events.append("wait: \(TerminationSignals.wait(fd, timeout: .seconds(5)).map(String.init) ?? "nil")")
            pthread_kill(pthread_self(), SIGTERM)
            events.append("next: \(TerminationSignals.next(fd))")
            pthread_kill(pthread_self(), SIGINT)
            events.append("next: \(TerminationSignals.next(fd))")
        }
        thread.join()
        #expect(events.value == ["none: nil", "wait: 1", "next: 15", "next: 2"])
    }
}
