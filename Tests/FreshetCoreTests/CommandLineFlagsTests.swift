// Copyright 2026 The Freshet Authors. Licensed under the Apache License, Version 2.0 (LICENSE).
//
// Tests for the command-line flag parser shared by `freshet` and `freshet-bench`.

import FreshetCore
import Testing

@Suite("Command-line flags")
struct CommandLineFlagsTests {
    static let specs = [
        FlagSpec(name: "batch", kind: .value(placeholder: "N"), help: ""),
        FlagSpec(name: "duration", kind: .value(placeholder: "D"), help: ""),
        FlagSpec(name: "row", kind: .repeated(placeholder: "R"), help: ""),
        FlagSpec(name: "json", kind: .toggle, help: ""),
    ]

    private func parse(_ arguments: [String]) throws(UsageError) -> Flags {
        try Flags(arguments, specs: Self.specs)
    }

    private func message(_ arguments: [String]) -> String? {
        do {
            _ = try self.parse(arguments)
            return nil
        } catch {
            return error.message
        }
    }

    @Test func valuesTogglesAndRepeats() throws {
        let flags = try self.parse(["--batch", "5", "--duration=2s", "--row", "a", "--row=b", "--json"])
        #expect(flags.value("batch") == "5")
        #expect(flags.value("duration") == "2s")
        #expect(flags.values("row") == ["a", "b"])
        #expect(flags.isSet("json"))
        #expect(!flags.isSet("missing"))
        #expect(try flags.integer("batch", default: 1, range: 1...10) == 5)
    }

    @Test(
        "a flag that needs a value, followed by another flag, says the value is missing",
        arguments: [
            ["--batch", "--duration", "1s"], ["--batch", "--json"], ["--batch", "--help"], ["--row", "--batch=3"],
            ["--batch"],
        ])
    func missingValue(arguments: [String]) {
        let name = arguments[0]
        #expect(self.message(arguments) == "\(name) needs a value")
    }

    @Test func aValueStartingWithDashesCanBeGivenInline() throws {
        #expect(try self.parse(["--row=--json"]).values("row") == ["--json"])
        // Not a flag of this command: taken as the value (and then judged by whoever reads it).
        #expect(try self.parse(["--row", "--other"]).values("row") == ["--other"])
    }

    @Test func mistakesAreNamed() {
        #expect(self.message(["--nope"]) == "unknown option --nope")
        #expect(self.message(["positional"]) == "unexpected argument 'positional'")
        #expect(self.message(["--batch", "1", "--batch", "2"]) == "--batch is given more than once")
        #expect(self.message(["--json=yes"]) == "--json takes no value")
        let flags = try? self.parse(["--batch", "0"])
        #expect(
            (try? flags?.integer("batch", default: 1, range: 1...10)) == nil
                && self.integerMessage(flags, "batch") == "--batch must be an integer from 1 to 10, not '0'")
    }

    private func integerMessage(_ flags: Flags?, _ name: String) -> String? {
        do {
            _ = try flags?.integer(name, default: 1, range: 1...10)
            return nil
        } catch {
            return error.message
        }
    }
}
