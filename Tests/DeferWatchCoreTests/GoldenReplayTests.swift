import DeferWatchCore
import DeferWatchTestSupport
import Foundation
import Testing

/// Golden replays: every Golden/NAME.log through the pipeline and the tracker, compared with
/// Golden/NAME.expected as text. DEFERWATCH_UPDATE_GOLDEN=1 rewrites the expected files
/// (then review the change with git diff); see Golden/README.md.
@Suite struct GoldenReplayTests {
    static let dir = TestPaths.packageRoot.appendingPathComponent("Tests/DeferWatchCoreTests/Golden")
    static let update = ProcessInfo.processInfo.environment["DEFERWATCH_UPDATE_GOLDEN"] == "1"

    static var scenarios: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? [])
            .filter { $0.hasSuffix(".log") }.map { String($0.dropLast(4)) }.sorted()
    }

    /// What `deferwatch analyze --alerts --utc --host mx1 NAME.log` prints.
    static func replay(_ name: String) throws -> String {
        let bytes = Array(try Data(contentsOf: dir.appendingPathComponent("\(name).log")))
        let rules = RuleSet.builtin()
        var tracker = DeferralTracker(hints: HintBook.builtin(providers: rules.providers))
        var out = ""
        for e in PipelineHarness.run(bytes, rules: rules) {
            for t in tracker.record(e) { out += CivilTime.rfc3339(t.time) + " " + t.logLine + "\n" }
        }
        for t in tracker.summariesAtEnd() { out += CivilTime.rfc3339(t.time) + " " + t.logLine + "\n" }
        return out
    }

    @Test(arguments: scenarios)
    func replayMatchesExpected(_ name: String) throws {
        let got = try Self.replay(name)
        let url = Self.dir.appendingPathComponent("\(name).expected")
        if Self.update {
            try got.write(to: url, atomically: true, encoding: .utf8)
            return
        }
        let expected = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        if got != expected {
            let g = got.split(separator: "\n", omittingEmptySubsequences: false)
            let e = expected.split(separator: "\n", omittingEmptySubsequences: false)
            var diff = ""
            for i in 0..<max(g.count, e.count) {
                let a = i < e.count ? String(e[i]) : "<none>"
                let b = i < g.count ? String(g[i]) : "<none>"
                if a != b { diff += "line \(i + 1):\n- \(a)\n+ \(b)\n" }
            }
            Issue.record("\(name): replay differs from \(name).expected (DEFERWATCH_UPDATE_GOLDEN=1 to accept):\n\(diff)")
        }
    }

    /// Speed never changes results: each NAME.events holds the `--events` lines of NAME.log
    /// as an earlier build (commit f426309) printed them (`deferwatch analyze --events
    /// --utc --host mx1 NAME.log`), and the pipeline must give them byte for byte.
    @Test(arguments: scenarios)
    func eventLinesMatchTheReference(_ name: String) throws {
        let url = Self.dir.appendingPathComponent("\(name).events")
        let bytes = Array(try Data(contentsOf: Self.dir.appendingPathComponent("\(name).log")))
        let got = PipelineHarness.run(bytes).map { $0.jsonLine + "\n" }.joined()
        if Self.update {
            try got.write(to: url, atomically: true, encoding: .utf8)
            return
        }
        let expected = try String(contentsOf: url, encoding: .utf8)
        #expect(got == expected, "\(name): the --events lines differ from \(name).events")
    }

    /// The same lines a few seconds out of order give the same alerts: ids, states, keys,
    /// causes, counts and resolve times (the open line's own time and sample may come from
    /// the line that happened to arrive first).
    @Test func outOfOrderGivesTheSameAlertsAsSorted() throws {
        func essence(_ s: String) -> [String] {
            s.split(separator: "\n").map { line in
                line.split(separator: " ").filter { f in
                    ["alert=", "id=", "cause=", "scope=", "provider=", "domain=", "host=", "deferrals="].contains { f.hasPrefix($0) }
                        || (line.contains("alert=resolve") && f.hasSuffix("Z") && f.count == 20)
                }.joined(separator: " ")
            }
        }
        let a = try Self.replay("out-of-order")
        let b = try Self.replay("out-of-order-sorted")
        #expect(!a.isEmpty)
        #expect(essence(a) == essence(b))
    }
}
