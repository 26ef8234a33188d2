// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Comparing received header bytes with literals without building Strings (one memcmp, no generic iteration).

internal import Glibc

extension UnsafeRawBufferPointer {
    /// Whether the bytes are exactly `literal`'s UTF-8.
    @inline(__always)
    func matches(_ literal: StaticString) -> Bool {
        self.count == literal.utf8CodeUnitCount
            && (self.count == 0 || memcmp(self.baseAddress!, literal.utf8Start, self.count) == 0)
    }

    /// Whether the bytes start with `literal`'s UTF-8.
    @inline(__always)
    func starts(with literal: StaticString) -> Bool {
        self.count >= literal.utf8CodeUnitCount
            && (literal.utf8CodeUnitCount == 0
                || memcmp(self.baseAddress!, literal.utf8Start, literal.utf8CodeUnitCount) == 0)
    }
}
