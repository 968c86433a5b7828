import DeferWatchCore
import DeferWatchDaemon
import DeferWatchTestSupport
import Foundation
import Testing

/// The daemon's behaviour over time, restarts and reloads, driven in-process with a manual
/// clock (InProcessDaemon): what the process tests showed with sleeps, without them.
@Suite struct InProcessDaemonTests {
    typealias World = InProcessDaemon.World
    static let fast = "[alerts]\nwindow = \"60s\"\nbucket = \"1s\"\n[alerts.default]\nresolve_after = \"3s\""

    /// Lines three days old (a backlog after downtime, a log shipped late) open their alert
    /// on log time, and the wall clock does not resolve it a second later: it resolves only
    /// after `resolve_after` of quiet. `log_time` is the newest line's, not the wall's.
    @Test func aBacklogIsJudgedOnLogTime() throws {
        let w = try World(extra: Self.fast)
        let d = try InProcessDaemon(w)
        let old = -3.0 * 86_400
        let lines = (0..<12).map { w.line($0, sent: false, offset: old + Double($0)) }
        w.append(lines)
        d.step()
        #expect(d.alerts.states == ["open 1"])
        // Two seconds of quiet: less than resolve_after, still open.
        d.run(seconds: 2)
        #expect(d.alerts.states == ["open 1"], "resolved by the wall clock")
        let st = try #require(d.status)
        #expect(st.logTime.map { $0.hasPrefix(String(lines[11].prefix(19))) } == true, "log_time \(st.logTime ?? "none")")
        #expect(st.alerts.count == 1)
        // Deliveries of the same day, then quiet past resolve_after: it resolves, delivered.
        w.append((20..<30).map { w.line($0, sent: true, offset: old + Double($0)) })
        d.run(seconds: 5)
        #expect(d.alerts.states == ["open 1", "resolve 1"])
        #expect(d.alerts.all.last?.logLine.contains("resolved=delivered") == true, "\(d.alerts.all.last?.logLine ?? "")")
        d.stop()
    }

    /// An alert open at a kill -9 is neither forgotten after the restart (it resolves
    /// later, same id) nor raised again.
    @Test func openAlertsSurviveARestart() throws {
        let w = try World(extra: Self.fast)
        let first = try InProcessDaemon(w)
        w.append((0..<12).map { w.line($0, sent: false) })
        first.step()
        #expect(first.alerts.states == ["open 1"])
        first.run(seconds: 0.5) // a checkpoint
        first.kill()

        let second = try InProcessDaemon(w)
        w.append((12..<18).map { w.line($0, sent: false) })
        second.run(seconds: 0.5)
        w.append((18..<30).map { w.line($0, sent: true) })
        second.run(seconds: 5)
        #expect(second.alerts.states == ["resolve 1"], "raised again, or not resolved")
        second.stop()
    }

    /// Lines counted exactly once across kills at random points: what was read after the
    /// last checkpoint is read again, and counted again, once in all.
    @Test func killsAndRestartsCountEveryLineOnce() throws {
        let w = try World()
        var rng = SeededRandom.fromEnvironment()
        var written = 0
        var d = try InProcessDaemon(w)
        for _ in 0..<20 {
            for _ in 0..<Int.random(in: 1...5, using: &rng) {
                let n = Int.random(in: 1...300, using: &rng)
                w.append((written..<(written + n)).map { w.line($0, sent: true) })
                written += n
                d.step(Int.random(in: 1...6, using: &rng))
            }
            d.kill()
            d = try InProcessDaemon(w)
        }
        d.run(seconds: 1)
        d.stop()
        let counters = try #require(d.saved?["counters"] as? [String: Any])
        #expect(counters["lines"] as? Int == written)
        #expect(counters["deliveries"] as? Int == written)
    }

    /// One line dated 2099 neither resolves the open alert nor silences the next storm; a
    /// restart keeps alerting (the checkpoint does not carry the stray date), and the
    /// status counts the outlier.
    @Test func aFutureDatedLineDoesNotSilenceTheDaemon() throws {
        let w = try World()
        let first = try InProcessDaemon(w)
        w.append((0..<12).map { w.line($0, sent: false) })
        first.step()
        w.append(["2099-06-01T10:00:00.000000+00:00 mx1 postfix/smtp[1]: C000000001: to=<x@example.net>, relay=mx.example.net[192.0.2.7]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)\n"])
        w.append((100..<112).map { w.line($0, sent: false, domain: "example.org") })
        first.run(seconds: 2)
        #expect(first.alerts.states == ["open 1", "open 2"])
        #expect(first.status?.lines.timeOutliers == 1)
        first.stop()

        let second = try InProcessDaemon(w)
        w.append((200..<212).map { w.line($0, sent: false, domain: "example.com") })
        second.run(seconds: 1)
        #expect(second.alerts.states == ["open 3"])
    }

    /// SIGHUP with a broken configuration keeps the running one, and says so in the status
    /// (a problem naming the bad setting) and the metrics; a good one afterwards clears
    /// both and takes effect.
    @Test func aFailedReloadShowsInStatusAndMetricsAndAGoodOneClearsIt() throws {
        let w = try World()
        let d = try InProcessDaemon(w)
        try World.text(dir: w.dir, extra: "[alerts]\nwindow = \"forever\"").write(to: w.config, atomically: true, encoding: .utf8)
        d.signals.send(SIGHUP)
        d.run(seconds: 1.1)
        var st = try #require(d.status)
        #expect(st.problems.contains { $0.contains("reload") && $0.contains("window") }, "\(st.problems)")
        #expect(st.prometheusText(topDomains: 10).contains("deferwatch_config_reload_failed 1"))
        try World.text(dir: w.dir, extra: "[alerts.default]\nmin_deferrals = 30").write(to: w.config, atomically: true, encoding: .utf8)
        d.signals.send(SIGHUP)
        d.run(seconds: 1.1)
        st = try #require(d.status)
        #expect(!st.problems.contains { $0.contains("reload") }, "\(st.problems)")
        #expect(st.prometheusText(topDomains: 10).contains("deferwatch_config_reload_failed 0"))
        // The new threshold holds: twelve deferrals no longer alert.
        w.append((0..<12).map { w.line($0, sent: false) })
        d.run(seconds: 1)
        #expect(d.alerts.states.isEmpty)
        d.stop()
    }
}
