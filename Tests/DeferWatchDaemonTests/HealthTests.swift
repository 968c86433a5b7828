import DeferWatchTestSupport
import Foundation
import Testing

/// Health says what is wrong, and the daemon says at its start what it follows and where
/// its alerts go: never "ok" while alerts go nowhere.
@Suite(.serialized) struct HealthTests {
    typealias Daemon = DaemonProcessTests

    static func status(_ s: Daemon.Setup, _ target: String = "/v1/status") -> (json: [String: Any], body: String) {
        guard let r = try? StatusSocketTests.get(s, target) else { return ([:], "") }
        return (r.json, r.body)
    }

    static func problems(_ s: Daemon.Setup) -> [String] {
        status(s).json["problems"] as? [String] ?? []
    }

    /// Waits for a snapshot whose problems mention `needle`.
    static func waitForProblem(_ s: Daemon.Setup, _ needle: String) -> [String] {
        var p: [String] = []
        _ = eventually(every: 50_000) {
            p = problems(s)
            return p.contains(where: { $0.contains(needle) })
        }
        return p
    }

    /// No syslog socket: alerts wait, health says so, stderr said so at the start.
    @Test func alertsThatGoNowhereAreAProblem() throws {
        let s = try Daemon.setup()
        let (p, alerts, err) = try Daemon.runUntilAnAlert(s)
        defer { ProcessRunner.stop(p) }
        #expect(alerts.contains("\"state\":\"open\""))
        let problems = Self.waitForProblem(s, "syslog")
        #expect(problems.contains { $0.contains("syslog") && $0.contains("waiting") }, "\(problems)")
        let text = try ProcessRunner.run(TestPaths.binary, ["status", "--socket", StatusSocketTests.socketPath(s)])
        #expect(text.stdoutText.contains("Health:   PROBLEMS"), "\(text.stdoutText)")
        #expect(text.stdoutText.contains("syslog"), "\(text.stdoutText)")
        let stderr = (try? String(contentsOf: err, encoding: .utf8)) ?? ""
        #expect(stderr.contains("following \(s.log.path)"), "\(stderr)")
        #expect(stderr.contains("alerts go to syslog at \(s.socket)") && stderr.contains("not available"), "\(stderr)")
    }

    /// `journal = true` where there is no journal at all: not "following" with 0 lines.
    @Test func aJournalWithNoFilesIsNotFollowing() throws {
        let s = try Daemon.setup()
        let empty = s.dir.appendingPathComponent("no-journal")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        var config = try String(contentsOf: s.config, encoding: .utf8)
        config = config.replacingOccurrences(of: "journal = false", with: "journal = true\njournal_directory = \"\(empty.path)\"")
        try config.write(to: s.config, atomically: true, encoding: .utf8)
        let p = try Daemon.start(s)
        defer { ProcessRunner.stop(p) }
        let problems = Self.waitForProblem(s, "journal")
        let sources = Self.status(s).json["sources"] as? [[String: Any]] ?? []
        let journal = sources.first { $0["kind"] as? String == "journal" }
        #expect((journal?["state"] as? String)?.contains("no journal files") == true, "\(sources)")
        #expect(problems.contains { $0.contains("no journal files") }, "\(problems)")
    }

    /// `deferwatch status --config FILE` with a typo elsewhere in the file still finds the
    /// socket the file names, and warns.
    @Test func statusWorksThroughATypoInTheConfiguration() throws {
        let s = try Daemon.setup()
        let p = try Daemon.start(s)
        defer { ProcessRunner.stop(p) }
        try #require(Daemon.waitUntilStarted(s), "the daemon did not start")
        let broken = s.dir.appendingPathComponent("broken.toml")
        try (try String(contentsOf: s.config, encoding: .utf8) + "\n[alerts]\nwindwo = \"15m\"\n").write(to: broken, atomically: true, encoding: .utf8)
        var r = try ProcessRunner.run(TestPaths.binary, ["status", "--config", broken.path])
        for _ in 0..<20 where r.status != 0 {
            usleep(100_000)
            r = try ProcessRunner.run(TestPaths.binary, ["status", "--config", broken.path])
        }
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdoutText.contains("Health:"), "\(r.stdoutText)")
        #expect(r.stderr.contains("windwo") && r.stderr.contains("status.sock"), "\(r.stderr)")
    }
}
