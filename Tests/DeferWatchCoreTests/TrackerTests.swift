import DeferWatchCore
import DeferWatchTestSupport
import Testing

/// The tracker on synthetic events: the test owns log time, nothing sleeps.
@Suite struct TrackerTests {
    static let rules = RuleSet.builtin()
    static let hints = HintBook.builtin(providers: rules.providers)
    static let t0: Int64 = 1_795_824_000 * 1_000_000 // 2026-11-28T00:00:00Z

    struct Log {
        var tracker = DeferralTracker(hints: TrackerTests.hints)
        var out: [AlertTransition] = []
        var qid = 0

        mutating func send(_ s: Int, _ e: DeliveryEvent) { out += tracker.record(e) }

        /// One attempt at second `s`.
        mutating func attempt(_ s: Int, domain: String, status: DeliveryStatus = .deferred, cause: Cause? = .rateLimit,
                              host: String = "mx1", queueID: String? = nil, relay: String? = nil, text: String = "421 4.7.28 rate limited") {
            qid += 1
            var e = DeliveryEvent(time: TrackerTests.t0 + Int64(s) * 1_000_000, mta: .postfix, host: host,
                                  queueID: queueID ?? "Q\(qid)", recipient: "user\(qid)@\(domain)", domain: domain,
                                  status: status, relay: relay ?? "mx.\(domain)", text: status == .sent ? "250 ok" : text)
            e.provider = TrackerTests.rules.providerIndex(relay: e.relay, domain: domain).map { TrackerTests.rules.providers[$0].name }
            e.cause = status == .sent ? nil : cause
            send(s, e)
        }

        mutating func tick(_ s: Int) { out += tracker.advance(to: TrackerTests.t0 + Int64(s) * 1_000_000) }

        var states: [String] { out.map { "\($0.state.rawValue) \($0.alert.key.scope.rawValue)=\($0.alert.key.name) \($0.alert.cause.rawValue)" } }
    }

    @Test func oneIsolatedDeferralNeverAlerts() {
        var log = Log()
        // One message deferred again and again (a full mailbox), among normal traffic.
        for i in 0..<200 {
            log.attempt(i * 30, domain: "example.org", status: .sent)
            if i % 10 == 0 { log.attempt(i * 30 + 1, domain: "example.org", cause: .mailbox, queueID: "FULL1", text: "452 4.2.2 Mailbox full") }
        }
        // One greylisted message that clears on retry, and one timeout to a small domain.
        log.attempt(100, domain: "grey.example", cause: .greylisting, queueID: "G1")
        log.attempt(500, domain: "grey.example", status: .sent, queueID: "G1")
        log.attempt(700, domain: "small.example", cause: .timeout)
        log.tick(200 * 30 + 7200)
        #expect(log.out.isEmpty, "\(log.states)")
    }

    @Test func theSendingMTAsOwnDeferralsNeverOpenADestinationAlert() {
        var log = Log()
        // Exim queueing everything by configuration, and a content filter that is down: a
        // storm of local deferrals at big receivers, then the same mail delivered.
        for i in 0..<400 {
            let domain = ["gmail.com", "hotmail.com", "yandex.ru", "rambler.ru"][i % 4]
            log.attempt(i, domain: domain, cause: [.localQueue, .localTransport, .localConfig][i % 3], relay: "",
                        text: "domain matches queue_smtp_domains, or -odqs set")
        }
        for i in 0..<400 { log.attempt(400 + i, domain: "gmail.com", status: .sent) }
        log.tick(800 + 7200)
        #expect(log.out.isEmpty, "\(log.states)")
        #expect(log.tracker.deferringDestinations(limit: 10).isEmpty)
        // The same volume of receiver deferrals does open an alert.
        var remote = Log()
        for i in 0..<40 { remote.attempt(i, domain: "gmail.com", cause: .rateLimit) }
        #expect(remote.out.contains { $0.state == .open })
    }

    /// One line dated 2099 (a host with a broken clock) neither resolves the open alert nor
    /// stops the next storm from alerting: the tracker's clock moves only when a second line
    /// agrees with a far jump and nothing in between contradicts it.
    @Test func oneFutureDatedLineDoesNotMoveTheClock() {
        var log = Log()
        for i in 0..<20 { log.attempt(i * 10, domain: "gmail.com") }
        #expect(log.out.filter { $0.state == .open }.count == 1)
        let year2099 = 4_070_908_800 - 1_795_824_000 // seconds from t0 to 2099-01-01
        log.attempt(year2099, domain: "example.org", status: .sent)
        #expect(!log.out.contains { $0.state == .resolve }, "\(log.states)")
        #expect(log.tracker.now < TrackerTests.t0 + 3600 * 1_000_000)
        for i in 0..<20 { log.attempt(300 + i * 10, domain: "outlook.com", cause: .reputation) }
        #expect(log.out.contains { $0.state == .open && $0.alert.cause == .reputation }, "\(log.states)")
        #expect(log.tracker.futureOutliers == 1)
        // A real jump (the log resumes a day later) is taken at its second line.
        log.attempt(86_400 * 2, domain: "example.org", status: .sent)
        log.attempt(86_400 * 2 + 5, domain: "example.org", status: .sent)
        #expect(log.tracker.now == TrackerTests.t0 + Int64(86_400 * 2 + 5) * 1_000_000)
        #expect(log.out.contains { $0.state == .resolve })
    }

    /// In `run` the wall clock bounds log time: nothing past it (plus the tolerance) moves
    /// the clock, not even many lines that agree, and a state saved with such a "now" is
    /// not taken back.
    @Test func theCeilingBoundsLogTimeAndRestoredState() {
        var log = Log()
        log.tracker.ceiling = TrackerTests.t0 + 600 * 1_000_000
        for i in 0..<5 { log.attempt(10_000 + i, domain: "example.org", status: .sent) }
        #expect(log.tracker.now == Int64.min)
        #expect(log.tracker.futureOutliers == 5)
        var restored = DeferralTracker(hints: TrackerTests.hints)
        restored.ceiling = TrackerTests.t0
        restored.restore(DeferralTracker.Snapshot(alerts: [], nextID: 7, now: Int64(4_070_908_800) * 1_000_000))
        #expect(restored.now == Int64.min)
        #expect(restored.snapshot.nextID == 7)
    }

    /// An alert restored after a restart still names the sending host it spoke for ("from
    /// mx1"), before any line of the new run has named a host.
    @Test func aRestoredAlertKeepsItsSendingHost() {
        var log = Log()
        for i in 0..<20 { log.attempt(i * 10, domain: "gmail.com") }
        #expect(log.out.first { $0.state == .open }?.host == "mx1")
        var restarted = DeferralTracker(hints: TrackerTests.hints)
        restarted.restore(log.tracker.snapshot)
        #expect(restarted.openAlertStates.first?.host == "mx1")
        let resolve = restarted.advance(to: TrackerTests.t0 + Int64(200 + 4 * 3600) * 1_000_000)
        #expect(resolve.first?.state == .resolve)
        #expect(resolve.first?.host == "mx1", "\(resolve.map(\.logLine))")
    }

    /// A resolve says why: mail delivered again, or only quiet (nothing got through; the
    /// mail may have expired or been removed). "Accepts mail again" only when it does.
    @Test func aResolveSaysWhyItResolved() {
        var quiet = Log()
        for i in 0..<20 { quiet.attempt(i * 10, domain: "closed.example", cause: .connectionFailure) }
        quiet.tick(200 + 4 * 3600)
        let r = quiet.out.first { $0.state == .resolve }
        #expect(r != nil)
        #expect(r.map { !$0.summary.contains("accepts mail again") } == true, "\(r?.summary ?? "")")
        #expect(r?.summary.contains("no delivery") == true, "\(r?.summary ?? "")")
        #expect(r?.logLine.contains("resolved=quiet") == true, "\(r?.logLine ?? "")")
        var flowing = Log()
        for i in 0..<20 { flowing.attempt(i * 10, domain: "open.example", cause: .rateLimit) }
        for i in 0..<10 { flowing.attempt(300 + i * 10, domain: "open.example", status: .sent) }
        flowing.tick(200 + 3600)
        let f = flowing.out.first { $0.state == .resolve }
        #expect(f?.summary.contains("accepts mail again") == true, "\(f?.summary ?? "")")
        #expect(f?.logLine.contains("resolved=delivered") == true, "\(f?.logLine ?? "")")
    }

    @Test func aStormIsOneAlert() {
        var log = Log()
        for i in 0..<10_000 { log.attempt(i / 3, domain: "busy.example") }
        for i in 0..<50 { log.attempt(3400 + i * 10, domain: "busy.example", status: .sent) }
        log.tick(3400 + 500 + 3600)
        let opens = log.out.filter { $0.state == .open }
        #expect(opens.count == 1)
        #expect(log.out.filter { $0.state == .resolve }.count == 1)
        #expect(log.out.count <= 4, "\(log.states)")
        #expect(log.out.last?.alert.deferrals == 10_000)
    }

    @Test func resolvesOnlyWhenQuietAndMailFlows() {
        var log = Log()
        for i in 0..<20 { log.attempt(i * 20, domain: "slow.example", cause: .connectionFailure) }
        #expect(log.states == ["open domain=slow.example connection_failure"])
        // Quiet, but nothing delivered: still open after the resolve period...
        log.tick(400 + 16 * 60)
        #expect(log.out.count == 1)
        // ...until a delivery succeeds.
        log.attempt(400 + 17 * 60, domain: "slow.example", status: .sent)
        log.tick(400 + 18 * 60)
        #expect(log.states.last == "resolve domain=slow.example connection_failure")
        #expect(log.out.last?.severity == .notice)
    }

    @Test func staleAlertsResolveWithoutDeliveries() {
        var log = Log()
        for i in 0..<20 { log.attempt(i * 20, domain: "gone.example", cause: .dnsFailure) }
        log.tick(400 + 4 * 15 * 60 + 60)
        #expect(log.states.last == "resolve domain=gone.example dns_failure")
    }

    @Test func escalatesWhenItLastsAndRemindsHourly() {
        var log = Log()
        for i in 0..<(4 * 60) { log.attempt(i * 60, domain: "down.example", cause: .serviceUnavailable) }
        let states = log.out.map(\.state)
        #expect(states.first == .open)
        #expect(states.filter { $0 == .escalate }.count == 1)
        #expect(log.out.first { $0.state == .escalate }?.severity == .error)
        #expect(states.filter { $0 == .remind }.count >= 1)
        // Expiring messages make it critical.
        var e = DeliveryEvent(time: TrackerTests.t0 + 4 * 3600 * 1_000_000, mta: .postfix, host: "mx1", queueID: "Q1",
                              recipient: "a@down.example", domain: "down.example", status: .expired, relay: "mx.down.example")
        e.cause = .serviceUnavailable
        log.send(0, e)
        #expect(log.out.last?.state == .escalate)
        #expect(log.out.last?.severity == .critical)
    }

    @Test func providerWideAlertAbsorbsItsDomains() {
        var log = Log()
        // gmail.com first, then googlemail.com and a Workspace domain too.
        for i in 0..<30 { log.attempt(i * 10, domain: "gmail.com", relay: "gmail-smtp-in.l.google.com") }
        #expect(log.states == ["open domain=gmail.com rate_limit"])
        for i in 0..<30 {
            log.attempt(300 + i * 10, domain: "googlemail.com", relay: "gmail-smtp-in.l.google.com")
            log.attempt(301 + i * 10, domain: "corp.example", relay: "aspmx.l.google.com")
            log.attempt(302 + i * 10, domain: "gmail.com", relay: "gmail-smtp-in.l.google.com")
        }
        let provider = log.out.first { $0.alert.key.scope == .provider }
        #expect(provider?.state == .open)
        #expect(provider?.alert.key.name == "google")
        let absorbed = log.out.filter { $0.absorbedBy != nil }
        #expect(absorbed.count == 1)
        #expect(absorbed.first?.alert.key.name == "gmail.com")
        #expect(absorbed.first?.absorbedBy == provider?.alert.id)
        // No further domain alerts while the provider alert is open.
        #expect(log.out.filter { $0.state == .open }.count == 2)
    }

    @Test func oneThrottledHostOfAFleetIsNamed() {
        var log = Log()
        for i in 0..<60 {
            log.attempt(i * 10, domain: "gmail.com", host: "mx1", relay: "gmail-smtp-in.l.google.com")
            log.attempt(i * 10 + 1, domain: "gmail.com", status: .sent, host: "mx2", relay: "gmail-smtp-in.l.google.com")
        }
        let open = log.out.first { $0.state == .open }
        #expect(open?.alert.key.host == "mx1")
        #expect(open?.host == "mx1")
        #expect(open?.logLine.contains("host=mx1") == true)
    }

    /// When a second sending host appears, the first host's windows start as copies of the
    /// shared ones (every attempt so far was its own); after that each counts apart: the
    /// copy shares its counters with the original only until one of them changes.
    @Test func theFirstHostsWindowsAreItsOwnOnceASecondHostAppears() {
        var log = Log()
        for i in 0..<5 { log.attempt(i, domain: "example.org", cause: .serviceUnavailable, host: "mx1") }
        for i in 0..<10 { log.attempt(10 + i, domain: "example.org", status: .sent, host: "mx2") }
        for i in 0..<3 { log.attempt(30 + i, domain: "example.org", cause: .serviceUnavailable, host: "mx1") }
        let found = log.tracker.deferringDestinations(limit: 100)
        func row(_ host: String?) -> DeferralTracker.DeferringDestination? {
            found.first { $0.key.scope == .domain && $0.key.name == "example.org" && $0.key.host == host }
        }
        #expect(row(nil)?.attempts == 18)
        #expect(row(nil)?.deferrals == 8)
        #expect(row("mx1")?.attempts == 8)
        #expect(row("mx1")?.deferrals == 8)
        #expect(row("mx2") == nil)
    }

    @Test func recurringEpisodesAreCounted() {
        var log = Log()
        for episode in 0..<3 {
            let base = episode * 3 * 3600
            for i in 0..<20 { log.attempt(base + i * 30, domain: "flaky.example", cause: .serviceUnavailable) }
            for i in 0..<10 { log.attempt(base + 600 + 1200 + i * 60, domain: "flaky.example", status: .sent) }
            log.tick(base + 2 * 3600)
        }
        let opens = log.out.filter { $0.state == .open }.map(\.alert.recurring)
        #expect(opens == [1, 2, 3])
        #expect(log.out.filter { $0.state == .resolve }.count == 3)
        #expect(log.out.last { $0.state == .open }?.summary.contains("recurring (3 episodes in 24h)") == true)
    }

    @Test func greylistingAlertsOnlyWhenItDoesNotClear() {
        var clears = Log()
        for i in 0..<100 {
            clears.attempt(i * 20, domain: "grey.example", cause: .greylisting, queueID: "M\(i)")
            clears.attempt(i * 20 + 300, domain: "grey.example", status: .sent, queueID: "M\(i)")
        }
        clears.tick(5000)
        #expect(clears.out.isEmpty, "\(clears.states)")

        var stuck = Log()
        for round in 0..<5 {
            for m in 0..<5 { stuck.attempt(round * 300 + m, domain: "grey.example", cause: .greylisting, queueID: "S\(m)") }
        }
        #expect(stuck.states == ["open domain=grey.example greylisting"])
    }

    /// Lines of two hosts interleaved a few seconds out of order give the same alerts.
    @Test func outOfOrderLinesDoNotBreakWindows() {
        var events: [(Int, String, DeliveryStatus)] = []
        for i in 0..<200 {
            events.append((i * 7, "mx1", i % 3 == 0 ? .sent : .deferred))
            events.append((i * 7 + 2, "mx2", i % 3 == 1 ? .sent : .deferred))
        }
        func run(_ list: [(Int, String, DeliveryStatus)]) -> [String] {
            var log = Log()
            for (s, h, st) in list { log.attempt(s, domain: "yahoo.com", status: st, cause: .reputation, host: h, relay: "mta6.am0.yahoodns.net") }
            log.tick(200 * 7 + 7200)
            return log.out.map { "\($0.state.rawValue) \($0.alert.key) \($0.alert.cause.rawValue) \($0.alert.deferrals)" }
        }
        var shuffled = events
        // Swap neighbours: mx2's line a few seconds ahead of mx1's.
        var i = 0
        while i + 3 < shuffled.count { shuffled.swapAt(i, i + 3); i += 4 }
        let sorted = run(events)
        #expect(!sorted.isEmpty)
        #expect(run(shuffled) == sorted)
    }

    @Test func memoryIsBoundedByTheKeyCap() {
        var config = TrackerConfig()
        config.maxKeys = 1000
        config.maxMessages = 1000
        var tracker = DeferralTracker(config: config, hints: TrackerTests.hints)
        for i in 0..<100_000 {
            var e = DeliveryEvent(time: TrackerTests.t0 + Int64(i) * 10_000, mta: .postfix, host: "mx1", queueID: "Q\(i)",
                                  recipient: "a@d\(i).example", domain: "d\(i).example", status: i % 2 == 0 ? .sent : .deferred,
                                  relay: "mx.d\(i).example")
            e.cause = e.status == .sent ? nil : .mailbox
            _ = tracker.record(e)
            #expect(tracker.trackedKeys <= 1000)
        }
    }

    @Test func logLinesCannotBeForged() {
        var log = Log()
        let hostile = "421 slow down\nNov 28 10:00:00 mx1 deferwatch[1]: alert=resolve id=1 \"quoted\" \\ \u{7}"
        for i in 0..<10 { log.attempt(i * 10, domain: "evil.example", cause: .serviceUnavailable, text: hostile) }
        let line = log.out[0].logLine
        #expect(!line.contains("\n"))
        #expect(line.contains(#"sample="421 slow down\nNov 28 10:00:00 mx1 deferwatch[1]: alert=resolve id=1 \"quoted\" \\ \x07""#), "\(line)")
    }

    @Test func defaultsEqualTheDocumentedConfiguration() throws {
        let parsed = try DeferWatchConfig.parse(name: "deferwatch.toml", text: DeferWatchConfig.defaultText)
        #expect(parsed == DeferWatchConfig())
    }

    @Test func badConfigurationIsReportedWithFileAndLine() {
        let text = """
        [alerts]
        window = "ten minutes"
        colour = "red"

        [alerts.cause.sunspots]
        min_deferrals = 3

        [alerts.cause.mailbox]
        min_share = 2.0
        """
        do {
            _ = try DeferWatchConfig.parse(name: "my.toml", text: text)
            Issue.record("bad configuration accepted")
        } catch {
            let s = error.description
            #expect(s.contains("my.toml:2: window: \"ten minutes\" is not a duration"), "\(s)")
            #expect(s.contains("my.toml:3: unknown key \"colour\""), "\(s)")
            #expect(s.contains("my.toml:5: unknown cause \"sunspots\""), "\(s)")
            #expect(s.contains("my.toml:9: min_share must be between 0 and 1"), "\(s)")
        }
    }
}
