// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Plain pthreads for event loops and the writer (no Swift Concurrency on the hot path), plus signal handling.

internal import CFreshetLinux
internal import Glibc

/// A joinable OS thread running one closure.
public final class OSThread: Sendable {
    // A pthread_t is an integer handle; joining from another thread is what pthreads is for.
    private let handle: pthread_t

    private final class Box {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    /// Starts a thread named `name` (cut to the kernel's 15 bytes) that runs `body`.
    /// - Throws: ``SystemError`` when the thread cannot be created.
    public init(name: String, _ body: @escaping @Sendable () -> Void) throws(SystemError) {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        var handle = pthread_t()
        let status = pthread_create(
            &handle, nil,
            { argument in
                // Owner: the retain taken in init is released here, once the body has run.
                let box = Unmanaged<Box>.fromOpaque(argument!).takeRetainedValue()
                box.body()
                return nil
            }, box)
        guard status == 0 else {
            Unmanaged<Box>.fromOpaque(box).release()
            throw SystemError(errno: status, call: "pthread_create")
        }
        _ = CFreshetLinux_set_thread_name(handle, Self.kernelName(name))
        self.handle = handle
    }

    /// The longest prefix of `name`, cut at a character boundary, that fits the kernel's 15 bytes.
    static func kernelName(_ name: String) -> String {
        var kept = ""
        for character in name {
            guard kept.utf8.count + character.utf8.count <= 15 else { break }
            kept.append(character)
        }
        return kept
    }

    /// Waits for the thread to finish. Call once.
    public func join() {
        _ = pthread_join(self.handle, nil)
    }

    /// Lets the thread release its resources by itself when it ends, for a thread nobody joins. Call once, and
    /// never together with ``join()``.
    public func detach() {
        _ = pthread_detach(self.handle)
    }

    /// Lowers the calling thread's scheduling priority to nice `nice` (0...19), so latency-critical threads (event
    /// loops) preempt it when they wake: for background work such as applying replication batches.
    /// - Returns: false when the kernel refused (the thread then runs at its old priority).
    @discardableResult
    public static func lowerCurrentPriority(toNice nice: Int32) -> Bool {
        CFreshetLinux_set_current_thread_nice(nice) == 0
    }

    /// Moves the calling thread to SCHED_IDLE: it gets only the CPU time no other thread wants, and any other
    /// thread that wakes up (an event loop with a lookup) preempts it at once.
    /// - Returns: false when the kernel refused.
    @discardableResult
    public static func makeCurrentIdlePriority() -> Bool {
        CFreshetLinux_set_current_thread_idle() == 0
    }

    /// Pins the calling thread to `cpu`; returns false when the kernel refuses (for example in a restricted cpuset).
    @discardableResult
    public static func pinCurrent(toCPU cpu: Int) -> Bool {
        CFreshetLinux_pin_to_cpu(Int32(cpu)) == 0
    }

    /// The number of CPUs this process may run on.
    public static var availableCPUs: Int {
        max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }
}

/// Termination signals (SIGTERM, SIGINT, SIGHUP) delivered as readable events instead of asynchronous handlers.
public enum TerminationSignals {
    /// Blocks the termination signals in the calling thread (threads started afterwards inherit the mask), ignores
    /// SIGPIPE, and returns a descriptor that ``next(_:)`` reads. Call on the main thread before starting threads.
    public static func block() throws(SystemError) -> Int32 {
        CFreshetLinux_ignore_sigpipe()
        let fd = try Syscall.must("signalfd") { Int(CFreshetLinux_signalfd_termination()) }
        return Int32(fd)
    }

    /// Blocks until a termination signal arrives and returns its number (SIGTERM = 15, SIGINT = 2, SIGHUP = 1).
    public static func next(_ descriptor: Int32) -> Int32 {
        while true {
            let signal = CFreshetLinux_signalfd_read(descriptor)
            if signal >= 0 { return signal }
            if CFreshetLinux_errno() != EINTR { return -1 }
        }
    }

    /// Waits up to `timeout` for a termination signal; returns its number, or `nil` when none arrived.
    public static func wait(_ descriptor: Int32, timeout: Duration) -> Int32? {
        guard (try? Socket(descriptor: descriptor).waitReadable(timeout: timeout)) == true else { return nil }
        let signal = CFreshetLinux_signalfd_read(descriptor)
        return signal >= 0 ? signal : nil
    }

    /// Ignores SIGPIPE, so that writing to a closed socket returns EPIPE instead of killing the process.
    public static func ignoreBrokenPipe() {
        CFreshetLinux_ignore_sigpipe()
    }
}

/// Unbuffered writes to standard output and standard error (one `write(2)` per call), for lines that must appear
/// at once, such as `listening HOST:PORT`.
public enum Console {
    /// Writes `text` to standard output.
    public static func out(_ text: String) {
        Self.write(text, to: 1)
    }

    /// Writes `text` to standard error.
    public static func error(_ text: String) {
        Self.write(text, to: 2)
    }

    private static func write(_ text: String, to descriptor: Int32) {
        var copy = text
        copy.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 && CFreshetLinux_errno() == EINTR { continue }
                if written <= 0 { return }
                offset += written
            }
        }
    }
}

/// Process resource limits.
public enum ProcessLimits {
    /// Raises the soft limit on open descriptors to the hard limit (a server holds one per connection; the usual
    /// soft default of 1024 would refuse connections long before memory runs out). Returns the new soft limit.
    @discardableResult
    public static func raiseOpenFileLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return -1 }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            _ = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        return Int(clamping: limit.rlim_cur)
    }
}
