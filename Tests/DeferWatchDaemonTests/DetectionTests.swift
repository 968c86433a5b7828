import DeferWatchTestSupport
import Foundation
import Synchronization
import Testing

/// Detection scored against ../shared/bench/genlog.py's ground truth: logs with scripted
/// deferral incidents (Postfix, Exim, a mixed four-host stream, long low-rate logs) replayed
/// through `deferwatch analyze --alerts`, scored by scripts/score-alerts.py.
@Suite(.enabled(if: TestPaths.genlog != nil, "../shared/bench/genlog.py is not present"))
struct DetectionTests {
    static var genlog: URL? { TestPaths.genlog }

    struct Dataset: Sendable, CustomStringConvertible {
        var name: String
        var args: [String]
        var description: String { name }
    }

    static let datasets: [Dataset] = [
        Dataset(name: "postfix-1", args: ["--format", "postfix", "--lines", "1000000", "--rate", "20", "--seed", "1"]),
        Dataset(name: "postfix-2", args: ["--format", "postfix", "--lines", "1000000", "--rate", "20", "--seed", "2"]),
        Dataset(name: "exim-3", args: ["--format", "exim", "--timestamps", "exim", "--lines", "1000000", "--rate", "20", "--seed", "3"]),
        Dataset(name: "mixed-4", args: ["--format", "mixed", "--hosts", "4", "--lines", "1000000", "--rate", "20", "--seed", "4"]),
        Dataset(name: "postfix-lowrate-9", args: ["--format", "postfix", "--lines", "1000000", "--rate", "8", "--seed", "9"]),
        Dataset(name: "exim-lowrate-10", args: ["--format", "exim", "--timestamps", "exim", "--lines", "1000000", "--rate", "8", "--seed", "10"]),
    ]

    struct Score: Decodable, Sendable {
        var clear_episodes: Int
        var recalled: Int
        var alerts_opened: Int
        var false_positives: Int
        var delay_median_s: Double?
        var delay_max_s: Double?
        var resolved_after_end: Int
        var resolve_problems: [[Int]]?
    }

    static func score(_ d: Dataset) throws -> Score {
        let dir = TestPaths.temporaryDirectory("detection-\(d.name)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("\(d.name).log")
        let truth = dir.appendingPathComponent("\(d.name).truth.json")
        let alerts = dir.appendingPathComponent("\(d.name).alerts.jsonl")
        let python = URL(fileURLWithPath: "/usr/bin/python3")
        let g = try ProcessRunner.run(python, [genlog!.path] + d.args + ["--out", log.path, "--truth", truth.path])
        guard g.status == 0 else { throw FixtureError(message: "genlog failed: \(g.stderr)") }
        let r = try ProcessRunner.deferwatch(["analyze", "--alerts", "--json", "--utc", "--host", "mx1", log.path])
        guard r.status == 0 else { throw FixtureError(message: "analyze failed: \(r.stderr)") }
        try r.stdout.write(to: alerts)
        let script = TestPaths.packageRoot.appendingPathComponent("scripts/score-alerts.py")
        let s = try ProcessRunner.run(python, [script.path, truth.path, alerts.path, "--json"])
        guard s.status == 0 else { throw FixtureError(message: "scoring failed: \(s.stderr)") }
        let human = try ProcessRunner.run(python, [script.path, truth.path, alerts.path])
        print("\(d.name): \(human.stdoutText)")
        return try JSONDecoder().decode(Score.self, from: s.stdout)
    }

    /// Every clear incident (20+ deferrals, not greylisting) alerts with its cause for its
    /// destination, no alert opens outside an incident, and each alert resolves after its
    /// incident ends: 98% or better across all the logs together.
    @Test func recallPrecisionAndResolution() async throws {
        // Off the test pool, two logs at a time: generating and scoring six logs of a
        // million lines is the longest test there is.
        let scores = try await onOwnThread { () throws -> [Score] in
            let results = Mutex<[Int: Result<Score, any Error>]>([:])
            DispatchQueue.concurrentPerform(iterations: Self.datasets.count) { i in
                let r = Result { try Self.score(Self.datasets[i]) }
                results.withLock { $0[i] = r }
            }
            return try results.withLock { r in try (0..<Self.datasets.count).map { try r[$0]!.get() } }
        }
        var clear = 0, recalled = 0, opened = 0, falsePositives = 0, resolved = 0
        var medians: [Double] = []
        for s in scores {
            clear += s.clear_episodes
            recalled += s.recalled
            opened += s.alerts_opened
            falsePositives += s.false_positives
            resolved += s.resolved_after_end
            if let m = s.delay_median_s { medians.append(m) }
        }
        let recall = Double(recalled) / Double(max(1, clear))
        let precision = Double(opened - falsePositives) / Double(max(1, opened))
        print("detection: \(clear) clear incidents, recall \(recall), precision \(precision), resolved after their end \(resolved)/\(recalled), per-log median delays \(medians) s")
        #expect(clear >= 40, "enough incidents to score")
        #expect(recall >= 0.98)
        #expect(precision >= 0.98)
        #expect(Double(resolved) >= 0.98 * Double(recalled))
    }
}
