// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Cache prefetch hints for memory the hot path is about to read (rows in the LMDB map).

internal import CFreshetLinux

/// Cache prefetch hints.
public enum Prefetch {
    /// Starts loading the first kilobyte of `bytes` into the cache. A hint only: it never faults and changes nothing
    /// the program can observe, except how soon a later read completes.
    @inline(__always)
    public static func read(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress else { return }
        CFreshetLinux_prefetch(base, UInt(bytes.count))
    }
}
