import DeferWatchCore
import DeferWatchTestSupport
import Testing

/// A storm of destinations, each crossing its own thresholds: the number of open alerts is
/// capped, and what goes beyond is one wider alert that says how much it holds.
@Suite struct AlertStormTests {
    typealias Log = TrackerTests.Log

    /// `n` domains of no common provider or relay, each with 4 deferrals of 2 messages.
    static func storm(_ log: inout Log, domains n: Int, from second: Int = 0, cause: Cause = .connectionFailure) {
        for r in 0..<4 {
            for i in 0..<n {
                log.attempt(second + r * 60 + i * 50 / max(1, n), domain: "d\(i).example", cause: cause,
                            queueID: "S\(i)\(r % 2)", text: "connect to mx.d\(i).example[192.0.2.1]:25: Connection refused")
            }
        }
    }

    @Test func aStormOfDomainsBecomesOneWiderAlert() {
        var log = Log()
        var config = TrackerConfig()
        config.maxOpenAlerts = 100
        log.tracker = DeferralTracker(config: config, hints: TrackerTests.hints)
        Self.storm(&log, domains: 1000)
        let open = log.tracker.openAlerts
        #expect(open.count <= 101, "\(open.count) alerts open")
        let wide = open.filter { $0.key.scope == .all }
        #expect(wide.count == 1, "\(log.states.suffix(5))")
        #expect(wide.first?.cause == .connectionFailure)
        #expect((wide.first?.destinations ?? 0) >= 900, "destinations folded into the wider alert: \(wide.first?.destinations ?? 0)")
        #expect(log.tracker.alertsFolded >= 900)
        let opens = log.out.filter { $0.state == .open }
        #expect(opens.count <= 101, "\(opens.count) open transitions")
        // A new cause still alerts on its own destination.
        for i in 0..<6 { log.attempt(400 + i, domain: "gmail.com", cause: .rateLimit, queueID: "G\(i % 3)", relay: "gmail-smtp-in.l.google.com") }
        #expect(log.out.contains { $0.state == .open && $0.alert.cause == .rateLimit })
        // Quiet for long enough: the wider alert resolves like any other.
        log.tick(400 + 6 * 3600)
        #expect(!log.tracker.openAlerts.contains { $0.key.scope == .all })
        #expect(log.out.contains { $0.state == .resolve && $0.alert.key.scope == .all })
    }

    /// Below the cap nothing changes: each destination its own alert.
    @Test func belowTheCapEveryDestinationHasItsAlert() {
        var log = Log()
        Self.storm(&log, domains: 50)
        #expect(log.tracker.openAlerts.count == 50)
        #expect(!log.tracker.openAlerts.contains { $0.key.scope == .all })
    }
}

/// A storm of more destinations than the tracker can hold windows for: each destination's
/// window is dropped before it fills, so none crosses its thresholds. The storm must not
/// be silent: past `maxOpenAlerts` distinct destinations deferring for one cause while
/// windows are being dropped, it is one alert of scope `all`.
@Suite struct StormPastTheKeyBoundTests {
    /// A tracker that can hold windows for 200 keys and 50 open alerts.
    static func pressured() -> TrackerTests.Log {
        var log = TrackerTests.Log()
        var config = TrackerConfig()
        config.maxKeys = 200
        config.maxOpenAlerts = 50
        log.tracker = DeferralTracker(config: config, hints: TrackerTests.hints)
        return log
    }

    @Test func aStormWiderThanTheTrackedKeysStillAlerts() {
        var log = Self.pressured()
        AlertStormTests.storm(&log, domains: 2000)
        let wide = log.tracker.openAlerts.filter { $0.key.scope == .all }
        #expect(wide.count == 1, "\(log.states.suffix(3))")
        #expect((wide.first?.destinations ?? 0) >= 50)
        // Deferrals go on: the wider alert stays, and counts them.
        let before = wide.first?.deferrals ?? 0
        AlertStormTests.storm(&log, domains: 2000, from: 600)
        #expect((log.tracker.openAlerts.first { $0.key.scope == .all }?.deferrals ?? 0) > before)
    }

    /// Under key pressure too, a cause that is a small share of the traffic (a large
    /// sender's full mailboxes across many domains) is no storm.
    @Test func aSmallShareUnderPressureIsNoStorm() {
        var log = Self.pressured()
        for i in 0..<2000 {
            for k in 0..<10 { log.attempt(i / 4 + k, domain: "busy\(i).example", status: .sent) }
            log.attempt(i / 4, domain: "busy\(i).example", cause: .mailbox, text: "452 4.2.2 Mailbox full")
        }
        #expect(!log.tracker.openAlerts.contains { $0.key.scope == .all }, "\(log.states.suffix(3))")
    }

    /// Without key pressure, many destinations deferring once each is no storm.
    @Test func manyDestinationsOnceEachWithoutPressureIsNoStorm() {
        var log = TrackerTests.Log()
        var config = TrackerConfig()
        config.maxOpenAlerts = 50
        log.tracker = DeferralTracker(config: config, hints: TrackerTests.hints)
        for i in 0..<500 { log.attempt(i, domain: "once\(i).example", cause: .connectionFailure) }
        #expect(!log.tracker.openAlerts.contains { $0.key.scope == .all })
    }
}

/// A state saved with 40,000 open alerts (an earlier version had no cap) comes back as at
/// most `maxOpenAlerts`, the most recently active: memory is bounded after a restart too.
@Suite struct RestoreOverTheCapTests {
    @Test func aRestoredStateKeepsAtMostTheCap() {
        var config = TrackerConfig()
        config.maxOpenAlerts = 1_000_000
        var log = TrackerTests.Log()
        log.tracker = DeferralTracker(config: config, hints: TrackerTests.hints)
        AlertStormTests.storm(&log, domains: 4000)
        let saved = log.tracker.snapshot
        #expect(saved.alerts.count == 4000)
        var capped = TrackerConfig()
        capped.maxOpenAlerts = 100
        var t = DeferralTracker(config: capped, hints: TrackerTests.hints)
        t.restore(saved)
        #expect(t.openAlerts.count == 100)
        #expect(t.restoredOverCap == 3900)
        let newest = saved.alerts.map(\.lastSeen).max()!
        #expect(t.openAlerts.allSatisfy { $0.lastSeen >= newest - 60_000_000 })
    }
}
