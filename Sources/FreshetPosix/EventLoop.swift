// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// A single-threaded epoll event loop: descriptor readiness, timers, and a cross-thread wakeup.

internal import CFreshetLinux
internal import Glibc
import Synchronization

/// What a descriptor became ready for.
public struct Readiness: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Data (or a pending connection) can be read.
    public static let readable = Readiness(rawValue: CFreshetLinux_EPOLLIN)
    /// The socket accepts more output.
    public static let writable = Readiness(rawValue: CFreshetLinux_EPOLLOUT)
    /// The peer hung up or the descriptor is in error; read to learn which.
    public static let hangup = Readiness(
        rawValue: CFreshetLinux_EPOLLHUP | CFreshetLinux_EPOLLERR | CFreshetLinux_EPOLLRDHUP)
}

/// Something registered with an ``EventLoop``: called on the loop thread when its descriptor is ready.
public protocol Selectable: AnyObject {
    /// Handles readiness. Runs on the loop thread; must not block.
    func handle(_ readiness: Readiness)
}

/// A wakeup handle for an ``EventLoop`` that any thread may use.
public struct EventLoopWaker: Sendable {
    private let descriptor: Int32

    fileprivate init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    /// Wakes the loop; it then calls its ``EventLoop/onWakeup`` handler on its own thread. Safe from any thread,
    /// and from a signal context (one `write` of 8 bytes to an eventfd). Wakeups coalesce.
    public func wake() {
        var one: UInt64 = 1
        _ = Glibc.write(self.descriptor, &one, 8)
    }
}

/// Runs closures on an ``EventLoop``'s thread, handed in from any thread: the way other threads (the replication
/// writer) give work back to a loop without touching its state.
///
/// Thread safety: every member is safe from any thread. The closures run on the loop thread, in the order they were
/// handed in, at the start of the loop's next turn.
public final class EventLoopInbox: Sendable {
    private struct State {
        var tasks: [@Sendable () -> Void] = []
        /// The loop is gone: its eventfd is closed (and its number may be reused), so nothing may be queued or woken.
        var closed = false
    }

    private let state = Mutex(State())
    private let waker: EventLoopWaker

    fileprivate init(waker: EventLoopWaker) {
        self.waker = waker
    }

    /// Queues `body` to run on the loop thread and wakes the loop. Returns false, and drops `body`, when the loop
    /// has been deinitialized.
    @discardableResult
    public func execute(_ body: @escaping @Sendable () -> Void) -> Bool {
        self.state.withLock { state in
            guard !state.closed else { return false }
            state.tasks.append(body)
            // Inside the lock, so that close() cannot close the eventfd in between.
            self.waker.wake()
            return true
        }
    }

    /// Takes every queued closure (on the loop thread).
    fileprivate func drain() -> [@Sendable () -> Void] {
        self.state.withLock { state in
            defer { state.tasks.removeAll(keepingCapacity: true) }
            return state.tasks
        }
    }

    /// Refuses further work; called before the loop closes its eventfd.
    fileprivate func close() {
        self.state.withLock { state in
            state.closed = true
            state.tasks.removeAll()
        }
    }
}

/// A value that belongs to one event loop, carried through a `Sendable` closure to that loop.
///
/// Loop-confined objects (a connection's call) are not `Sendable`; another thread may still hold one to hand it back
/// to its loop through ``EventLoopInbox/execute(_:)``. `@unchecked Sendable` is justified by the runtime check: the
/// value is reachable only through ``value``, which preconditions that the caller is on the owning loop's thread.
public struct LoopBound<Value>: @unchecked Sendable {
    private let wrapped: Value
    private let owner: pthread_t

    /// Wraps `value`; call on the owning loop's thread.
    public init(_ value: Value) {
        self.wrapped = value
        self.owner = pthread_self()
    }

    /// The value; only on the thread that wrapped it.
    public var value: Value {
        precondition(pthread_equal(self.owner, pthread_self()) != 0, "LoopBound value used off its loop thread")
        return self.wrapped
    }
}

/// One epoll event loop, owned by one thread.
///
/// The loop waits for readiness with `epoll_wait`, runs the handlers of ready descriptors, runs due timers, then
/// runs its ``beforeSleep`` hook (where connections flush their output: one write per connection per turn, as
/// redis does) and waits again.
///
/// Thread affinity: create, use and run a loop on one thread only. Only ``waker`` crosses threads; every other
/// member preconditions that it runs on the owner thread.
public final class EventLoop {
    private let epoll: Int32
    private let wakeFD: Int32
    /// Fires at the earliest timer deadline, with nanosecond precision (epoll_wait's timeout is in milliseconds).
    private let timerFD: Int32
    /// The deadline `timerFD` is armed for, if any.
    private var armedDeadline: ContinuousClock.Instant?
    private var handlers: [Int32: any Selectable] = [:]
    private var timers = TimerHeap()
    private var nextTimerID: UInt64 = 0
    private var cancelledTimers: Set<UInt64> = []
    private var running = false
    private let owner: pthread_t

    /// Runs on the loop thread after a ``EventLoopWaker/wake()`` from any thread.
    public var onWakeup: (() -> Void)?
    /// Closures other threads hand to this loop (run before ``onWakeup``).
    public let inbox: EventLoopInbox
    /// Runs at the end of every loop turn, after handlers and timers, before the loop sleeps.
    public var beforeSleep: (() -> Void)?
    /// When the next timer is closer than this, the loop polls (epoll_wait with timeout 0) instead of arming the
    /// timerfd and sleeping: a load generator due to send every few microseconds saves two system calls and a
    /// wakeup per send. Zero (the default) never spins.
    public var spinThreshold: Duration = .zero

    /// Creates a loop owned by the calling thread.
    /// - Throws: ``SystemError`` when epoll or eventfd cannot be created (out of descriptors).
    public init() throws(SystemError) {
        let epoll = try Syscall.must("epoll_create1") { Int(CFreshetLinux_epoll_create()) }
        let wake: Int
        let timer: Int
        do {
            wake = try Syscall.must("eventfd") { Int(CFreshetLinux_eventfd()) }
        } catch {
            Glibc.close(Int32(epoll))
            throw error
        }
        do {
            timer = try Syscall.must("timerfd_create") { Int(CFreshetLinux_timerfd()) }
        } catch {
            Glibc.close(Int32(epoll))
            Glibc.close(Int32(wake))
            throw error
        }
        self.epoll = Int32(epoll)
        self.wakeFD = Int32(wake)
        self.timerFD = Int32(timer)
        self.owner = pthread_self()
        self.inbox = EventLoopInbox(waker: EventLoopWaker(descriptor: Int32(wake)))
        for descriptor in [self.wakeFD, self.timerFD] {
            try Syscall.must("epoll_ctl add") {
                Int(
                    CFreshetLinux_epoll_ctl(
                        self.epoll, CFreshetLinux_EPOLL_CTL_ADD, descriptor, CFreshetLinux_EPOLLIN, UInt64(descriptor)))
            }
        }
    }

    deinit {
        self.inbox.close()
        Glibc.close(self.timerFD)
        Glibc.close(self.wakeFD)
        Glibc.close(self.epoll)
    }

    /// A handle that wakes this loop from any thread.
    public var waker: EventLoopWaker { EventLoopWaker(descriptor: self.wakeFD) }

    /// Whether the calling thread owns this loop.
    public var inEventLoop: Bool { pthread_equal(self.owner, pthread_self()) != 0 }

    private func preconditionInEventLoop(_ function: StaticString = #function) {
        precondition(self.inEventLoop, "EventLoop.\(function) called off its thread")
    }

    // MARK: - Descriptors

    /// Watches `descriptor` for `interest` and calls `handler` when it is ready (level-triggered).
    /// The loop keeps a strong reference to the handler until ``deregister(_:)``.
    public func register(_ descriptor: Int32, interest: Readiness, handler: any Selectable) throws(SystemError) {
        self.preconditionInEventLoop()
        let events = interest.rawValue | CFreshetLinux_EPOLLRDHUP
        try Syscall.must("epoll_ctl add") {
            Int(
                CFreshetLinux_epoll_ctl(
                    self.epoll, CFreshetLinux_EPOLL_CTL_ADD, descriptor, events, UInt64(UInt32(bitPattern: descriptor)))
            )
        }
        self.handlers[descriptor] = handler
    }

    /// Changes what a registered descriptor is watched for.
    public func reregister(_ descriptor: Int32, interest: Readiness) throws(SystemError) {
        self.preconditionInEventLoop()
        let events = interest.rawValue | CFreshetLinux_EPOLLRDHUP
        try Syscall.must("epoll_ctl mod") {
            Int(
                CFreshetLinux_epoll_ctl(
                    self.epoll, CFreshetLinux_EPOLL_CTL_MOD, descriptor, events, UInt64(UInt32(bitPattern: descriptor)))
            )
        }
    }

    /// Stops watching a descriptor and drops the loop's reference to its handler. Call before closing it.
    public func deregister(_ descriptor: Int32) {
        self.preconditionInEventLoop()
        _ = CFreshetLinux_epoll_ctl(self.epoll, CFreshetLinux_EPOLL_CTL_DEL, descriptor, 0, 0)
        self.handlers[descriptor] = nil
    }

    // MARK: - Timers

    /// Runs `body` on the loop at or after `deadline`. Returns an identifier for ``cancelTimer(_:)``.
    @discardableResult
    public func schedule(at deadline: ContinuousClock.Instant, _ body: @escaping () -> Void) -> UInt64 {
        self.preconditionInEventLoop()
        self.nextTimerID &+= 1
        self.timers.push(TimerHeap.Entry(deadline: deadline, id: self.nextTimerID, body: body))
        return self.nextTimerID
    }

    /// Cancels a timer that has not run yet; does nothing otherwise.
    public func cancelTimer(_ id: UInt64) {
        self.preconditionInEventLoop()
        if self.timers.contains(id: id) {
            self.cancelledTimers.insert(id)
        }
    }

    // MARK: - Running

    /// Runs the loop until ``stop()``. Call on the owner thread.
    /// - Throws: ``SystemError`` when epoll_wait fails for a reason other than EINTR.
    public func run() throws(SystemError) {
        self.preconditionInEventLoop()
        self.running = true
        let capacity = 256
        let data = UnsafeMutablePointer<UInt64>.allocate(capacity: capacity)
        let masks = UnsafeMutablePointer<UInt32>.allocate(capacity: capacity)
        defer {
            data.deallocate()
            masks.deallocate()
        }
        while self.running {
            let timeout = self.armTimerForNextDeadline()
            let count = try Syscall.must("epoll_wait") {
                Int(CFreshetLinux_epoll_wait(self.epoll, data, masks, Int32(capacity), timeout))
            }
            for index in 0..<count {
                let descriptor = Int32(truncatingIfNeeded: data[index])
                if descriptor == self.wakeFD {
                    var value: UInt64 = 0
                    _ = Glibc.read(self.wakeFD, &value, 8)
                    for task in self.inbox.drain() { task() }
                    self.onWakeup?()
                } else if descriptor == self.timerFD {
                    var expirations: UInt64 = 0
                    _ = Glibc.read(self.timerFD, &expirations, 8)
                    self.armedDeadline = nil
                } else if let handler = self.handlers[descriptor] {
                    handler.handle(Readiness(rawValue: masks[index]))
                }
            }
            self.runDueTimers()
            self.beforeSleep?()
        }
    }

    /// Makes ``run()`` return after the current turn. Call on the loop thread.
    public func stop() {
        self.preconditionInEventLoop()
        self.running = false
    }

    /// Arms the timerfd for the earliest timer (re-arming only when that deadline changed) and returns the
    /// epoll_wait timeout: 0 when a timer is already due, otherwise -1 (the timerfd wakes the loop).
    private func armTimerForNextDeadline() -> Int32 {
        while let first = self.timers.first, self.cancelledTimers.contains(first.id) {
            self.cancelledTimers.remove(first.id)
            _ = self.timers.pop()
        }
        guard let first = self.timers.first else {
            if self.armedDeadline != nil {
                _ = CFreshetLinux_timerfd_arm(self.timerFD, 0)
                self.armedDeadline = nil
            }
            return -1
        }
        let remaining = ContinuousClock.now.duration(to: first.deadline)
        if remaining <= .zero || remaining < self.spinThreshold { return 0 }
        if self.armedDeadline != first.deadline {
            let (seconds, attoseconds) = remaining.components
            let nanoseconds = seconds * 1_000_000_000 + (attoseconds + 999_999_999) / 1_000_000_000
            _ = CFreshetLinux_timerfd_arm(self.timerFD, max(1, nanoseconds))
            self.armedDeadline = first.deadline
        }
        return -1
    }

    private func runDueTimers() {
        guard !self.timers.isEmpty else { return }
        let now = ContinuousClock.now
        while let first = self.timers.first, first.deadline <= now {
            let entry = self.timers.pop()!
            if self.cancelledTimers.remove(entry.id) == nil {
                entry.body()
            }
        }
    }
}

/// A binary min-heap of timers ordered by deadline.
private struct TimerHeap {
    struct Entry {
        var deadline: ContinuousClock.Instant
        var id: UInt64
        var body: () -> Void
    }

    private var entries: [Entry] = []
    private var ids: Set<UInt64> = []

    var isEmpty: Bool { self.entries.isEmpty }
    var first: Entry? { self.entries.first }

    func contains(id: UInt64) -> Bool { self.ids.contains(id) }

    mutating func push(_ entry: Entry) {
        self.entries.append(entry)
        self.ids.insert(entry.id)
        var child = self.entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard self.entries[child].deadline < self.entries[parent].deadline else { break }
            self.entries.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Entry? {
        guard !self.entries.isEmpty else { return nil }
        self.entries.swapAt(0, self.entries.count - 1)
        let top = self.entries.removeLast()
        self.ids.remove(top.id)
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < self.entries.count && self.entries[left].deadline < self.entries[smallest].deadline {
                smallest = left
            }
            if right < self.entries.count && self.entries[right].deadline < self.entries[smallest].deadline {
                smallest = right
            }
            if smallest == parent { break }
            self.entries.swapAt(parent, smallest)
            parent = smallest
        }
        return top
    }
}
