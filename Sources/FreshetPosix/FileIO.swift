// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Whole-file reads and writes for configuration and data files, and directory creation.

internal import Glibc

/// Reading whole files.
public enum FileIO {
    /// Reads a whole regular file.
    /// - Throws: ``SystemError`` naming the path (`open examples/x.csv: No such file or directory (errno 2)`), or
    ///   EISDIR for a directory.
    /// - Parameter maxBytes: read no more than this many bytes plus one (a file that returns more is larger than
    ///   the caller accepts: compare the count). Bounds memory for files without a size (`/dev/zero`, pipes).
    public static func readAll(_ path: String, maxBytes: Int = .max) throws(SystemError) -> [UInt8] {
        let fd = try Syscall.must("open \(path)") { Int(open(path, O_RDONLY | O_CLOEXEC)) }
        defer { close(Int32(fd)) }
        var info = stat()
        try Syscall.must("stat \(path)") { Int(fstat(Int32(fd), &info)) }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            throw SystemError(errno: EISDIR, call: "read \(path)")
        }
        let wanted = maxBytes == .max ? Int.max : maxBytes + 1
        var bytes: [UInt8] = []
        bytes.reserveCapacity(min(Int(info.st_size), wanted))
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while bytes.count < wanted {
            let asked = min(chunk.count, wanted - bytes.count)
            let count = try Syscall.must("read \(path)") {
                chunk.withUnsafeMutableBytes { Glibc.read(Int32(fd), $0.baseAddress, asked) }
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return bytes
    }

    /// Writes `bytes` to `path`, creating or truncating it (mode 0644).
    /// - Throws: ``SystemError`` naming the path.
    public static func writeAll(_ path: String, _ bytes: [UInt8]) throws(SystemError) {
        let fd = try Syscall.must("open \(path)") { Int(open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)) }
        defer { close(Int32(fd)) }
        var offset = 0
        while offset < bytes.count {
            let written = try Syscall.must("write \(path)") {
                bytes.withUnsafeBytes { Glibc.write(Int32(fd), $0.baseAddress! + offset, $0.count - offset) }
            }
            offset += written
        }
    }

    /// The size of a regular file, or `nil` when `path` does not exist.
    /// - Throws: ``SystemError`` for any other failure of `stat`.
    public static func size(of path: String) throws(SystemError) -> Int? {
        var info = stat()
        if stat(path, &info) != 0 {
            let error = errno
            if error == ENOENT { return nil }
            throw SystemError(errno: error, call: "stat \(path)")
        }
        return Int(info.st_size)
    }

    /// Copies a whole file to `target` (created, mode 0644, or truncated), 1 MiB at a time, and flushes it to disk.
    /// - Returns: the bytes copied.
    public static func copyFile(_ source: String, to target: String) throws(SystemError) -> Int {
        let input = try Syscall.must("open \(source)") { Int(open(source, O_RDONLY | O_CLOEXEC)) }
        defer { close(Int32(input)) }
        let output = try Syscall.must("open \(target)") {
            Int(open(target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644))
        }
        defer { close(Int32(output)) }
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var copied = 0
        while true {
            let count = try Syscall.must("read \(source)") {
                chunk.withUnsafeMutableBytes { Glibc.read(Int32(input), $0.baseAddress, $0.count) }
            }
            if count == 0 { break }
            var offset = 0
            while offset < count {
                offset += try Syscall.must("write \(target)") {
                    chunk.withUnsafeBytes { Glibc.write(Int32(output), $0.baseAddress! + offset, count - offset) }
                }
            }
            copied += count
        }
        try Syscall.must("fsync \(target)") { Int(fsync(Int32(output))) }
        return copied
    }

    /// Reads up to `count` bytes of a file from `offset` (`pread`); fewer at the end of the file.
    public static func read(_ path: String, offset: Int, count: Int) throws(SystemError) -> [UInt8] {
        let fd = try Syscall.must("open \(path)") { Int(open(path, O_RDONLY | O_CLOEXEC)) }
        defer { close(Int32(fd)) }
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let got = try Syscall.must("read \(path)") {
                bytes.withUnsafeMutableBytes {
                    pread(Int32(fd), $0.baseAddress! + filled, count - filled, off_t(offset + filled))
                }
            }
            if got == 0 { break }
            filled += got
        }
        bytes.removeLast(count - filled)
        return bytes
    }

    /// The names in a directory (without `.` and `..`); empty when it does not exist.
    public static func list(_ path: String) throws(SystemError) -> [String] {
        guard let directory = opendir(path) else {
            let error = errno
            if error == ENOENT { return [] }
            throw SystemError(errno: error, call: "opendir \(path)")
        }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The canonical absolute path (`realpath`: links and `..` resolved), or `nil` when it does not exist.
    public static func realPath(_ path: String) -> String? {
        guard let resolved = Glibc.realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// The directory part of a path (`.` for a bare name).
    public static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// Flushes a file's data to disk (`fsync`).
    public static func sync(_ path: String) throws(SystemError) {
        let fd = try Syscall.must("open \(path)") { Int(open(path, O_RDONLY | O_CLOEXEC)) }
        defer { close(Int32(fd)) }
        try Syscall.must("fsync \(path)") { Int(fsync(Int32(fd))) }
    }

    /// Renames `source` to `target` atomically (`rename`), replacing `target`.
    public static func rename(_ source: String, to target: String) throws(SystemError) {
        try Syscall.must("rename \(source) to \(target)") { Int(Glibc.rename(source, target)) }
    }

    /// Gives `source` the name `target` unless `target` exists (`link`, then `unlink` of `source`): unlike
    /// ``rename(_:to:)`` it never replaces a file that appeared meanwhile.
    /// - Returns: false when `target` exists (nothing changed).
    public static func renameWithoutReplacing(_ source: String, to target: String) throws(SystemError) -> Bool {
        if link(source, target) != 0 {
            let error = errno
            if error == EEXIST { return false }
            throw SystemError(errno: error, call: "link \(source) to \(target)")
        }
        try Self.removeFile(source)
        return true
    }

    /// Removes a file; a missing one is fine.
    public static func removeFile(_ path: String) throws(SystemError) {
        guard unlink(path) != 0 else { return }
        let error = errno
        if error != ENOENT { throw SystemError(errno: error, call: "unlink \(path)") }
    }

    /// Removes an empty directory; a missing one is fine.
    public static func removeDirectory(_ path: String) throws(SystemError) {
        guard rmdir(path) != 0 else { return }
        let error = errno
        if error != ENOENT { throw SystemError(errno: error, call: "rmdir \(path)") }
    }

    /// `mkdir -p path` (mode 0755): creates the directory and any missing parents; an existing directory is fine.
    /// - Throws: ``SystemError`` naming the path that failed, ENOTDIR when `path` (or a parent) is not a directory.
    public static func makeDirectories(_ path: String) throws(SystemError) {
        if mkdir(path, 0o755) == 0 {
            return
        }
        var error = errno
        if error == ENOENT {
            // A parent is missing: create it, then retry.
            var parent = path
            while parent.count > 1 && parent.hasSuffix("/") {
                parent.removeLast()
            }
            if let slash = parent.lastIndex(of: "/"), slash != parent.startIndex {
                try FileIO.makeDirectories(String(parent[..<slash]))
                if mkdir(path, 0o755) == 0 {
                    return
                }
                error = errno
            }
        }
        if error != EEXIST {
            throw SystemError(errno: error, call: "mkdir \(path)")
        }
        var info = stat()
        if stat(path, &info) != 0 {
            throw SystemError(errno: errno, call: "stat \(path)")
        }
        if info.st_mode & S_IFMT != S_IFDIR {
            throw SystemError(errno: ENOTDIR, call: "mkdir \(path)")
        }
    }
}

/// An exclusive advisory lock on a file (`flock`), held until the value is released: one process at a time may hold
/// it. `freshet serve` holds one in its data directory, so a second server on the same directory stops before it
/// changes anything.
public final class FileLock: Sendable {
    private let descriptor: Int32

    /// Takes the lock on `path` (created when missing, mode 0644), without waiting.
    /// - Returns: `nil` when another open file holds the lock.
    /// - Throws: ``SystemError`` naming the path when it cannot be opened or locked.
    public init?(path: String) throws(SystemError) {
        let fd = try Syscall.must("open \(path)") { Int(open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)) }
        if flock(Int32(fd), LOCK_EX | LOCK_NB) != 0 {
            let error = errno
            close(Int32(fd))
            if error == EWOULDBLOCK { return nil }
            throw SystemError(errno: error, call: "flock \(path)")
        }
        self.descriptor = Int32(fd)
    }

    deinit {
        close(self.descriptor)
    }
}

/// A file written front to back in pieces (for downloads too large to hold in memory).
public final class FileWriter {
    public let path: String
    private var descriptor: Int32

    /// Creates or truncates `path` (mode 0644).
    public init(path: String) throws(SystemError) {
        self.path = path
        self.descriptor = Int32(
            try Syscall.must("open \(path)") { Int(open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)) })
    }

    deinit {
        if self.descriptor >= 0 { Glibc.close(self.descriptor) }
    }

    /// Appends `bytes`.
    public func write(_ bytes: [UInt8]) throws(SystemError) {
        var offset = 0
        while offset < bytes.count {
            let descriptor = self.descriptor
            offset += try Syscall.must("write \(self.path)") {
                bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            }
        }
    }

    /// Flushes to disk and closes.
    public func close() throws(SystemError) {
        let descriptor = self.descriptor
        self.descriptor = -1
        defer { Glibc.close(descriptor) }
        try Syscall.must("fsync \(self.path)") { Int(fsync(descriptor)) }
    }
}
