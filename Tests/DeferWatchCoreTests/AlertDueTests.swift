import DeferWatchCore
import DeferWatchTestSupport
import Testing

/// The periodic check (resolve, escalate, remind) looks only at the alerts that may be due:
/// with thousands of alerts open, a minute of log time costs what the alerts that change
/// cost, not a walk over every open alert (issue 13, item 9).
@Suite struct AlertDueTests {
    typealias Log = TrackerTests.Log

    static func manyOpen(_ n: Int) -> Log {
        var log = Log()
        var config = TrackerConfig()
        config.maxOpenAlerts = 100_000
        log.tracker = DeferralTracker(config: config, hints: TrackerTests.hints)
        AlertStormTests.storm(&log, domains: n)
        return log
    }

    @Test func aMinuteOfLogTimeDoesNotWalkEveryOpenAlert() {
        var log = Self.manyOpen(2000)
        #expect(log.tracker.openAlerts.count == 2000)
        // Ten minutes of traffic to other destinations: no alert is due to resolve (15
        // minutes of quiet), escalate (an hour) or be reminded of (an hour).
        let before = log.tracker.alertsExamined
        for s in 300..<900 { log.attempt(s, domain: "fine\(s % 7).example", status: .sent) }
        let examined = log.tracker.alertsExamined - before
        // Before the due queue: 2,000 alerts at each of the 10 minute ticks, 20,000.
        #expect(examined < 200, "\(examined) alerts examined over 10 ticks with 2,000 open")
        #expect(log.out.filter { $0.state != .open }.isEmpty, "\(log.states.suffix(3))")
        // When they are due, they resolve all the same.
        log.tick(300 + 3 * 3600)
        #expect(log.tracker.openAlerts.isEmpty)
        #expect(log.out.filter { $0.state == .resolve }.count == 2000)
    }

    /// Random traffic with alerts opening, escalating, being reminded of and resolving:
    /// looking only at due alerts gives the same transitions, in the same order, as looking
    /// at every open alert. The seed is printed, and DEFERWATCH_SEED replays it.
    @Test func lookingOnlyAtDueAlertsChangesNothing() {
        let seed = TestSeed.value(default: 20261201)
        var rng = SeededRandom(seed)
        var a = Log(), b = Log()
        b.tracker.examineEveryAlert = true
        let causes: [Cause] = [.rateLimit, .connectionFailure, .timeout, .mailbox]
        // Destinations fall sick (a cause, until a time: ten minutes to four hours, so
        // alerts open, escalate, are reminded of and resolve) and heal again.
        var sick: [Int: (cause: Cause, until: Int)] = [:]
        var s = 0
        for _ in 0..<30_000 {
            s += Int(rng.next() % 20) + 1
            if rng.next() % 300 == 0 { s += Int(rng.next() % 5400) }
            sick = sick.filter { $0.value.until > s }
            if sick.count < 12 && rng.next() % 50 == 0 {
                sick[Int(rng.next() % 40)] = (causes[Int(rng.next() % 4)], s + 600 + Int(rng.next() % 14_400))
            }
            let d = Int(rng.next() % 40)
            let q = "Q\(d)-\(rng.next() % 8)"
            for log in [0, 1] {
                if let (cause, _) = sick[d] {
                    if log == 0 { a.attempt(s, domain: "d\(d).example", cause: cause, queueID: q) }
                    else { b.attempt(s, domain: "d\(d).example", cause: cause, queueID: q) }
                } else {
                    if log == 0 { a.attempt(s, domain: "d\(d).example", status: .sent, queueID: q) }
                    else { b.attempt(s, domain: "d\(d).example", status: .sent, queueID: q) }
                }
            }
        }
        a.tick(s + 86_400)
        b.tick(s + 86_400)
        #expect(a.out.count > 100, "seed \(seed): too few transitions to say anything (\(a.out.count))")
        #expect(Set(a.out.map(\.state)).count == 4, "seed \(seed): \(Set(a.out.map(\.state)))")
        #expect(a.out == b.out, "seed \(seed): the transitions differ")
        #expect(a.tracker.alertsExamined < b.tracker.alertsExamined)
    }
}
