// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Tests for FileIO.readAll: whole files of several sizes, and the errors for missing paths and directories.

import FreshetPosix
import Glibc
import Testing

@Suite("FileIO.readAll")
struct FileIOTests {
    /// Sizes around the 64 KiB read chunk.
    @Test("reads a whole file", arguments: [0, 1, 100, 65_535, 65_536, 65_537, 300_000])
    func readsWholeFile(size: Int) throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let bytes = patternBytes(size)
        let path = try directory.write("data.bin", bytes)
        #expect(try FileIO.readAll(path) == bytes)
    }

    @Test("reads UTF-8 text byte for byte")
    func readsText() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let text = "origin,dest\nEWR,IAH\nJFK,MIA\n\u{00E9}t\u{00E9},\u{2603}\n"
        let path = try directory.write("flights.csv", Array(text.utf8))
        #expect(String(decoding: try FileIO.readAll(path), as: UTF8.self) == text)
    }

    @Test("reads a file whose size stat reports as 0 (procfs)")
    func readsProcFile() throws {
        let bytes = try FileIO.readAll("/proc/self/status")
        #expect(String(decoding: bytes, as: UTF8.self).hasPrefix("Name:"))
    }

    @Test("a missing file throws ENOENT naming the path")
    func missingFile() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("missing.csv")
        let error = #expect(throws: SystemError.self) { try FileIO.readAll(path) }
        #expect(error == SystemError(errno: ENOENT, call: "open \(path)"))
        #expect(error?.description == "open \(path): No such file or directory (errno 2)")
    }

    @Test("a directory throws EISDIR naming the path")
    func directory() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let error = #expect(throws: SystemError.self) { try FileIO.readAll(directory.path) }
        #expect(error == SystemError(errno: EISDIR, call: "read \(directory.path)"))
        #expect(error?.errno == 21)
    }

    @Test("a path through a regular file throws ENOTDIR")
    func pathThroughFile() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let file = try directory.write("plain", [1])
        let error = #expect(throws: SystemError.self) { try FileIO.readAll(file + "/inside") }
        #expect(error?.errno == ENOTDIR)
        #expect(error?.call == "open \(file)/inside")
    }
    @Test("makeDirectories creates missing parents, accepts an existing directory and refuses a file")
    func makeDirectories() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let nested = directory.file("a/b/c/")
        defer {
            for inner in ["a/b/c", "a/b", "a"] { rmdir(directory.file(inner)) }
        }
        try FileIO.makeDirectories(nested)
        try FileIO.makeDirectories(nested)
        var info = stat()
        #expect(stat(nested, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR)

        let file = try directory.write("plain", [1])
        let error = #expect(throws: SystemError.self) { try FileIO.makeDirectories(file) }
        #expect(error == SystemError(errno: ENOTDIR, call: "mkdir \(file)"))
        let through = #expect(throws: SystemError.self) { try FileIO.makeDirectories(file + "/inside") }
        #expect(through?.errno == ENOTDIR)
    }
    @Test("renameWithoutReplacing never replaces a file that is there, and moves one that is not")
    func renameWithoutReplacing() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let source = try directory.write("new", [1, 2, 3])
        let target = try directory.write("there", [9])
        #expect(try FileIO.renameWithoutReplacing(source, to: target) == false)
        #expect(try FileIO.readAll(target) == [9])
        #expect(try FileIO.readAll(source) == [1, 2, 3])
        try FileIO.removeFile(target)
        #expect(try FileIO.renameWithoutReplacing(source, to: target))
        #expect(try FileIO.readAll(target) == [1, 2, 3])
        #expect(try FileIO.size(of: source) == nil)
        try FileIO.removeFile(target)
    }

    @Test("read returns a range of a file, shorter at its end; list names a directory's entries")
    func readRangeAndList() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let bytes = patternBytes(1000)
        let path = try directory.write("data.bin", bytes)
        #expect(try FileIO.read(path, offset: 10, count: 20) == Array(bytes[10..<30]))
        #expect(try FileIO.read(path, offset: 990, count: 20) == Array(bytes[990...]))
        #expect(try FileIO.read(path, offset: 2000, count: 20) == [])
        #expect(try FileIO.list(directory.file("")) == ["data.bin"])
        #expect(try FileIO.list(directory.file("missing")) == [])
        #expect(
            FileIO.parent(of: "a/b/c.snap") == "a/b" && FileIO.parent(of: "c.snap") == "."
                && FileIO.parent(of: "/c") == "/")
    }
}
