import DeferWatchTestSupport
import Foundation
import Testing

/// systemd/deferwatch.service: `systemd-analyze verify` says nothing (any stderr is a
/// failure, since unknown keys only warn) and the offline security score is 2.5 or lower.
@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze"), "systemd-analyze is not installed"))
struct SystemdUnitTests {
    static let unit = TestPaths.packageRoot.appendingPathComponent("systemd/deferwatch.service")

    /// The unit with ExecStart pointing at the built binary (verify checks that it exists).
    static func unitCopy() throws -> URL {
        let dir = TestPaths.temporaryDirectory("unit")
        let text = try String(contentsOf: unit, encoding: .utf8)
            .replacingOccurrences(of: "/usr/local/bin/deferwatch", with: TestPaths.binary.path)
        let copy = dir.appendingPathComponent("deferwatch.service")
        try text.write(to: copy, atomically: true, encoding: .utf8)
        return copy
    }

    @Test func verifyIsSilent() throws {
        let r = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/systemd-analyze"), ["verify", try Self.unitCopy().path])
        #expect(r.status == 0)
        #expect(r.stderr.isEmpty, "systemd-analyze verify: \(r.stderr)")
    }

    @Test func securityExposureIsLow() throws {
        let r = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/systemd-analyze"), ["security", "--offline=yes", Self.unit.path])
        let text = r.stdoutText + r.stderr
        guard let range = text.range(of: "Overall exposure level for deferwatch.service: ") else {
            Issue.record("no exposure level in: \(text.suffix(500))")
            return
        }
        let score = Double(text[range.upperBound...].prefix { $0 == "." || $0.isNumber }) ?? 99
        print("systemd-analyze security: \(score)")
        #expect(score <= 2.5)
    }
}
