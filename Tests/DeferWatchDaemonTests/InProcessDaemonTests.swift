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
        let syslog = w.syslogLines(atLeast: 2)
        #expect(syslog.count == 2 && syslog.last?.contains("alert=resolve") == true, "\(syslog)")
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

    /// A saved state that is valid JSON but hostile (counters and the alert number at the
    /// largest integer, a "now" at the end of time, a fingerprint length of 10^12), or not
    /// JSON at all, is refused with a warning naming the field; it is kept aside, and the
    /// daemon starts afresh and alerts as usual.
    @Test(arguments: [
        ("counters.lines", #"{"files":[],"counters":{"lines":9223372036854775807,"postfixLines":0,"eximLines":0,"otherProgramLines":0,"ownLines":0,"unrecognisedLines":0,"oversizedLines":0,"deliveries":0}}"#),
        ("tracker.nextID", #"{"files":[],"counters":{"lines":0,"postfixLines":0,"eximLines":0,"otherProgramLines":0,"ownLines":0,"unrecognisedLines":0,"oversizedLines":0,"deliveries":0},"tracker":{"alerts":[],"nextID":9223372036854775807,"now":0}}"#),
        ("tracker.now", #"{"files":[],"counters":{"lines":0,"postfixLines":0,"eximLines":0,"otherProgramLines":0,"ownLines":0,"unrecognisedLines":0,"oversizedLines":0,"deliveries":0},"tracker":{"alerts":[],"nextID":1,"now":9223372036854775807}}"#),
        ("fingerprintLength", #"{"files":[{"path":"LOG","device":1,"inode":1,"offset":0,"fingerprint":0,"fingerprintLength":1000000000000}],"counters":{"lines":0,"postfixLines":0,"eximLines":0,"otherProgramLines":0,"ownLines":0,"unrecognisedLines":0,"oversizedLines":0,"deliveries":0}}"#),
        ("files[0].read", #"{"files":[{"path":"LOG","device":1,"inode":1,"offset":0,"fingerprint":0,"fingerprintLength":0,"read":[{"device":1,"inode":2,"fingerprint":0,"fingerprintLength":1000000000000}]}],"counters":{"lines":0,"postfixLines":0,"eximLines":0,"otherProgramLines":0,"ownLines":0,"unrecognisedLines":0,"oversizedLines":0,"deliveries":0}}"#),
        ("not JSON", "{\"files\": [garbage"),
    ])
    func hostileStateIsRefusedAndTheDaemonRuns(_ field: String, _ json: String) throws {
        let w = try World()
        let planted = Data(json.replacingOccurrences(of: "LOG", with: w.log.name).utf8)
        w.store.plant(planted)
        let d = try InProcessDaemon(w)
        w.append((0..<12).map { w.line($0, sent: false) })
        d.run(seconds: 1.1)
        #expect(d.alerts.states == ["open 1"], "it alerts as usual")
        let warning = d.status?.state.warning ?? ""
        #expect(warning.contains("refused"), "\(warning)")
        if field != "not JSON" { #expect(warning.contains(field), "the warning names the field: \(warning)") }
        #expect(w.store.refusedData == planted, "the refused state is kept for a look")
        d.stop()
    }

    /// After a restart the attempt counts by status come back with the line counters, so
    /// the status adds up (they once restarted at zero while the totals survived).
    @Test func attemptCountsSurviveARestartWithTheLineCounters() throws {
        let w = try World()
        let first = try InProcessDaemon(w)
        w.append((0..<30).map { w.line($0, sent: false) } + (30..<70).map { w.line($0, sent: true) })
        first.run(seconds: 0.5)
        first.stop()
        let second = try InProcessDaemon(w)
        second.run(seconds: 1.1)
        let st = try #require(second.status)
        func attempt(_ s: String) -> Int? { st.attemptsByMta.first { $0.mta == "postfix" && $0.status == s }?.count }
        #expect(st.lines.total == 70)
        #expect(attempt("sent") == 40, "\(st.attemptsByMta)")
        #expect(attempt("deferred") == 30, "\(st.attemptsByMta)")
        #expect(st.attempts.sent == 40 && st.attempts.deferred == 30, "\(st.attempts)")
        #expect(st.deferrals.contains { $0.provider == "google" && $0.count == 30 }, "\(st.deferrals)")
        #expect(st.text.contains("sent 40"), "\(st.text)")
        second.stop()
    }

    /// State that cannot be saved (a read-only or full state directory) is reported once,
    /// in syslog and the status, and retried at every checkpoint; alerting goes on, and the
    /// error clears when a save works again.
    @Test func unsavableStateIsReportedOnceAndAlertingGoesOn() throws {
        let w = try World()
        let d = try InProcessDaemon(w)
        w.store.failWrites(with: InputError(path: "memory-state", operation: "cannot write state", errno: EROFS))
        w.append((0..<12).map { w.line($0, sent: false) })
        d.run(seconds: 2) // ten checkpoints
        #expect(d.alerts.states == ["open 1"], "the daemon keeps alerting")
        #expect(d.status?.state.error?.contains("Read-only") == true, "\(d.status?.state.error ?? "no error")")
        let syslog = w.syslogLines(atLeast: 2)
        #expect(syslog.filter { $0.contains("cannot save checkpoints") }.count == 1, "reported once, not at every retry: \(syslog)")
        #expect(syslog.contains { $0.contains("alert=open") })
        w.store.failWrites(with: nil)
        d.run(seconds: 1.1)
        #expect(d.status?.state.error == nil)
        #expect(d.saved?["tracker"] != nil, "saved again")
        d.stop()
    }

    /// Journal entries of other programs count as lines read, as other programs' lines of
    /// a text file do, the same in `run` and in `analyze --journal` (run did not count them,
    /// while /metrics says "log lines and journal entries read").
    @Test(.enabled(if: JournalFile.isAvailable || ProcessInfo.processInfo.environment["CI"] != nil, "systemd-journal-remote is not installed"))
    func journalEntriesOfOtherProgramsCountTheSameInRunAndAnalyze() throws {
        let journalDir = TestPaths.temporaryDirectory("inprocess-journal")
        let t0 = CivilTime.epochSeconds(year: 2026, month: 11, day: 30, hour: 11, minute: 59, second: 0) * 1_000_000
        let mail = (0..<3).map { i in
            JournalFile.Entry(time: t0 + Int64(i) * 1_000_000, host: "mx1", identifier: "postfix/smtp", pid: 100,
                              message: "B00000000\(i): to=<u\(i)@example.org>, relay=mx.example.org[192.0.2.10]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)")
        }
        let other = (0..<2).map { i in
            JournalFile.Entry(time: t0 + Int64(10 + i) * 1_000_000, host: "mx1", identifier: "sshd", pid: 200, message: "Accepted publickey for root")
        }
        try JournalFile.append(mail + other, to: journalDir.appendingPathComponent("remote.journal"))
        let w = try World(extra: "")
        try World.text(dir: w.dir, extra: "").replacingOccurrences(of: "journal = false", with: "journal = true\njournal_directory = \"\(journalDir.path)\"\nlookback = \"3650d\"")
            .write(to: w.config, atomically: true, encoding: .utf8)
        let d = try InProcessDaemon(w, configuredSources: true)
        d.run(seconds: 1.1)
        let lines = try #require(d.status?.lines)
        d.stop()
        let analyzed = try ProcessRunner.deferwatch(["analyze", "--json", "--journal", journalDir.path])
        let report = try JSONSerialization.jsonObject(with: analyzed.stdout) as? [String: Any]
        let counted = report?["lines"] as? [String: Any]
        #expect(lines.total == 5 && lines.otherPrograms == 2, "run: \(lines)")
        #expect(counted?["total"] as? Int == 5 && counted?["other_programs"] as? Int == 2, "analyze: \(counted ?? [:])")
    }
}
