import DeferWatchCore
import DeferWatchTestSupport
import Foundation
import Testing

/// The deferred queue as the logs show it (QueueBook): which messages still wait on a
/// deferred recipient, their ages and expiry, the at-risk escalation, and the count checked
/// against an independent one made straight from genlog's lines.
@Suite struct QueueTests {
    static func engine(tracker: Bool = false, queue: QueueConfig = QueueConfig()) -> Engine {
        var p = LogPipeline(header: LineHeaderParser(yearHint: 2026, monthHint: 12, zone: FixedOffsetZone(), defaultHost: "mx1"),
                            rules: .builtin())
        p.collectMessages = true
        p.fields = .queue
        let t = tracker ? DeferralTracker(hints: HintBook.builtin(providers: RuleSet.builtin().providers)) : nil
        return Engine(pipeline: p, tracker: t, queue: queue)
    }

    static func feed(_ e: inout Engine, _ text: String) {
        for line in text.split(separator: "\n") {
            var l = String(line)
            l.withUTF8 { e.ingest(line: $0) }
        }
    }

    static func time(_ s: String) -> Int64 {
        var l = "\(s) mx1 postfix/qmgr[1]: X: removed"
        var t: Int64 = 0
        var h = LineHeaderParser(yearHint: 2026, monthHint: 12, zone: FixedOffsetZone(), defaultHost: "mx1")
        l.withUTF8 { t = h.parse($0, defaultHostBuffer: $0)!.time! }
        return t
    }

    static func pfDeferred(_ time: String, _ qid: String, _ rcpt: String, delay: String = "5", text: String = "host mx.example.net[192.0.2.1] said: 452 4.2.2 Mailbox full (in reply to RCPT TO command)") -> String {
        "\(time) mx1 postfix/smtp[7]: \(qid): to=<\(rcpt)>, relay=mx.example.net[192.0.2.1]:25, delay=\(delay), delays=0/0/0/1, dsn=4.2.2, status=deferred (\(text))"
    }

    /// A hand-written Postfix and Exim log, with the queue it leaves worked out by hand.
    @Test func theQueueIsWhatTheLinesLeave() {
        var e = Self.engine()
        Self.feed(&e, """
        2026-12-01T10:00:00Z mx1 postfix/qmgr[9]: A000000001: from=<s@shop.example>, size=100, nrcpt=2 (queue active)
        \(Self.pfDeferred("2026-12-01T10:00:05Z", "A000000001", "a@example.net"))
        \(Self.pfDeferred("2026-12-01T10:00:05Z", "A000000001", "b@example.net"))
        \(Self.pfDeferred("2026-12-01T10:01:00Z", "B000000002", "c@example.net", delay: "60"))
        \(Self.pfDeferred("2026-12-01T10:02:00Z", "C000000003", "d@example.org", delay: "430000.25"))
        \(Self.pfDeferred("2026-12-01T10:03:00Z", "D000000004", "e@example.org"))
        2026-12-01T10:20:00Z mx1 postfix/bounce[3]: B000000002: sender non-delivery notification: F000000009
        2026-12-01T10:20:00Z mx1 postfix/qmgr[9]: B000000002: removed
        2026-12-01T10:30:00Z mx1 postfix/smtp[7]: A000000001: to=<a@example.net>, relay=mx.example.net[192.0.2.1]:25, delay=1805, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 OK)
        2026-12-01T10:31:00Z mx1 postfix/qmgr[9]: D000000004: from=<s@shop.example>, status=expired, returned to sender
        2026-12-01 10:40:00 1xX5rE-000001-AB == x@example.com R=dnslookup T=remote_smtp defer (-45) H=mx.example.com [192.0.2.5]: SMTP error from remote mail server after RCPT TO:<x@example.com>: 451 4.7.1 Greylisted, try again later
        2026-12-01 10:41:00 1xX5rE-000002-AB == y@example.com R=dnslookup T=remote_smtp defer (-45) H=mx.example.com [192.0.2.5]: SMTP error from remote mail server after RCPT TO:<y@example.com>: 451 4.7.1 Greylisted, try again later
        2026-12-01 10:42:00 1xX5rE-000002-AB ** y@example.com R=dnslookup T=remote_smtp: retry timeout exceeded
        2026-12-01 10:42:00 1xX5rE-000002-AB Completed
        """)
        let v = e.queueView(at: Self.time("2026-12-01T11:00:00Z"), QueueBook.ViewOptions(ids: true))!
        // A (b@ still deferred), C, and the first Exim message.
        #expect(v.messages == 3)
        #expect(v.recipients == 3)
        #expect(v.list?.map(\.queueId) == ["C000000003", "1xX5rE-000001-AB", "A000000001"])
        // Ages: A arrived at 10:00:00 (5 s before its first deferral): 60 min at 11:00.
        // C's delay= says it arrived 430000.25 s before 10:02; the Exim id says 2026-11-28.
        #expect(v.list?.first { $0.queueId == "A000000001" }?.arrival == Self.time("2026-12-01T10:00:00Z") / 1_000_000)
        #expect(v.list?.first { $0.queueId == "C000000003" }?.arrival == (Self.time("2026-12-01T10:02:00Z") - 430_000_250_000) / 1_000_000)
        #expect(v.list?.first { $0.queueId == "1xX5rE-000001-AB" }?.arrival == Self.time("2026-11-28T00:00:00Z") / 1_000_000)
        #expect(v.ages[QueueView.bucket(ageSeconds: 3600)] == 1)
        #expect(QueueView.bucket(ageSeconds: 3600) == 4)
        #expect(v.ages[10] == 1) // Exim's: 3d11h, in 2-4 days
        #expect(v.ages[11] == 1) // C: over 4 days
        // C expires 5 days after it arrived, the Exim message 4 days after: both within a day.
        #expect(v.atRisk == 2)
        // C: 430000.25 s old at 10:02, so 433480 s at 11:00, and 1480 s past its 5 days.
        #expect(v.oldestAge == Int64(433_480), "\(String(describing: v.oldestAge))")
        #expect(v.expiresIn == Int64(-1480))
        let net = v.rows.filter { $0.scope == .domain && $0.name == "example.net" }
        #expect(net.map(\.messages) == [1])
        #expect(net.first?.cause == .mailbox)
        #expect(net.first?.oldestAge == 3600)
        #expect(v.rows.filter { $0.scope == .domain }.map(\.name).sorted() == ["example.com", "example.net", "example.org"])
        // --destination: one domain's rows and messages only.
        let only = e.queueView(at: Self.time("2026-12-01T11:00:00Z"), QueueBook.ViewOptions(destination: "EXAMPLE.ORG", ids: true))!
        #expect(only.messages == 1)
        #expect(only.list?.map(\.queueId) == ["C000000003"])
        #expect(only.rows.allSatisfy { $0.name == "example.org" })
        // The text names the totals and the destinations.
        let text = v.text()
        #expect(text.contains("3 messages (3 recipients) deferred; oldest 5d00h, overdue by 24m"), "\(text)")
        #expect(text.contains("2 messages are within 1d00h of expiring"), "\(text)")
        #expect(text.contains("example.net"))
    }

    /// Messages with no attempt for `forget_after` go (their removal was lost); past
    /// `max_messages` new ones are not followed, and say so.
    @Test func theQueueIsBounded() {
        var c = QueueConfig()
        c.maxMessages = 100
        var e = Self.engine(queue: c)
        var lines: [String] = []
        for i in 0..<150 { lines.append(Self.pfDeferred("2026-12-01T10:00:\(String(format: "%02d", i % 60))Z", String(format: "Q%09d", i), "u\(i)@example.net")) }
        Self.feed(&e, lines.joined(separator: "\n"))
        #expect(e.queue?.count == 100)
        #expect(e.queue?.dropped == 50)
        // A day and more later, one line: the sweep forgets the silent ones.
        Self.feed(&e, Self.pfDeferred("2026-12-02T11:00:00Z", "R000000001", "z@example.org"))
        #expect(e.queue?.count == 1)
        #expect(e.queue?.forgotten == 100)
    }

    /// An open alert becomes critical when a message of its destination comes within
    /// `at_risk_before` of expiring, and says how many.
    @Test func mailCloseToExpiringEscalatesTheAlert() {
        var e = Self.engine(tracker: true)
        let text = "host mx.example.net[192.0.2.1] said: 421 4.7.0 Try again later, closing connection. (in reply to MAIL FROM command)"
        var lines: [String] = []
        for i in 0..<6 { lines.append(Self.pfDeferred("2026-12-01T10:00:1\(i)Z", "M00000000\(i)", "u\(i)@example.net", text: text)) }
        Self.feed(&e, lines.joined(separator: "\n"))
        let opened = e.takeTransitions()
        #expect(opened.map(\.state) == [.open])
        #expect(opened.first?.severity != .critical)
        // A message 4d2h old: 22 h before Postfix's 5 days are up.
        Self.feed(&e, Self.pfDeferred("2026-12-01T10:01:00Z", "M000000009", "old@example.net", delay: "352800", text: text))
        let t = e.takeTransitions()
        #expect(t.map(\.state) == [.escalate])
        #expect(t.first?.severity == .critical)
        #expect(t.first?.alert.atRisk == 1)
        #expect(t.first?.logLine(checks: nil).contains("at_risk=1") == true, "\(t.first?.logLine(checks: nil) ?? "")")
        #expect(t.first?.summary.contains("1 message is close to expiring") == true, "\(t.first?.summary ?? "")")
        // The same message again is not counted twice; another one is, without a new line.
        Self.feed(&e, Self.pfDeferred("2026-12-01T10:02:00Z", "M000000009", "old@example.net", delay: "352860", text: text))
        Self.feed(&e, Self.pfDeferred("2026-12-01T10:02:00Z", "M000000010", "old2@example.net", delay: "352860", text: text))
        #expect(e.takeTransitions().isEmpty)
        #expect(e.tracker.openAlerts.first?.atRisk == 2)
    }

    /// The count against one made independently from the lines, with plain string
    /// splitting: every message whose last line for some recipient says deferred, and no
    /// `removed`, `Completed` or whole-message expiry after.
    @Test(.enabled(if: TestPaths.genlog != nil, "../shared/bench/genlog.py is not present"),
          arguments: ["postfix", "exim"])
    func theQueueEqualsAnIndependentCount(format: String) throws {
        let dir = TestPaths.temporaryDirectory("queue-\(format)")
        let log = dir.appendingPathComponent("mail.log")
        let g = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/python3"),
                                      [TestPaths.genlog!.path, "--format", format, "--lines", "60000", "--seed", "31",
                                       "--timestamps", format == "exim" ? "exim" : "rfc3339", "--out", log.path])
        #expect(g.status == 0, "\(g.stderr)")
        let text = try String(contentsOf: log, encoding: .utf8)
        var e = Self.engine()
        Self.feed(&e, text)
        var o = QueueBook.ViewOptions(limit: 100_000, ids: true)
        o.idLimit = 1_000_000
        let v = e.queueView(at: nil, o)!

        var rcpts: [String: [String: Bool]] = [:] // message -> recipient -> deferred
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            if format == "postfix" {
                guard f.count > 4, f[2].hasPrefix("postfix/") else { continue }
                let qid = String(f[3].dropLast())
                let key = "\(f[1]) \(qid)"
                if f.count == 5, f[4] == "removed" { rcpts[key] = nil; continue }
                if f[4].hasPrefix("from=<"), line.contains("status=expired") { rcpts[key] = nil; continue }
                guard f[4].hasPrefix("to=<"), let st = f.first(where: { $0.hasPrefix("status=") }) else { continue }
                let rcpt = String(f[4].dropFirst(4).prefix { $0 != ">" })
                if st.hasPrefix("status=deferred") { rcpts[key, default: [:]][rcpt] = true } else if rcpts[key] != nil { rcpts[key]![rcpt] = false }
            } else {
                // 2026-11-28 00:00:00 [pid] ID FLAG ADDRESS ...
                guard let i = f.firstIndex(where: { $0.count >= 16 && $0.count <= 23 && $0.dropFirst(6).first == "-" }), i + 1 < f.count else { continue }
                let key = "mx1 \(f[i])"
                if f[i + 1] == "Completed" { rcpts[key] = nil; continue }
                guard i + 2 < f.count else { continue }
                switch f[i + 1] {
                case "==": rcpts[key, default: [:]][f[i + 2]] = true
                case "=>", "->", "**", ">>": if rcpts[key] != nil { rcpts[key]![f[i + 2]] = false }
                default: break
                }
            }
        }
        let expected = Set(rcpts.filter { $0.value.values.contains(true) }.keys)
        let got = Set((v.list ?? []).map { "\($0.host) \($0.queueId)" })
        #expect(v.listTruncated == false)
        #expect(expected.count > 10, "the log has too few deferred messages to be a test")
        #expect(got == expected, "only ours: \(got.subtracting(expected).sorted().prefix(5)); only the count's: \(expected.subtracting(got).sorted().prefix(5))")
        #expect(v.messages == expected.count)
        // Per domain: the messages with a deferred recipient there.
        var perDomain: [String: Int] = [:]
        for (_, r) in rcpts {
            for d in Set(r.filter(\.value).keys.compactMap { $0.split(separator: "@").last.map { $0.lowercased() } }) { perDomain[d, default: 0] += 1 }
        }
        var ours: [String: Int] = [:]
        for m in v.list ?? [] { for d in m.domains { ours[d, default: 0] += 1 } }
        #expect(ours == perDomain)
        // A short listing is the oldest of the whole one, in its order, however the view
        // keeps its candidates short while it walks the book.
        for limit in [1, 7, 100] where expected.count > limit {
            var short = o
            short.idLimit = limit
            let s = e.queueView(at: nil, short)!
            #expect(s.list == Array((v.list ?? []).prefix(limit)), "idLimit \(limit)")
            #expect(s.listTruncated == true)
        }
    }

    /// A queue saved by a version whose recipient keys were the whole 64-bit hash is taken
    /// back with keys that still match the recipients' next lines.
    @Test func aQueueSavedWithWideKeysStillMatchesItsRecipients() {
        var e = Self.engine()
        Self.feed(&e, Self.pfDeferred("2026-12-01T10:00:05Z", "A000000001", "a@example.net") + "\n"
                  + Self.pfDeferred("2026-12-01T10:00:05Z", "A000000001", "b@example.net"))
        var saved = e.queue!.snapshot
        #expect(saved.recipientKeys.count == 2)
        // What the earlier version saved: FNV-1a of the address, 64 bits.
        saved.recipientKeys = ["a@example.net", "b@example.net"].map { r in
            var h: UInt64 = 0xcbf2_9ce4_8422_2325
            for b in r.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
            return Int(bitPattern: UInt(h))
        }
        var f = Self.engine()
        f.restore(queue: saved)
        #expect(f.queueView(at: nil)!.recipients == 2)
        Self.feed(&f, "2026-12-01T10:30:00Z mx1 postfix/smtp[7]: A000000001: to=<a@example.net>, relay=mx.example.net[192.0.2.1]:25, delay=1805, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 OK)")
        #expect(f.queueView(at: nil)!.recipients == 1)
        Self.feed(&f, "2026-12-01T10:31:00Z mx1 postfix/smtp[7]: A000000001: to=<b@example.net>, relay=mx.example.net[192.0.2.1]:25, delay=1865, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 OK)")
        #expect(f.queueView(at: nil)!.messages == 0)
    }

    /// Messages coming and going in a scrambled order, many more than the index's first
    /// tables hold (so it grows, and entries shift back over removed ones): the book holds
    /// exactly the messages a plain set of the lines says, and finds each one again.
    @Test func churnLeavesExactlyTheMessagesStillDeferred() {
        var e = Self.engine()
        var rng = SplitMix(seed: 0x5eed)
        var held = Set<String>()
        var ids: [String] = []
        var lines: [String] = []
        for step in 0..<40_000 {
            let time = "2026-12-01T10:\(10 + step / 1000):00Z"
            if held.isEmpty || rng.next() % 3 != 0 {
                let id = String(format: "%011X", rng.next() % 30_000)
                lines.append(Self.pfDeferred(time, id, "u@example.net"))
                if held.insert(id).inserted { ids.append(id) }
            } else {
                let id = ids[Int(rng.next() % UInt64(ids.count))]
                lines.append("\(time) mx1 postfix/qmgr[9]: \(id): removed")
                held.remove(id)
            }
            if step % 5_000 == 4_999 {
                Self.feed(&e, lines.joined(separator: "\n"))
                lines.removeAll()
                #expect(e.queue!.count == held.count, "after \(step + 1) lines")
            }
        }
        #expect(Set(e.queue!.snapshot.queueIDs) == held)
        // Each held message is found again: a delivery of every one empties the book.
        Self.feed(&e, held.map { "2026-12-01T11:00:00Z mx1 postfix/smtp[7]: \($0): to=<u@example.net>, relay=mx.example.net[192.0.2.1]:25, delay=5, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 OK)" }.joined(separator: "\n"))
        #expect(e.queue!.count == 0)
    }

    struct SplitMix {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test func durationsTooLongAreAnErrorNotATrap() {
        for text in ["[alerts]\nwindow = \"999999999999999d\"", "[queue]\nat_risk_before = 9223372036854775807",
                     "[queue]\npostfix_lifetime = \"99999999999999999h\"", "[alerts]\nremind_every = \"9223372036854775ms\""] {
            do {
                _ = try DeferWatchConfig.parse(name: "t.toml", text: text)
                Issue.record("accepted: \(text)")
            } catch {
                #expect(error.description.contains("t.toml:2"), "\(error.description)")
            }
        }
    }
}
